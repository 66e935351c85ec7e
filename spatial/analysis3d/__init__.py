"""Planners' 3D analyses over LoD1 buildings (footprint prisms): height limits (控高), sunlight
hours (日照), line of sight and viewshed. Pure geometry and SQL; no web framework, no catalog."""
