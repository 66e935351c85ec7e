"""The catalogue (issue 15, deliverable 3): OGC API – Records at /records, HTML, ISO 19139 per record."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from lxml import etree
from owslib.ogcapi.records import Records

from api.web.records import record_page, search_page
from layers.iso19139 import iso_metadata
from layers.records import parse_record_query, record, search
from spatial.errors import InvalidInput

ITEMS = "/records/collections/catalog/items"
NS = {"gmd": "http://www.isotc211.org/2005/gmd", "gco": "http://www.isotc211.org/2005/gco",
      "gml": "http://www.opengis.net/gml/3.2"}  # fmt: skip
HOSTILE = "</gco:CharacterString><script>alert('x')</script> & \x00 ]]> \"'"


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "parks", "title_zh": "公园", "title_en": "Parks", "description": "城市公园 city parks",
        "department_code": "greening", "department_name_zh": "园林局", "department_name_en": "Greening Bureau",
        "kind": "vector", "visibility": "public", "keywords": ["绿地", "leisure"], "licence": "CC-BY-4.0",
        "bbox": [108.9, 34.2, 109.0, 34.3], "time_start": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "time_end": dt.datetime(2024, 6, 30, tzinfo=dt.UTC), "created_at": dt.datetime(2023, 5, 1, tzinfo=dt.UTC),
        "updated_at": dt.datetime(2024, 7, 1, tzinfo=dt.UTC), "feature_count": 12, "geometry_type": "POLYGON",
        "attributes": {"id": "integer", "name": "text"}, "storage_table": "parks", "storage_path": None,
    }  # fmt: skip
    return row | changes


# ------------------------------------------------------------------------------ search (no server)
def test_search_by_text_box_time_department_and_kind() -> None:
    rows = [_row(), _row(id="roads", title_zh="道路", title_en="Roads", description="", keywords=[],
                         bbox=[110.0, 30.0, 110.5, 30.5], time_start=None, time_end=None, kind="imagery",
                         department_code="transport", department_name_zh="交通局", department_name_en="Transport")]  # fmt: skip

    def ids(**params: str) -> list[str]:
        return [row["id"] for row in search(rows, parse_record_query(**params))[0]]

    assert ids(q="公园") == ids(q="PARKS") == ids(q="leisure") == ids(q="园林局") == ["parks"]
    assert ids(q="roads,parks") == ["parks", "roads"]  # any term
    assert ids(bbox="108.95,34.25,108.96,34.26") == ["parks"]
    assert ids(datetime_="2024-03-01/..") == ["parks"] and ids(datetime_="2025-01-01") == []
    assert ids(department="transport") == ids(kind="imagery") == ["roads"]
    page, matched = search(rows, parse_record_query(limit="1", offset="1"))
    assert [row["id"] for row in page] == ["roads"] and matched == 2


@pytest.mark.parametrize("params", [{"bbox": "1,2,3"}, {"bbox": "10,10,0,0"}, {"bbox": "nan,1,2,3"},
                                    {"datetime_": "²"}, {"datetime_": "2024-05-01/2024-01-01"}, {"limit": "0"},
                                    {"limit": "1e400"}, {"offset": "-1"}, {"kind": "<b>"}, {"q": "x" * 300}])  # fmt: skip
def test_bad_search_parameters_are_invalid_input(params: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        parse_record_query(**params)


# ------------------------------------------------------------------------------ hostile text
def test_a_hostile_title_is_escaped_in_html_and_xml() -> None:
    feature = record(_row(title_zh=HOSTILE, title_en=HOSTILE, description=HOSTILE, keywords=[HOSTILE]), "http://h")
    answer = {"features": [feature], "links": [], "numberMatched": 1, "numberReturned": 1}
    for page in (record_page(feature), search_page({"title": HOSTILE, "description": HOSTILE}, answer, {"q": HOSTILE})):
        assert "<script>" not in page and "&lt;script&gt;" in page
    document = iso_metadata(feature)
    root = etree.fromstring(document)  # well-formed
    title = root.findtext("gmd:identificationInfo/gmd:MD_DataIdentification/gmd:citation/gmd:CI_Citation/"
                          "gmd:title/gco:CharacterString", namespaces=NS)  # fmt: skip
    assert title == HOSTILE.replace("\x00", "")
    assert b"<script>" not in document


def _required(root: etree._Element) -> None:
    """The elements a metadata exchange needs, with values."""
    ident = "gmd:identificationInfo/gmd:MD_DataIdentification/"
    for path in ("gmd:fileIdentifier/gco:CharacterString", "gmd:dateStamp/gco:DateTime",
                 "gmd:contact/gmd:CI_ResponsibleParty/gmd:organisationName/gco:CharacterString",
                 f"{ident}gmd:citation/gmd:CI_Citation/gmd:title/gco:CharacterString",
                 f"{ident}gmd:abstract/gco:CharacterString",
                 f"{ident}gmd:extent/gmd:EX_Extent/gmd:geographicElement/gmd:EX_GeographicBoundingBox/"
                 "gmd:westBoundLongitude/gco:Decimal",
                 "gmd:distributionInfo/gmd:MD_Distribution/gmd:transferOptions/gmd:MD_DigitalTransferOptions/"
                 "gmd:onLine/gmd:CI_OnlineResource/gmd:linkage/gmd:URL"):  # fmt: skip
        assert root.findtext(path, namespaces=NS), path
    assert root.find("gmd:language/gmd:LanguageCode", NS).get("codeListValue") == "zho"
    languages = root.findall(f"{ident}gmd:language/gmd:LanguageCode", NS)
    assert [e.get("codeListValue") for e in languages] == ["zho", "eng"]
    codes = root.xpath("gmd:referenceSystemInfo//gmd:code/gco:CharacterString/text()", namespaces=NS)
    assert {"EPSG:4326", "EPSG:4490"} <= set(codes)


def test_the_iso_document_has_the_required_elements() -> None:
    root = etree.fromstring(iso_metadata(record(_row(), "http://h")))
    assert root.tag == "{http://www.isotc211.org/2005/gmd}MD_Metadata"
    _required(root)
    period = root.find(".//gml:TimePeriod", NS)
    assert period is not None and period.findtext("gml:beginPosition", namespaces=NS) == "2024-01-01T00:00:00Z"
    urls = root.xpath("//gmd:URL/text()", namespaces=NS)
    assert "http://h/api/v1/layers/parks/download?f=gpkg" in urls and "http://h/ogc/collections/parks/items" in urls


# ------------------------------------------------------------------------------ over HTTP
def test_owslib_reads_and_searches_the_catalogue(demo_server: str) -> None:
    client = Records(f"{demo_server}/records")
    assert client.records() == ["catalog"]
    assert client.collection("catalog")["itemType"] == "record"
    everything = client.collection_items("catalog", limit=1000)
    ids = {feature["id"] for feature in everything["features"]}
    assert everything["numberMatched"] == len(ids) >= 3 and "demo_imagery" in ids
    imagery = next(f for f in everything["features"] if f["id"] == "demo_imagery")
    hrefs = [link["href"] for link in imagery["links"]]
    assert f"{demo_server}/wmts/1.0.0/WMTSCapabilities.xml" in hrefs
    assert f"{demo_server}/ogc/collections/demo_imagery/coverage" in hrefs
    vector = next(f for f in everything["features"] if f["properties"]["kind"] == "vector" and f["properties"]["fields"])
    assert f"{demo_server}/api/v1/layers/{vector['id']}/download?f=gpkg" in [link["href"] for link in vector["links"]]
    title = vector["properties"]["title"]
    found = client.collection_items("catalog", q=title)
    assert vector["id"] in {f["id"] for f in found["features"]} and found["numberMatched"] < len(ids) + 1
    west, south, east, north = vector["properties"]["bbox"]
    near = client.collection_items("catalog", bbox=[west, south, east, north])
    far = client.collection_items("catalog", bbox=[-10, -10, -9, -9])
    assert vector["id"] in {f["id"] for f in near["features"]} and far["features"] == []


def test_pages_links_and_formats(demo_server: str) -> None:
    first = httpx.get(f"{demo_server}{ITEMS}?limit=1", timeout=60)
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/geo+json")
    body = first.json()
    assert body["numberReturned"] == 1 and any(link["rel"] == "next" for link in body["links"])
    page = httpx.get(f"{demo_server}{ITEMS}?f=html&q=%3Cscript%3E", timeout=60)
    assert page.status_code == 200 and "<script>" not in page.text and "&lt;script&gt;" in page.text
    xml = httpx.get(f"{demo_server}{ITEMS}/demo_imagery?f=xml", timeout=60)
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    _required(etree.fromstring(xml.content))
    conformance = httpx.get(f"{demo_server}/records/conformance", timeout=60).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/core" in conformance


@pytest.mark.parametrize("query", ["bbox=1,2,3", "bbox=nan,0,1,1", "datetime=2024-13-45", "datetime=²",
                                   "limit=0", "limit=nan", "limit=100000", "offset=-1", "kind=x", "f=pdf",
                                   "sortby=title"])  # fmt: skip
def test_bad_parameters_are_400_from_the_one_error_table(demo_server: str, query: str) -> None:
    answer = httpx.get(f"{demo_server}{ITEMS}?{query}", timeout=60)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "InvalidParameterValue"


def _ids(base: str, headers: dict[str, str]) -> set[str]:
    answer = httpx.get(f"{base}{ITEMS}?limit=1000", headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    return {feature["id"] for feature in answer.json()["features"]}


def test_each_caller_sees_the_records_of_the_layers_they_may_read(access_city, access_server: str) -> None:
    anonymous = _ids(access_server, {})
    viewer = _ids(access_server, access_city.headers("viewer"))
    other = _ids(access_server, access_city.headers("editor_other"))
    assert "acc_public" in anonymous and not {"acc_internal", "acc_department", "img_department"} & anonymous
    assert {"acc_public", "acc_internal", "acc_department", "img_department"} <= viewer
    assert "acc_internal" in other and not {"acc_department", "img_department"} & other
    searched = httpx.get(f"{access_server}{ITEMS}?q=Test", timeout=60).json()
    assert {f["id"] for f in searched["features"]} == {"acc_public"} and searched["numberMatched"] == 1
    for fmt in ("json", "html", "xml"):
        seen = httpx.get(f"{access_server}{ITEMS}/acc_department?f={fmt}", headers=access_city.headers("viewer"),
                         timeout=60)  # fmt: skip
        assert seen.status_code == 200
        hidden = httpx.get(f"{access_server}{ITEMS}/acc_department?f={fmt}", headers=access_city.headers("editor_other"),
                           timeout=60)  # fmt: skip
        missing = httpx.get(f"{access_server}{ITEMS}/acc_nowhere?f={fmt}", timeout=60)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text.replace("acc_department", "N") == missing.text.replace("acc_nowhere", "N")
