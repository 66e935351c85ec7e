"""The core: database, CRS, grid, geocoding, incidents. No web framework, no imports of layers/ or api/."""
