"""Pure geometry of the 3D city model: LoD1 extrusion and glb tile content."""
