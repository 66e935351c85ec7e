"""Tests of loading a city from its own files (layers.city)."""
