"""Load the demo city: generate it, hand it over as files + a profile, load those like any city.

The base map (divisions, roads, buildings, POIs, door plates) is written to FlatGeobuf files
with a profile (``layers.demo.city_files``) and loaded by ``layers.city.load.load_city``: the
same readers, checks, versioning and derived steps as ``onemap city load``. The department
overlays (emergency facilities, air quality, city components) and the catalog entries of the
demo are written in the same transaction (``load_city``'s ``extra``), so a failure anywhere
leaves the previous demo whole.

The imagery scene is rendered to a temporary file in ``settings.imagery_dir`` before the
transaction starts and moved to ``demo_scene.tif`` only once the data are committed; any
failure rolls the database back and removes the temporary file, so the previous demo (data and
scene) stays whole. Re-running replaces the demo with the same result for the same seed.

The overlay tables are ANALYZEd inside the transaction, before the catalog is written: the
catalog's feature counts read the planner's estimate, which TRUNCATE does not reset, and the
fresh statistics are committed together with the data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Connection, Engine, text

from layers.bulk import copy_frame
from layers.catalog import LayerSpec, register_layer, upsert_department
from layers.city.load import CheckedCity, checked_or_refused, write_city
from layers.city.report import CityReport
from layers.demo import names as nm
from layers.demo.city_files import write_city_files
from layers.demo.generate import GENERATION_STAGES, TABLE_ORDER, DemoCity, generate_city
from layers.demo.imagery import SceneInfo, write_scene
from spatial.access.principal import Principal
from spatial.config import Settings

SCENE_NAME = "demo_scene.tif"
DEMO_TABLES = tuple(f"{schema}.{table}" for schema, table in TABLE_ORDER)
OVERLAY_TABLES = tuple(f"{schema}.{table}" for schema, table in TABLE_ORDER if schema != "basemap")

Advance = Callable[[float], None]


# ------------------------------------------------------------------------------ summary
@dataclass
class DemoSummary:
    """What a demo load did: rows per table, time per step, the scene it wrote."""

    size: str
    seed: int
    counts: dict[str, int]
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    scene: SceneInfo | None = None

    def describe(self) -> str:
        """A readable multi-line summary for the command line."""
        lines = [f"demo city '{self.size}' (seed {self.seed}) loaded in {self.seconds:.1f} s"]
        width = max(len(table) for table in self.counts)
        lines += [f"  {table:<{width}}  {count:>10,}" for table, count in self.counts.items()]
        if self.scene is not None:
            scene = self.scene
            lines.append(
                f"  imagery {scene.path} ({scene.width} × {scene.height} px, "
                f"{len(scene.bands)} bands {'/'.join(scene.bands)}, {scene.resolution:g} m, {scene.crs})"
            )
        lines.append(
            "  steps: " + " · ".join(f"{step} {sec:.1f} s" for step, sec in self.steps.items())
        )
        return "\n".join(lines)


# ------------------------------------------------------------------------------ progress
class LoadProgress:
    """Rich progress bars for the long steps, or silence when there is no console."""

    def __init__(self, console: Console | None) -> None:
        self._progress = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            if console is not None
            else None
        )

    def __enter__(self) -> LoadProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextlib.contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Advance]:
        """A bar for one step; yields a function that advances it."""
        if self._progress is None:
            yield lambda _amount: None
            return
        progress = self._progress
        task_id = progress.add_task(description, total=total)
        yield lambda amount: progress.advance(task_id, amount)
        progress.update(task_id, completed=total if total is not None else 1, total=total or 1)


class StepTimer:
    """Seconds spent in each named step."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name`` (times add up if repeated)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - started


# ------------------------------------------------------------------------------ the load
def load_demo(
    engine: Engine,
    settings: Settings,
    *,
    size: str = "small",
    seed: int = 42,
    imagery: bool = True,
    console: Console | None = None,
    principal: Principal,
) -> DemoSummary:
    """Generate the demo city and replace the base map (a new version), overlays, catalog and scene."""
    started = time.perf_counter()
    timer = StepTimer()
    with (
        LoadProgress(console) as progress,
        tempfile.TemporaryDirectory(prefix="onemap-demo-") as folder,
    ):
        with timer.step("generate"):
            city = generate_with_progress(progress, size, seed)
        with timer.step("imagery and files"):
            # the scene renders in a forked process while the city's files are written, read
            # back and checked here (both are CPU-bound: a thread would wait for the GIL)
            rendering = SceneRender(city, settings, seed) if imagery else None
            try:
                checked, report = check_city_files(city, Path(folder))
            except BaseException:
                if rendering is not None:
                    rendering.discard()
                raise
            scene = rendering.result(progress) if rendering is not None else None
        final_path = settings.imagery_dir / SCENE_NAME

        def overlays(conn: Connection) -> None:
            """The demo's department overlays and catalog, in the base map's transaction."""
            replace_overlay_tables(conn, city, progress)
            register_demo_layers(conn, final_path if scene else None, scene)

        try:
            with timer.step("database"), progress.task("load the base map", 1) as advance:
                write_city(
                    engine,
                    checked,
                    report,
                    principal=principal,
                    settings=settings,
                    extra=overlays,
                    grid=False,
                )  # `onemap demo` builds its grid next (grid_management)
                advance(1)
        except BaseException:
            if scene is not None:
                scene.path.unlink(missing_ok=True)
            raise
        if scene is not None:
            os.chmod(scene.path, 0o644)  # mkstemp made it private; the scene is served
            os.replace(scene.path, final_path)
            scene = dataclasses.replace(scene, path=final_path)
    return DemoSummary(size, seed, city.counts(), time.perf_counter() - started, timer.steps, scene)


class SceneRender:
    """``render_scene`` in a forked child process (it inherits the generated city; only the
    small SceneInfo comes back through a pipe)."""

    def __init__(self, city: DemoCity, settings: Settings, seed: int) -> None:
        context = multiprocessing.get_context("fork")
        self._folder = settings.imagery_dir
        self._answers, sender = context.Pipe(duplex=False)

        def render() -> None:
            try:
                sender.send(("scene", render_scene(LoadProgress(None), city, settings, seed)))
            except BaseException as err:  # reported to the parent, which raises it
                sender.send(("error", f"{type(err).__name__}: {err}"))

        self._process = context.Process(target=render, name="onemap-demo-scene", daemon=True)
        self._process.start()
        sender.close()

    def result(self, progress: LoadProgress) -> SceneInfo:
        """The rendered scene (waits for it); RuntimeError with the child's reason on failure."""
        with progress.task("render imagery", 1) as advance:
            try:
                kind, value = self._answers.recv()
            except EOFError:
                kind, value = (
                    "error",
                    f"the imagery process ended with code {self._process.exitcode}",
                )
            self._process.join()
            advance(1)
        if kind != "scene":
            raise RuntimeError(f"rendering the demo scene failed: {value}")
        return value

    def discard(self) -> None:
        """Stop waiting: end the child and remove what it wrote."""
        self._process.kill()
        self._process.join()
        for partial in self._folder.glob(".demo_scene-*.tif"):
            partial.unlink(missing_ok=True)


def check_city_files(city: DemoCity, folder: Path) -> tuple[CheckedCity, CityReport]:
    """Write the demo's base map as files with a profile, then read and check them (no database)."""
    return checked_or_refused(write_city_files(city, folder))


def generate_with_progress(progress: LoadProgress, size: str, seed: int) -> DemoCity:
    """generate_city with a bar that advances stage by stage."""
    with progress.task("generate city", len(GENERATION_STAGES)) as advance:
        stages_seen: list[str] = []

        def on_stage(name: str) -> None:
            """Advance once per finished stage."""
            if stages_seen:
                advance(1)
            stages_seen.append(name)

        return generate_city(size, seed, on_stage=on_stage)


def render_scene(
    progress: LoadProgress, city: DemoCity, settings: Settings, seed: int
) -> SceneInfo:
    """Write the scene to a temporary file beside its final place."""
    settings.imagery_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".demo_scene-", suffix=".tif", dir=settings.imagery_dir)
    os.close(handle)
    try:
        with progress.task("render imagery", 1) as advance:
            scene = write_scene(city, Path(name), seed=seed)
            advance(1)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return scene


def replace_overlay_tables(conn: Connection, city: DemoCity, progress: LoadProgress) -> None:
    """Empty the demo's overlay tables, COPY their frames, realign id sequences, refresh statistics.

    ANALYZE runs here, inside the transaction, because the catalog's feature counts read the
    planner's row estimate and TRUNCATE leaves the old estimate in place.
    """
    conn.execute(text(f"TRUNCATE {', '.join(OVERLAY_TABLES)} RESTART IDENTITY CASCADE"))
    for (schema, table), frame in city.tables().items():
        if schema == "basemap":
            continue  # loaded by the city loader from the files
        columns = [column for column in frame.columns if column != frame.geometry.name] + ["geom"]
        frame = frame.rename_geometry("geom") if frame.geometry.name != "geom" else frame
        with progress.task(f"copy {schema}.{table}", len(frame)) as advance:
            copy_frame(conn, schema, table, frame, columns, on_rows=advance)
    for qualified in OVERLAY_TABLES:
        reset_id_sequence(conn, qualified)
        conn.execute(text(f"ANALYZE {qualified}"))


def reset_id_sequence(conn: Connection, qualified: str) -> None:
    """Point the table's id sequence past its largest id (explicit ids were copied)."""
    sequence = conn.execute(
        text(
            "SELECT pg_get_serial_sequence(:table, 'id') FROM information_schema.columns "
            "WHERE table_schema || '.' || table_name = :table AND column_name = 'id'"
        ),
        {"table": qualified},
    ).scalar()
    if sequence:
        conn.execute(
            text(f"SELECT setval(:seq, coalesce((SELECT max(id) FROM {qualified}), 0) + 1, false)"),
            {"seq": sequence},
        )


# ------------------------------------------------------------------------------ catalog
BASEMAP_KEYWORDS = ["一张图", "one map", "demo", "西安", "Xi'an"]


def demo_layers(scene_path: Path | None) -> list[LayerSpec]:
    """The demo's own catalog entries: its overlays and its scene (the base map's are the city
    loader's, titled after the city)."""

    def vector(
        layer_id: str, table: str, titles: tuple[str, str], department: str, **extra: Any
    ) -> LayerSpec:
        """A table-backed overlay (schema thematic)."""
        return LayerSpec(
            id=layer_id,
            title_zh=titles[0],
            title_en=titles[1],
            department_code=department,
            storage_schema="thematic",
            storage_table=table,
            **extra,
        )

    layers = [
        vector("emergency_facilities", "emergency_facility", ("应急设施", "Emergency facilities"), "emergency",
               description="医院、消防救援站与应急避难场所 (hospitals, fire stations, shelters); demo data.",
               keywords=["应急", "emergency", "demo"], style={"color": "#d62728", "symbol_by": "kind"}),
        vector("aq_stations", "aq_station", ("空气质量监测站", "Air-quality stations"), "environment",
               description="环境空气质量自动监测站 (air-quality monitoring stations); demo data.",
               keywords=["空气质量", "air quality", "demo"], style={"color": "#17becf"}),
        vector("aq_readings", "aq_reading", ("空气质量小时数据", "Hourly air-quality readings"), "environment",
               visibility="internal", time_field="observed_at",
               description="逐小时 PM2.5、PM10、NO2、O3 与 AQI (HJ 633); one demo week.",
               keywords=["空气质量", "AQI", "PM2.5", "demo"], style={"color_by": "aqi"}),
        vector("city_components", "city_component", ("城市部件", "City components"), "urban",
               visibility="department",
               description="城市管理部件：井盖、路灯、垃圾箱等 (manhole covers, lamps, litter bins…); demo data.",
               keywords=["城市管理", "部件", "demo"], style={"color": "#ff7f0e", "symbol_by": "category_code"}),
    ]  # fmt: skip
    if scene_path is not None:
        layers.append(
            LayerSpec(
                id="demo_imagery",
                title_zh="示范影像",
                title_en="Demo imagery",
                department_code="planning",
                kind="imagery",
                storage_path=str(scene_path),
                description="合成四波段影像 (blue, green, red, nir; 10 m, UTM 49N, COG) of the demo city.",
                keywords=[*BASEMAP_KEYWORDS, "影像", "imagery", "NDVI"],
                style={"bands": [3, 2, 1], "rescale": [0, 2500]},
            )
        )
    return layers


def register_demo_layers(
    conn: Connection, scene_path: Path | None, scene: SceneInfo | None
) -> None:
    """Upsert the four departments and register every demo layer (and the scene's extent)."""
    for code, name in nm.DEPARTMENTS.items():
        upsert_department(conn, code, name.zh, name.en)
    for spec in demo_layers(scene_path):
        register_layer(conn, spec)
    if scene is not None:
        set_layer_extent(conn, "demo_imagery", scene.lonlat_bounds())


def set_layer_extent(
    conn: Connection, layer_id: str, bounds: tuple[float, float, float, float]
) -> None:
    """Record a lon/lat bounding box as a layer's extent (layers without a table have no stats)."""
    conn.execute(
        text(
            "UPDATE catalog.layer SET extent = ST_MakeEnvelope(:w, :s, :e, :n, 4326) WHERE id = :id"
        ),
        {"w": bounds[0], "s": bounds[1], "e": bounds[2], "n": bounds[3], "id": layer_id},
    )
