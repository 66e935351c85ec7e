"""Band maths in rio-tiler's syntax: ``(b4-b3)/(b4+b3)``, several outputs separated by ``;``.

Parsing and evaluation are rio-tiler's (``rio_tiler.expression``: a whitelist of Python AST
nodes, then numexpr), so a tile and a statistic of the same expression compute the same
numbers. Added here: messages fit for a user, band numbers checked against the layer, a length
limit, and evaluation over masked arrays (a pixel is masked when any band it uses is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from rio_tiler.errors import InvalidExpression
from rio_tiler.expression import (
    apply_expression,
    get_expression_blocks,
    parse_expression,
    validate_expression,
)

from spatial.errors import InvalidInput

MAX_LENGTH = 512
MAX_OUTPUTS = 3
BAND_NAME = re.compile(r"\bb(\d+)\b")


@dataclass(frozen=True)
class BandMath:
    """A checked expression: its output blocks and the band numbers it reads (ascending)."""

    text: str
    blocks: tuple[str, ...]
    bands: tuple[int, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The names the blocks use for the bands read ('b1', 'b4'…)."""
        return tuple(f"b{b}" for b in self.bands)

    def evaluate(self, data: np.ma.MaskedArray) -> np.ma.MaskedArray:
        """Apply to ``data`` (one layer per band of ``bands``, in that order): (outputs, …) masked."""
        filled = np.ma.getdata(data)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = apply_expression(self.blocks, self.names, filled).data.astype("float64")
        mask = np.ma.getmaskarray(data).any(axis=0)
        return np.ma.MaskedArray(values, mask=np.broadcast_to(mask, values.shape).copy())


def parse_band_math(text: str, band_count: int | None = None) -> BandMath:
    """Check an expression (syntax, allowed operations, bands that exist); InvalidInput if bad."""
    text = text.strip()
    if not text:
        raise InvalidInput("expression is empty: give band maths such as (b4-b3)/(b4+b3)")
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"expression is longer than {MAX_LENGTH} characters")
    blocks = tuple(b.strip() for b in get_expression_blocks(text) if b.strip())
    if not 1 <= len(blocks) <= MAX_OUTPUTS:
        raise InvalidInput(f"expression: give one output (grey) or three (red;green;blue), not {len(blocks)}")
    try:
        validate_expression(text)
    except InvalidExpression as err:
        raise InvalidInput(f"expression {text!r} does not parse: {err}") from None
    unknown = _unknown_names(text)
    if unknown:
        raise InvalidInput(
            f"expression {text!r} names {unknown!r}: refer to bands as b1, b2, … "
            "(functions: sqrt, abs, log, exp, where, …)"
        )
    try:
        parse_expression(text)
    except InvalidExpression as err:
        raise InvalidInput(f"expression {text!r} does not parse: {err}") from None
    bands = tuple(sorted({int(n) for n in BAND_NAME.findall(text)}))
    if band_count is not None:
        wrong = [b for b in bands if not 1 <= b <= band_count]
        if wrong:
            raise InvalidInput(f"expression uses band b{wrong[0]}: this layer has bands b1–b{band_count}")
    return BandMath(text, blocks, bands)


def _unknown_names(text: str) -> str | None:
    """The first name that is neither a band nor a numexpr function, if any."""
    import ast

    from numexpr.expressions import functions

    for block in get_expression_blocks(text):
        for node in ast.walk(ast.parse(block, mode="eval")):
            if isinstance(node, ast.Name) and not (
                BAND_NAME.fullmatch(node.id) or node.id in functions
            ):
                return node.id
    return None
