"""Address parsing and normalisation, no database: Chinese and Western, numerals, full-width."""

from __future__ import annotations

import pytest

from spatial.errors import InvalidInput
from spatial.geocoding import parse, parse_structured
from spatial.geocoding.chinese import parse_chinese, zh_key
from spatial.geocoding.english import street_key
from spatial.geocoding.numerals import chinese_numeral, digits_for_numerals, numeral_value
from spatial.geocoding.result import output_crs
from spatial.geocoding.text import check_query, fold
from spatial.geocoding.western import parse_western


# ---------------------------------------------------------------------------------- numerals
@pytest.mark.parametrize(("text", "value"), [
    ("八十八", 88), ("十二", 12), ("十", 10), ("二十", 20), ("一百零八", 108), ("两千", 2000),
    ("一零八", 108), ("八八", 88), ("三", 3), ("一万二千三百零五", 12305), ("壹佰零捌", 108),
])  # fmt: skip
def test_chinese_numerals_read_both_ways(text: str, value: int) -> None:
    assert numeral_value(text) == value


def test_numerals_become_digits_in_addresses_but_names_keep_lone_units() -> None:
    assert digits_for_numerals("兴福路八十八号三栋二单元") == "兴福路88号3栋2单元"
    assert digits_for_numerals("百花路一〇八号") == "百花路108号"
    assert digits_for_numerals("万达广场") == "万达广场"
    assert all(numeral_value(chinese_numeral(n)) == n for n in range(1, 2000))


# ------------------------------------------------------------------------------ folding
def test_full_width_traditional_and_case_fold_to_one_form() -> None:
    assert fold("ＡＢＣ　８８号") == "abc 88号"
    assert zh_key("陝西省西安市明德區興福路八十八號") == "陕西省西安市明德区兴福路88号"
    assert zh_key("3幢") == "3栋"
    assert fold("333 W. 17th St.") == "333 w 17th st"


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201, "兴福路\x0088号", "abc\x07", None, 42])
def test_bad_queries_are_refused_with_a_message(bad: object) -> None:
    with pytest.raises(InvalidInput) as err:
        check_query(bad)
    assert err.value.message


# ------------------------------------------------------------------------------- Chinese
@pytest.mark.parametrize(("text", "expected"), [
    ("陕西省西安市明德区兴福路88号3栋2单元",
     {"province": "陕西省", "city": "西安市", "district": "明德区", "road": "兴福路", "number": "88",
      "building": "3", "unit": "2"}),
    ("西安市修德区槐塘一巷十七号", {"district": "修德区", "road": "槐塘1巷", "number": "17"}),
    ("陝西省西安市明德區興福路八十八號三棟", {"road": "兴福路", "number": "88", "building": "3"}),
    ("地址：明德区兴福路８８号附近", {"district": "明德区", "road": "兴福路", "number": "88"}),
    ("兴福路88号3号楼2单元201室", {"road": "兴福路", "number": "88", "building": "3", "unit": "2",
                                 "room": "201"}),
    ("兴福路88号3-2-201", {"building": "3", "unit": "2", "room": "201"}),
    ("润川街道兴福东路8号", {"subdistrict": "润川街道", "road": "兴福东路", "number": "8"}),
    ("西安市 明德区 兴福路 88 号", {"district": "明德区", "road": "兴福路", "number": "88"}),
    ("我在兴福东路88号门口，垃圾很多", {"road": "兴福东路", "number": "88"}),
])  # fmt: skip
def test_chinese_addresses_without_spaces(text: str, expected: dict[str, str]) -> None:
    parsed = parse_chinese(text).as_dict()
    assert {k: parsed.get(k) for k in expected} == expected


def test_a_missing_level_word_still_offers_the_road() -> None:
    parsed = parse_chinese("明德兴福路88号")
    assert parsed.road_keys[0] == "明德兴福路" and "兴福路" in parsed.road_keys
    assert parsed.number_int == 88


def test_names_without_a_number_are_place_name_queries() -> None:
    assert parse_chinese("隆德公园").name == "隆德公园"
    assert parse_chinese("润川街道").road_keys == []  # 街道 is a subdistrict, not a 街
    assert parse_chinese("兴福路").road_keys == ["兴福路"]


# ------------------------------------------------------------------------------- Western
@pytest.mark.parametrize(("name", "key"), [
    ("West 17th Street", "w 17 st"), ("W. 17 St", "w 17 st"), ("west seventeenth stret", "w 17 st"),
    ("Fifth Avenue", "5 ave"), ("5th Ave.", "5 ave"), ("Avenue of the Americas", "ave of the americas"),
    ("Park Avenue South", "park ave s"), ("Saint Marks Pl", "st marks pl"), ("Broadway", "broadway"),
    ("East 42nd Steet", "e 42 st"), ("Weest 31st Street", "w 31 st"), ("7th Aevnue", "7 ave"),
])  # fmt: skip
def test_street_names_have_one_canonical_key(name: str, key: str) -> None:
    assert street_key(name) == key


@pytest.mark.parametrize(("text", "expected"), [
    ("333 W 17th St Apt 4B, New York, NY 10011",
     {"number": "333", "road": "w 17th st", "unit": "4b", "city": "new york", "state": "ny",
      "postcode": "10011"}),
    ("333 west 17th street new york ny 10011", {"number": "333", "city": "new york", "postcode": "10011"}),
    ("100 1/2 East 7th Street #3", {"number": "100 1/2", "road": "east 7th street", "unit": "3"}),
    ("350 5th Ave 3rd Floor", {"number": "350", "unit": "3rd floor"}),
    ("Apt 4B, 333 W 17th St", {"number": "333", "unit": "4b"}),
    ("Unit 2, Building 3, 88 Xingfu Road, Mingde District, Xi'an",
     {"number": "88", "road": "xingfu road", "building": "3", "unit": "2"}),
])  # fmt: skip
def test_western_addresses(text: str, expected: dict[str, str]) -> None:
    parsed = parse_western(text).as_dict()
    assert {k: parsed.get(k) for k in expected} == expected


def test_a_street_without_a_type_word_offers_each_shorter_start() -> None:
    assert parse_western("1333 Broadway New York NY").road_keys[-1] == "broadway"


def test_dispatch_and_structured_fields() -> None:
    assert parse("兴福路88号").lang == "zh"
    assert parse("333 W 17th St").lang == "en"
    structured = parse_structured({"house_number": "八十八号", "street": "兴福路", "building": "3栋"})
    assert (structured.number_int, structured.road_keys, structured.building) == (88, ["兴福路"], "3")
    western = parse_structured({"house_number": "92A", "street": "West 17th Street", "postcode": "10011"})
    assert (western.number, western.number_int, western.road_keys) == ("92a", 92, ["w 17 st"])
    with pytest.raises(InvalidInput):
        parse_structured({})
    with pytest.raises(InvalidInput):
        parse_structured({"house_number": "abc", "street": "Main St"})
    with pytest.raises(InvalidInput):
        parse_structured({"colour": "blue"})


def test_output_crs_names() -> None:
    assert output_crs(None) == "CRS84"
    assert output_crs("EPSG:4490") == "EPSG:4490"
    assert output_crs("http://www.opengis.net/def/crs/EPSG/0/4490") == "EPSG:4490"
    assert output_crs("GCJ-02") == "gcj02"
    with pytest.raises(InvalidInput):
        output_crs("EPSG:3857")
    with pytest.raises(InvalidInput):
        output_crs("nonsense")
