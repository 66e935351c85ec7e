"""Shapefile field names: at most 10 bytes (dBase), unique, and a list saying which is which.

A dBase field name holds 10 bytes in the file's encoding: ``building_type`` does not fit, and
neither does ``建筑物名称`` (15 bytes in UTF-8, 10 in GBK). Longer names are cut to fit (never
inside a character) and made unique, ignoring case as dBase readers do, with a ``_1``, ``_2``…
suffix; ``fields_text`` writes the mapping that goes into the zip beside the Shapefile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DBF_NAME_BYTES = 10


def fit_name(name: str, size: int, encoding: str) -> str:
    """The longest prefix of ``name`` that takes at most ``size`` bytes in ``encoding``.

    >>> fit_name("building_type", 10, "utf-8")
    'building_t'
    >>> fit_name("建筑物名称", 10, "utf-8")
    '建筑物'
    >>> fit_name("建筑物名称", 10, "gbk")
    '建筑物名称'
    """
    encoded = name.encode(encoding, errors="replace")
    return encoded[:size].decode(encoding, errors="ignore")


def short_field_names(names: Sequence[str], encoding: str = "utf-8") -> dict[str, str]:
    """Each field's Shapefile name, in order: ≤ 10 bytes in ``encoding``, unique ignoring case.

    >>> short_field_names(["building_type", "building_time", "id"])
    {'building_type': 'building_t', 'building_time': 'building_1', 'id': 'id'}
    """
    taken: set[str] = set()
    short: dict[str, str] = {}
    for name in names:
        candidate, number = fit_name(name, DBF_NAME_BYTES, encoding), 0
        while not candidate or candidate.lower() in taken:
            number += 1
            suffix = f"_{number}"
            candidate = fit_name(name, DBF_NAME_BYTES - len(suffix), encoding) + suffix
        taken.add(candidate.lower())
        short[name] = candidate
    return short


def fields_text(short: Mapping[str, str], *, layer: str, encoding: str) -> str:
    """The ``fields.txt`` of a zipped Shapefile: its encoding and every field's full name."""
    lines = [
        f"{layer}: Shapefile fields (dBase names hold at most {DBF_NAME_BYTES} bytes)",
        f"text encoding: {encoding} (also in the .cpg file)",
        "",
        "shapefile_name\toriginal_name",
    ]
    lines += [f"{name}\t{original}" for original, name in short.items()]
    return "\n".join(lines) + "\n"
