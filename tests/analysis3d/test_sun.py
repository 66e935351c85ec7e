"""Sun positions against pvlib's SPA (an established implementation) and the solar-term days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pvlib
import pytest

from spatial.analysis3d.sun import (
    JD_UNIX_EPOCH,
    solar_term_day,
    sun_position,
    sun_terms,
    true_solar_to_utc,
)

PLACES = {"xian": (108.94, 34.26), "new_york": (-74.006, 40.7128)}


@pytest.mark.parametrize("place", PLACES)
def test_sun_position_matches_pvlib_within_a_tenth_of_a_degree(place: str) -> None:
    lon, lat = PLACES[place]
    times = pd.date_range("2025-01-01", "2025-12-31 23:59", freq="47min", tz="UTC")  # every hour of the day drifts by
    reference = pvlib.solarposition.get_solarposition(times, lat, lon, method="nrel_numpy")
    jd = times.as_unit("ns").asi8 / 1e9 / 86400.0 + JD_UNIX_EPOCH
    azimuth, elevation = sun_position(jd, lon, lat)
    up = reference["elevation"].to_numpy() > 0  # the azimuth of a sun below the horizon is of no use here
    assert up.sum() > 4000
    azimuth_error = (azimuth - reference["azimuth"].to_numpy() + 180) % 360 - 180
    assert np.abs(azimuth_error[up]).max() < 0.1
    assert np.abs(elevation - reference["elevation"].to_numpy()).max() < 0.1


def test_true_solar_noon_is_the_sun_due_south_at_its_highest() -> None:
    lon, lat = PLACES["xian"]
    day = dt.date(2025, 1, 20)
    jd = true_solar_to_utc(day, np.array([11 * 60 + 59, 12 * 60, 12 * 60 + 1]), lon)
    azimuth, elevation = sun_position(jd, lon, lat)
    assert abs(azimuth[1] - 180) < 0.01
    assert elevation[1] > elevation[0] and elevation[1] > elevation[2]
    times = pd.DatetimeIndex(pd.to_datetime((jd - JD_UNIX_EPOCH) * 86400, unit="s", utc=True))
    reference = pvlib.solarposition.get_solarposition(times, lat, lon)
    assert abs(reference["azimuth"].iloc[1] - 180) < 0.05
    assert abs(sun_terms(jd).equation_of_time[1] - reference["equation_of_time"].iloc[1]) < 0.1  # minutes


@pytest.mark.parametrize(("year", "dahan", "dongzhi"), [(2024, "2024-01-20", "2024-12-21"),
                                                         (2025, "2025-01-20", "2025-12-21"),
                                                         (2026, "2026-01-20", "2026-12-22")])  # fmt: skip
def test_solar_term_days_are_those_of_the_chinese_calendar(year: int, dahan: str, dongzhi: str) -> None:
    assert solar_term_day(year, 300.0).isoformat() == dahan
    assert solar_term_day(year, 270.0).isoformat() == dongzhi
