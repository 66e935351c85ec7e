"""The unit grid (单元网格): building versions from division polygons, codes, point → cell."""
