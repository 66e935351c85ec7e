"""Geocoding over the city's own address layer (地名地址库): parse, normalise, match, reverse, suggest.

``geocode(conn_or_engine, text)`` is the one call other modules need (incident filing turns an
address into a point with it); the HTTP, OGC API Processes and CLI doors call the same functions.
"""

from spatial.geocoding.index import IndexCounts, refresh_index
from spatial.geocoding.match import geocode, geocode_many, geocode_parsed
from spatial.geocoding.parse import parse, parse_structured
from spatial.geocoding.parsed import ParsedAddress
from spatial.geocoding.result import Match

__all__ = [
    "IndexCounts", "Match", "ParsedAddress", "geocode", "geocode_many", "geocode_parsed", "parse",
    "parse_structured", "refresh_index",
]  # fmt: skip
