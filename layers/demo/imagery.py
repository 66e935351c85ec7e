"""A synthetic four-band scene of the demo city, written as a Cloud-Optimized GeoTIFF.

The scene is rendered from the generated vectors, not drawn by hand: land cover of every
sub-block and pond, road corridors at their class widths, and building roofs by use are burnt
into a class raster (UTM 49N, 10 m); each class has a surface reflectance in blue, green, red and
near infrared, mixed with a seeded vegetation fraction and sensor noise, so NDVI separates parks,
fields and tree-lined compounds from roofs, asphalt and water. Values are reflectance × 10 000
(uint16, scale 0.0001), like Sentinel-2 Level-2A.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from rasterio.features import rasterize
from rasterio.io import MemoryFile
from rasterio.warp import transform_bounds

from layers.demo.generate import DemoCity

SCENE_CRS = "EPSG:32649"
RESOLUTION_M = 10.0
MARGIN_M = 500.0
BANDS = ("blue", "green", "red", "nir")
SCALE = 10_000
COG_OPTIONS = {
    "BLOCKSIZE": "512",
    "COMPRESS": "DEFLATE",
    "PREDICTOR": "2",
    "OVERVIEWS": "IGNORE_EXISTING",
    "OVERVIEW_RESAMPLING": "AVERAGE",
    "BIGTIFF": "IF_SAFER",
}


@dataclass(frozen=True)
class Surface:
    """Reflectance of a ground class (blue, green, red, nir) and its share of vegetation."""

    reflectance: tuple[float, float, float, float]
    vegetation: float


VEGETATION = np.array([0.03, 0.07, 0.04, 0.38])
SURFACES = {
    "countryside": Surface((0.09, 0.12, 0.15, 0.24), 0.35),
    "farmland": Surface((0.08, 0.11, 0.13, 0.23), 0.65),
    "park": Surface((0.06, 0.08, 0.09, 0.15), 0.85),
    "compound": Surface((0.10, 0.11, 0.12, 0.16), 0.40),
    "urban_village": Surface((0.11, 0.12, 0.13, 0.16), 0.08),
    "commercial": Surface((0.12, 0.13, 0.14, 0.17), 0.15),
    "public": Surface((0.10, 0.11, 0.12, 0.16), 0.35),
    "industrial": Surface((0.13, 0.14, 0.15, 0.18), 0.10),
    "water": Surface((0.05, 0.06, 0.04, 0.02), 0.0),
    "road": Surface((0.07, 0.08, 0.09, 0.10), 0.0),
    "roof_residential": Surface((0.12, 0.12, 0.14, 0.17), 0.0),
    "roof_commercial": Surface((0.16, 0.17, 0.18, 0.20), 0.0),
    "roof_public": Surface((0.13, 0.13, 0.15, 0.18), 0.0),
    "roof_industrial": Surface((0.22, 0.17, 0.11, 0.15), 0.0),  # blue steel sheds
}
CLASSES = tuple(SURFACES)
SMALL_SHAPE_CHUNK = 100_000
ROAD_HALF_WIDTH_M = {"arterial": 20.0, "secondary": 12.0, "branch": 7.0, "lane": 4.0}


@dataclass(frozen=True)
class SceneInfo:
    """Where a written scene is and what it covers."""

    path: Path
    bounds: tuple[float, float, float, float]  # in ``crs``
    crs: str
    resolution: float
    bands: tuple[str, ...]
    width: int
    height: int

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """The scene's bounds in lon/lat (EPSG:4326)."""
        west, south, east, north = transform_bounds(self.crs, "EPSG:4326", *self.bounds)
        return float(west), float(south), float(east), float(north)


@dataclass(frozen=True)
class SceneGrid:
    """Pixel grid of the scene: north-up, square pixels, snapped to whole metres of resolution."""

    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return self.height, self.width

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in the scene CRS."""
        west, north = self.transform.c, self.transform.f
        return west, north - self.height * RESOLUTION_M, west + self.width * RESOLUTION_M, north


def scene_grid(city: DemoCity) -> SceneGrid:
    """The city's UTM bounding box plus a margin, snapped outwards to the pixel size."""
    west, south, east, north = city.admin_division.to_crs(SCENE_CRS).total_bounds
    west = np.floor((west - MARGIN_M) / RESOLUTION_M) * RESOLUTION_M
    south = np.floor((south - MARGIN_M) / RESOLUTION_M) * RESOLUTION_M
    east = np.ceil((east + MARGIN_M) / RESOLUTION_M) * RESOLUTION_M
    north = np.ceil((north + MARGIN_M) / RESOLUTION_M) * RESOLUTION_M
    width, height = (
        int(round((east - west) / RESOLUTION_M)),
        int(round((north - south) / RESOLUTION_M)),
    )
    transform = Affine(RESOLUTION_M, 0.0, float(west), 0.0, -RESOLUTION_M, float(north))
    return SceneGrid(transform, width, height)


def burn(classes: np.ndarray, grid: SceneGrid, geometries: np.ndarray, surface: str) -> None:
    """Paint geometries onto the class raster with one surface class (later burns win)."""
    if len(geometries) == 0:
        return
    value = CLASSES.index(surface)
    rasterize(
        ((geometry, value) for geometry in geometries),
        out=classes,
        transform=grid.transform,
        all_touched=False,
    )


def burn_small_shapes(
    classes: np.ndarray, grid: SceneGrid, geometries: np.ndarray, surface: str
) -> None:
    """Like ``burn`` (pixel centre inside the shape) but vectorised, for very many small shapes.

    rasterize() converts every geometry one by one; for a million footprints it is far cheaper
    to test the pixel centres within each footprint's bounding box with shapely.contains_xy.
    """
    value = CLASSES.index(surface)
    for start in range(0, len(geometries), SMALL_SHAPE_CHUNK):
        chunk = geometries[start : start + SMALL_SHAPE_CHUNK]
        rows, cols, owner = candidate_pixels(grid, shapely.bounds(chunk))
        x = grid.transform.c + (cols + 0.5) * RESOLUTION_M
        y = grid.transform.f - (rows + 0.5) * RESOLUTION_M
        inside = shapely.contains_xy(chunk[owner], x, y)
        classes[rows[inside], cols[inside]] = value


def candidate_pixels(grid: SceneGrid, bounds: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row, column and owner index of every pixel within each bounding box (clipped to the grid)."""
    west, north = grid.transform.c, grid.transform.f
    col0, col1 = (bounds[:, 0] - west) / RESOLUTION_M, (bounds[:, 2] - west) / RESOLUTION_M
    row0, row1 = (north - bounds[:, 3]) / RESOLUTION_M, (north - bounds[:, 1]) / RESOLUTION_M
    col0, row0 = np.clip(np.floor(col0), 0, grid.width), np.clip(np.floor(row0), 0, grid.height)
    col1 = np.clip(np.floor(col1), -1, grid.width - 1)
    row1 = np.clip(np.floor(row1), -1, grid.height - 1)
    widths = np.maximum(col1 - col0 + 1, 0).astype(int)
    heights = np.maximum(row1 - row0 + 1, 0).astype(int)
    counts = widths * heights
    owner = np.repeat(np.arange(len(bounds)), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = row0[owner].astype(int) + local // widths[owner]
    cols = col0[owner].astype(int) + local % widths[owner]
    return rows, cols, owner


def class_raster(city: DemoCity, grid: SceneGrid) -> np.ndarray:
    """Surface class of every pixel: land cover, then water, road corridors and roofs on top."""
    classes = np.full(grid.shape, CLASSES.index("countryside"), dtype=np.uint8)
    cover = city.land_cover.to_crs(SCENE_CRS)
    for surface in (
        "farmland",
        "park",
        "compound",
        "urban_village",
        "commercial",
        "public",
        "industrial",
        "water",
    ):
        burn(classes, grid, cover.geometry[cover["cover"] == surface].to_numpy(), surface)
    roads = city.road.to_crs(SCENE_CRS)
    for road_class, half_width in ROAD_HALF_WIDTH_M.items():
        lines = roads.geometry[roads["road_class"] == road_class].to_numpy()
        burn(classes, grid, shapely.buffer(lines, half_width, cap_style="flat"), "road")
    buildings = city.building.to_crs(SCENE_CRS)
    for use in ("residential", "commercial", "public", "industrial"):
        roofs = buildings.geometry[buildings["use"] == use].to_numpy()
        burn_small_shapes(classes, grid, roofs, f"roof_{use}")
    return classes


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int = 24) -> np.ndarray:
    """Bilinearly interpolated coarse Gaussian noise: gentle texture at the ``cell`` scale."""
    rows, cols = shape[0] // cell + 2, shape[1] // cell + 2
    coarse = rng.normal(0.0, 1.0, (rows, cols))
    y = np.arange(shape[0]) / cell
    x = np.arange(shape[1]) / cell
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bottom = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def reflectance(classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Band × row × column reflectance: class surface mixed with vegetation, plus noise."""
    base = np.array([SURFACES[name].reflectance for name in CLASSES])[classes]  # (h, w, 4)
    share = np.array([SURFACES[name].vegetation for name in CLASSES])[classes]
    texture = 0.18 * smooth_noise(rng, classes.shape) + 0.05 * rng.normal(0.0, 1.0, classes.shape)
    vegetated = np.clip(share + texture * (share > 0), 0.0, 1.0)[..., None]
    surface = base * (1 - vegetated) + VEGETATION * vegetated
    brightness = 1.0 + 0.04 * smooth_noise(rng, classes.shape, cell=64)[..., None]
    noisy = surface * brightness + rng.normal(0.0, 0.004, surface.shape)
    return np.clip(noisy, 0.0, 1.0).transpose(2, 0, 1)


def write_cog(bands: np.ndarray, grid: SceneGrid, path: Path, seed: int) -> None:
    """Write uint16 bands as a Cloud-Optimized GeoTIFF: 512 tiles, overviews, deflate."""
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": len(BANDS),
        "dtype": "uint16",
        "crs": SCENE_CRS,
        "transform": grid.transform,
        "nodata": None,
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as scene:
            scene.write(np.round(bands * SCALE).astype(np.uint16))
            for index, band in enumerate(BANDS, start=1):
                scene.set_band_description(index, band)
            scene.scales = (1.0 / SCALE,) * len(BANDS)
            scene.update_tags(source="onemap synthetic demo city", seed=str(seed))
        with memory.open() as scene:
            rasterio.shutil.copy(scene, str(path), driver="COG", **COG_OPTIONS)


def write_scene(city: DemoCity, path: Path, *, seed: int) -> SceneInfo:
    """Render the city's scene and write it as a COG at ``path``."""
    rng = np.random.default_rng(seed)
    grid = scene_grid(city)
    bands = reflectance(class_raster(city, grid), rng)
    write_cog(bands, grid, Path(path), seed)
    return SceneInfo(
        Path(path), grid.bounds, SCENE_CRS, RESOLUTION_M, BANDS, grid.width, grid.height
    )


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Normalised difference vegetation index of reflectance (or scaled) bands."""
    red, nir = red.astype(float), nir.astype(float)
    return (nir - red) / np.maximum(nir + red, 1e-9)
