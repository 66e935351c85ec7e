"""ISO 19115 metadata of a layer, encoded as ISO 19139 XML (gmd:MD_Metadata), for metadata exchange.

Built from the layer's record (``layers.records.record``), so the XML says what the JSON says:
identifier, languages (zho, eng), the department as contact, date stamp, title (Chinese, with the
English as alternate title), abstract, keywords, licence, bounding box and time period, the
reference systems the doors offer, and every link as an online resource. Text goes through
ElementTree (escaped), less the characters XML 1.0 cannot carry.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

NS = {
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
    "gml": "http://www.opengis.net/gml/3.2",
    "xlink": "http://www.w3.org/1999/xlink",
}
CODE_LISTS = "http://standards.iso.org/iso/19139/resources/gmxCodelists.xml"
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # characters XML 1.0 cannot carry


def iso_metadata(record: dict[str, Any]) -> bytes:
    """The ISO 19139 document (UTF-8) of one catalogue record."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    props = record["properties"]
    root = ET.Element(_q("gmd:MD_Metadata"))
    _text(_sub(root, "gmd:fileIdentifier"), record["id"])
    _language(_sub(root, "gmd:language"), "zho")
    _code(_sub(root, "gmd:characterSet"), "MD_CharacterSetCode", "utf8")
    _code(_sub(root, "gmd:hierarchyLevel"), "MD_ScopeCode", "dataset")
    _contact(_sub(root, "gmd:contact"), props)
    _sub(_sub(root, "gmd:dateStamp"), "gco:DateTime", props.get("updated") or props.get("created") or "")
    _text(_sub(root, "gmd:metadataStandardName"), "ISO 19115:2003/19139")
    _text(_sub(root, "gmd:metadataStandardVersion"), "1.0")
    for code in props.get("referenceSystems", []):
        _reference_system(_sub(root, "gmd:referenceSystemInfo"), code)
    _identification(_sub(root, "gmd:identificationInfo"), record)
    _distribution(_sub(root, "gmd:distributionInfo"), record.get("links", []))
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _identification(parent: ET.Element, record: dict[str, Any]) -> None:
    props = record["properties"]
    info = _sub(parent, "gmd:MD_DataIdentification")
    citation = _sub(_sub(info, "gmd:citation"), "gmd:CI_Citation")
    _text(_sub(citation, "gmd:title"), props["title"])
    _text(_sub(citation, "gmd:alternateTitle"), props.get("title_en") or "")
    for kind, moment in (("creation", props.get("created")), ("revision", props.get("updated"))):
        if moment:
            date = _sub(_sub(citation, "gmd:date"), "gmd:CI_Date")
            _sub(_sub(date, "gmd:date"), "gco:DateTime", moment)
            _code(_sub(date, "gmd:dateType"), "CI_DateTypeCode", kind)
    _text(_sub(info, "gmd:abstract"), props.get("description") or props["title"])
    _contact(_sub(info, "gmd:pointOfContact"), props)
    keywords = _sub(_sub(info, "gmd:descriptiveKeywords"), "gmd:MD_Keywords")
    for word in [*props.get("keywords", []), props.get("kind", "")]:
        if word:
            _text(_sub(keywords, "gmd:keyword"), word)
    constraints = _sub(_sub(info, "gmd:resourceConstraints"), "gmd:MD_LegalConstraints")
    _code(_sub(constraints, "gmd:useConstraints"), "MD_RestrictionCode", "license")
    _text(_sub(constraints, "gmd:otherConstraints"), props.get("license") or "")
    for code in ("zho", "eng"):
        _language(_sub(info, "gmd:language"), code)
    _code(_sub(info, "gmd:characterSet"), "MD_CharacterSetCode", "utf8")
    _extent(_sub(_sub(info, "gmd:extent"), "gmd:EX_Extent"), record)


def _extent(extent: ET.Element, record: dict[str, Any]) -> None:
    bbox = record["properties"].get("bbox")
    if bbox:
        box = _sub(_sub(extent, "gmd:geographicElement"), "gmd:EX_GeographicBoundingBox")
        for name, value in zip(("westBoundLongitude", "eastBoundLongitude", "southBoundLatitude", "northBoundLatitude"),
                               (bbox[0], bbox[2], bbox[1], bbox[3]), strict=True):  # fmt: skip
            _sub(_sub(box, f"gmd:{name}"), "gco:Decimal", repr(float(value)))
    interval = (record.get("time") or {}).get("interval")
    if interval:
        period = _sub(_sub(_sub(extent, "gmd:temporalElement"), "gmd:EX_TemporalExtent"), "gmd:extent")
        period = _sub(period, "gml:TimePeriod", attrib={_q("gml:id"): "extent"})
        for name, moment in zip(("gml:beginPosition", "gml:endPosition"), interval, strict=True):
            position = _sub(period, name)
            if moment in (None, ".."):
                position.set("indeterminatePosition", "unknown")
            else:
                position.text = moment


def _distribution(parent: ET.Element, links: list[dict[str, Any]]) -> None:
    distribution = _sub(parent, "gmd:MD_Distribution")
    options = _sub(_sub(distribution, "gmd:transferOptions"), "gmd:MD_DigitalTransferOptions")
    for link in links:
        resource = _sub(_sub(options, "gmd:onLine"), "gmd:CI_OnlineResource")
        _sub(_sub(resource, "gmd:linkage"), "gmd:URL", link["href"])
        _text(_sub(resource, "gmd:protocol"), link.get("protocol") or link.get("type") or "")
        _text(_sub(resource, "gmd:name"), link.get("rel", ""))
        _text(_sub(resource, "gmd:description"), link.get("title", ""))


def _contact(parent: ET.Element, props: dict[str, Any]) -> None:
    department = props.get("department") or {}
    party = _sub(parent, "gmd:CI_ResponsibleParty")
    _text(_sub(party, "gmd:organisationName"), department.get("name_zh") or department.get("code") or "")
    _text(_sub(party, "gmd:positionName"), department.get("name_en") or department.get("code") or "")
    _code(_sub(party, "gmd:role"), "CI_RoleCode", "pointOfContact")


def _reference_system(parent: ET.Element, code: str) -> None:
    identifier = _sub(_sub(_sub(parent, "gmd:MD_ReferenceSystem"), "gmd:referenceSystemIdentifier"), "gmd:RS_Identifier")
    _text(_sub(identifier, "gmd:code"), code)
    _text(_sub(identifier, "gmd:codeSpace"), "EPSG")


def _language(parent: ET.Element, code: str) -> None:
    _code(parent, "LanguageCode", code, register="http://www.loc.gov/standards/iso639-2/")


def _code(parent: ET.Element, name: str, value: str, *, register: str | None = None) -> None:
    """A code-list value: ``<gmd:name codeList=… codeListValue=value>value</gmd:name>``."""
    code_list = register or f"{CODE_LISTS}#{name}"
    _sub(parent, f"gmd:{name}", value, attrib={"codeList": code_list, "codeListValue": value})


def _text(parent: ET.Element, value: str) -> None:
    _sub(parent, "gco:CharacterString", value)


def _sub(parent: ET.Element, tag: str, text: str | None = None, attrib: dict[str, str] | None = None) -> ET.Element:
    element = ET.SubElement(parent, _q(tag), attrib or {})
    if text is not None:
        element.text = NOT_XML.sub("", text)
    return element


def _q(name: str) -> str:
    """``gmd:x`` as ElementTree's ``{uri}x``."""
    prefix, local = name.split(":", 1)
    return f"{{{NS[prefix]}}}{local}"
