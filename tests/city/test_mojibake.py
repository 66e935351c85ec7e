"""layers.city.mojibake: GBK text read as Latin-1 found in text columns of either pandas kind."""

from __future__ import annotations

import pandas as pd
import pytest

from layers.city.mojibake import garbled_fields

GARBLED = "Î÷°²ÊÐ"  # 西安市 in GBK bytes, decoded as Latin-1


@pytest.mark.parametrize("dtype", ["object", "str"])
def test_garbled_values_are_found_in_object_and_pandas_text_columns(dtype: str) -> None:
    frame = pd.DataFrame({
        "name": pd.Series(["Zürich", GARBLED, None, "plain", GARBLED + " 1"], dtype=dtype),
        "code": [1, 2, 3, 4, 5],
    })  # fmt: skip
    [found] = garbled_fields(frame)
    assert found.field == "name" and found.rows == [1, 4]
    assert found.example == GARBLED and found.meant == "西安市"


def test_non_text_values_in_an_object_column_are_skipped() -> None:
    frame = pd.DataFrame(
        {"mixed": [1.5, b"\xce\xf7", None, GARBLED], "other": ["a", "b", "c", "d"]}
    )
    [found] = garbled_fields(frame)
    assert found.field == "mixed" and found.rows == [3]


@pytest.mark.parametrize("dtype", ["object", "str"])
def test_european_text_is_not_garbled(dtype: str) -> None:
    names = ["São Paulo", "Informação Turística", "Zürich", "Ærøskøbing"]
    assert garbled_fields(pd.DataFrame({"name": pd.Series(names, dtype=dtype)})) == []


def test_a_replacement_character_counts_as_garbled() -> None:
    [found] = garbled_fields(pd.DataFrame({"name": ["ok", "bad \ufffd byte"]}))
    assert found.rows == [1] and found.meant is None
