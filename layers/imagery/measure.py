"""What a statistic measures per pixel: one band, or one band-maths expression (e.g. NDVI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rasterio.io import DatasetReader
from rasterio.windows import Window

from layers.imagery.expression import BandMath, parse_band_math
from spatial.errors import InvalidInput

MAX_PERCENTILES = 20


@dataclass(frozen=True)
class Measure:
    """A band number or a one-output expression, checked against the layer's band count."""

    band: int | None = None
    band_math: BandMath | None = None

    @property
    def label(self) -> str:
        """'b4' or the expression's text."""
        return self.band_math.text if self.band_math else f"b{self.band}"

    def check(self, band_count: int) -> None:
        """InvalidInput if the measure reads a band the scene lacks."""
        if self.band_math is not None:
            parse_band_math(self.band_math.text, band_count)
        elif self.band is not None and not 1 <= self.band <= band_count:
            raise InvalidInput(f"band {self.band} does not exist: this layer has bands 1–{band_count}")

    def read(self, dataset: DatasetReader, window: Window) -> np.ma.MaskedArray:
        """(1, rows, cols) float64 values for ``window``, masked where there is no data."""
        if self.band_math is not None:
            pixels = dataset.read(list(self.band_math.bands), window=window, masked=True)
            values = self.band_math.evaluate(pixels)
        else:
            values = dataset.read([self.band], window=window, masked=True).astype("float64")
        return np.ma.masked_invalid(values)


def parse_measure(band: int | str | None, expression: str | None, band_count: int) -> Measure:
    """The measure a request names; a single-band layer needs neither (band 1)."""
    if band not in (None, "") and expression:
        raise InvalidInput("give band or expression, not both")
    if expression:
        band_math = parse_band_math(expression, band_count)
        if len(band_math.blocks) != 1:
            raise InvalidInput("statistics need one expression output, not several (drop the ';')")
        return Measure(band_math=band_math)
    if band in (None, ""):
        if band_count != 1:
            raise InvalidInput(
                f"this layer has {band_count} bands: give band=N or an expression such as (b4-b3)/(b4+b3)"
            )
        return Measure(band=1)
    try:
        number = int(band)
    except (TypeError, ValueError):
        raise InvalidInput(f"band {band!r} is not a band number") from None
    measure = Measure(band=number)
    measure.check(band_count)
    return measure


def parse_percentiles(values: Sequence[float | str] | str | None) -> tuple[float, ...]:
    """Percentiles 0–100 from a list or '10,50,90'; InvalidInput otherwise."""
    if values is None or values == "" or values == []:
        return ()
    items = values.split(",") if isinstance(values, str) else list(values)
    try:
        parsed = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise InvalidInput(f"percentiles {values!r}: give numbers between 0 and 100, e.g. 10,50,90") from None
    if not all(0.0 <= q <= 100.0 for q in parsed):
        raise InvalidInput(f"percentiles {values!r}: each must lie between 0 and 100")
    if len(parsed) > MAX_PERCENTILES:
        raise InvalidInput(f"at most {MAX_PERCENTILES} percentiles")
    return tuple(dict.fromkeys(parsed))
