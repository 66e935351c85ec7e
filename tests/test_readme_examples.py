"""The README's examples work: its request examples answer, and its shell blocks run (issue 15, item 5).

Requests: every `GET /…` example in the README's tables and every http://127.0.0.1:8000/…
address in its URL table is requested from the served demo: each must answer 200, and the
geocoding and suggestion examples must find something (an example that finds nothing teaches
nothing). Examples with placeholders ({z}, …, om_…) are left to the tests of their own doors.

Shell blocks: every command of every fenced `sh` block of README.md and examples/cities/README.md
is run for real, in the README's order, as a reader would type them (tests/readme_shell.py): the
"Using another PostGIS" block against a throwaway database of the test server (its `export`
names the database; `onemap serve` listens on a free port and stays up for the blocks after it),
the imagery block on scenes made over the demo city, the department block with the token its
own `onemap tokens create` prints and the real curl and ogrinfo against that server. Each command
must exit 0 (curl: HTTP status below 400) and show what the README says it does. A command that
is neither in RUN nor in NOT_RUN (with the reason) fails the inventory test, so the README cannot
gain a command this test silently leaves out. Every `onemap …` written inline must name a real
subcommand and real options.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import httpx
import pytest

from spatial.config import PROJECT_ROOT
from spatial.postgis import free_port
from tests.live import get_json
from tests.readme_shell import (
    FENCE,
    SHELL_LANGUAGES,
    Command,
    Outcome,
    Shell,
    fenced_blocks,
    onemap_command,
    shell_commands,
)

README = PROJECT_ROOT / "README.md"
GET_EXAMPLE = re.compile(r"`GET (/[^`\s]+)`")
LOCAL_URL = re.compile(r"http://127\.0\.0\.1:8000(/[^\s|)`]*)")
PLACEHOLDER = re.compile(r"[{}…\[\]]|om_")
FINDS_SOMETHING = ("/api/v1/geocode", "/api/v1/suggest", "/api/v1/reverse")
STAFF_ONLY = ("/api/v1/supervision/", "/api/v1/departments")
"""Doors the README says are for staff: anonymous, they must refuse with 401 (not fail)."""


def examples(text: str) -> list[str]:
    """Concrete request paths in the README (no placeholders), in order, once each."""
    found = GET_EXAMPLE.findall(text) + LOCAL_URL.findall(text)
    paths = [p.rstrip(".,") for p in found if not PLACEHOLDER.search(p)]
    return list(dict.fromkeys(paths))


def test_the_readme_has_request_examples() -> None:
    paths = examples(README.read_text(encoding="utf-8"))
    assert any(p.startswith("/api/v1/geocode?q=") for p in paths) and len(paths) >= 8, paths


@pytest.mark.parametrize("path", examples(README.read_text(encoding="utf-8")))
def test_a_readme_example_answers(demo_server: str, path: str) -> None:
    response = httpx.get(demo_server + path, timeout=60)
    expected = 401 if path.startswith(STAFF_ONLY) else 200
    assert response.status_code == expected, (path, response.status_code, response.text[:300])
    if path.startswith(FINDS_SOMETHING):
        assert response.json()["features"], f"{path} finds nothing in the demo city"


def test_placeholders_are_recognised() -> None:
    sample = "`GET /api/v1/geocode?q=x` `GET /tiles/{z}/{x}.png` http://127.0.0.1:8000/ogc …"
    assert examples(sample) == ["/api/v1/geocode?q=x", "/ogc"]
    assert not Path("nonexistent").exists()


# ------------------------------------------------------------------------- the shell blocks
DOCUMENTS = (README, PROJECT_ROOT / "examples" / "cities" / "README.md")
COMMANDS = [command for document in DOCUMENTS for command in shell_commands(document)]
SCENE_SIZE = 64
"""Pixels a side of the scenes made for the imagery block (0.0001° each, about 10 m)."""


def _exits_ok(outcome: Outcome) -> None:
    assert outcome.returncode == 0, outcome.output[-3000:]


def _schema_upgraded(outcome: Outcome) -> None:
    _exits_ok(outcome)
    assert "database schema at revision" in outcome.output, outcome.output


def _demo_loaded(outcome: Outcome) -> None:
    _exits_ok(outcome)
    assert "demo city 'small' (seed 42) loaded" in outcome.output and "grid version" in outcome.output, outcome.output


def _served(outcome: Outcome) -> None:
    """Up (its /health answers 200) until stopped; a SIGTERM stops it (uvicorn re-raises it when done)."""
    assert outcome.returncode is None, f"onemap serve exited {outcome.returncode}: {outcome.output}"
    assert outcome.http_status == 200, outcome.output
    assert outcome.stopped_with in (0, -signal.SIGTERM), (outcome.stopped_with, outcome.output)


def _option(outcome: Outcome, name: str) -> str:
    argv = outcome.command.argv
    return argv[argv.index(name) + 1]


def _scene_added(outcome: Outcome) -> None:
    _exits_ok(outcome)
    layer, scene = _option(outcome, "--layer"), Path(outcome.command.argv[3]).stem
    assert f"imagery layer {layer} " in outcome.output and f"(scene {scene}," in outcome.output, outcome.output


def _scenes_latest_first(outcome: Outcome) -> None:
    """The README says `# latest first`: acquisition times in descending order, both scenes listed."""
    _exits_ok(outcome)
    times = re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", outcome.output)
    assert len(times) == 2 and times == sorted(times, reverse=True), outcome.output


def _scene_removed(outcome: Outcome) -> None:
    _exits_ok(outcome)
    layer, scene = outcome.command.argv[-2:]
    assert f"scene {scene} removed from {layer}" in outcome.output, outcome.output


def _token_printed(outcome: Outcome) -> None:
    """The README says `# prints om_…`: the token is on stdout, and it is what later commands send."""
    _exits_ok(outcome)
    assert re.search(TOKEN, outcome.stdout), outcome.output


def _curl_answered(outcome: Outcome) -> None:
    """Exit 0, an HTTP status below 400; a feature POSTed to items is created (201 with Location)."""
    _exits_ok(outcome)
    assert outcome.http_status is not None and outcome.http_status < 400, (outcome.http_status, outcome.output)
    if "-d" in outcome.command.argv and outcome.command.argv[-1].endswith("/items"):
        assert outcome.http_status == 201, outcome.output
        assert re.search(r"(?im)^location: \S+/items/\S+", outcome.stdout), outcome.stdout


def _ogrinfo_read(outcome: Outcome) -> None:
    """GDAL's OAPIF driver opens the layer with the token and counts its features."""
    _exits_ok(outcome)
    layer = outcome.command.argv[-1]
    assert f"Layer name: {layer}" in outcome.stdout, outcome.output[-3000:]
    count = re.search(r"Feature Count: (\d+)", outcome.stdout)
    assert count and int(count.group(1)) > 0, outcome.output[-3000:]


TOKEN = r"om_[A-Za-z0-9_-]{20,}"
RUN: dict[str, Callable[[Outcome], None]] = {
    "export ONEMAP_DATABASE_URL": _exits_ok,
    "onemap db upgrade": _schema_upgraded,
    "onemap demo": _demo_loaded,
    "onemap serve": _served,
    "onemap imagery add": _scene_added,
    "onemap imagery scenes": _scenes_latest_first,
    "onemap imagery remove-scene": _scene_removed,
    "onemap tokens create": _token_printed,
    "curl": _curl_answered,
    "ogrinfo": _ogrinfo_read,
}
"""The README's commands that are run, each with what its outcome must show."""
NOT_RUN = {
    "make demo": "installs OS packages, then serves on the fixed port 8000 in the foreground until "
    "Ctrl-C; its steps (database, demo city, serve) are the PostGIS block's commands run here",
    "make test": "runs the whole suite, this test included",
    "make notebooks": "starts JupyterLab in the foreground; make test runs every notebook (nbmake)",
}
"""The README's commands that are not run, and why."""


def scene_maker(base: str, brightness: int) -> Callable[[Path], None]:
    """A 4-band uint16 GeoTIFF (EPSG:4326) of SCENE_SIZE² px at the served city's centre."""

    def make(path: Path) -> None:
        import numpy as np
        import rasterio
        from affine import Affine

        lon, lat = get_json(f"{base}/api/v1/city")["center"]
        ramp = np.arange(SCENE_SIZE * SCENE_SIZE, dtype="uint16").reshape(SCENE_SIZE, SCENE_SIZE) % 1000
        profile = {"driver": "GTiff", "width": SCENE_SIZE, "height": SCENE_SIZE, "count": 4, "dtype": "uint16",
                   "crs": "EPSG:4326", "transform": Affine(0.0001, 0, lon, 0, -0.0001, lat)}  # fmt: skip
        with rasterio.open(path, "w", **profile) as scene:
            scene.write(np.stack([ramp + brightness * band for band in range(1, 5)]))

    return make


@pytest.fixture(scope="module")
def readme_run(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Command, Outcome]]:
    """Every command of the READMEs' shell blocks (but NOT_RUN's) run in order; what each gave.

    The database is a new empty one of the test server (the README's own `onemap db upgrade`
    and `onemap demo` fill it); it is also set before the `export`, so no command can reach the
    developer's embedded cluster. Files are written in a temporary folder.
    """
    folder = tmp_path_factory.mktemp("readme")
    database, port = make_database("onemap_readme"), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env.update(ONEMAP_DATABASE_URL=database, ONEMAP_VAR_DIR=str(folder / "var"), ONEMAP_PORT=str(port))
    shell = Shell(
        env=env, cwd=folder, base_url=base, database_url=database,
        placeholders={"http://127.0.0.1:8000": base},
        inputs={"gf2_0501.tif": scene_maker(base, 100), "gf2_0915.tif": scene_maker(base, 300)},
        captures={"onemap tokens create": (TOKEN, "om_…")},
    )  # fmt: skip
    outcomes: dict[Command, Outcome] = {}
    try:
        for command in COMMANDS:
            if command.key not in NOT_RUN:
                outcomes[command] = shell.run(command)
    finally:
        shell.stop()
    yield outcomes


def test_every_readme_command_is_run_or_listed() -> None:
    """A new kind of command in a README fails here until it is run (RUN) or listed with a reason."""
    keys = {command.key for command in COMMANDS}
    unknown = sorted(keys - set(RUN) - set(NOT_RUN))
    assert not unknown, f"README commands neither run nor listed in NOT_RUN: {unknown}"
    stale = sorted((set(RUN) | set(NOT_RUN)) - keys)
    assert not stale, f"RUN/NOT_RUN name commands no README has any more: {stale}"
    assert {"onemap demo", "onemap serve", "curl"} <= keys


def test_commands_are_only_in_shell_blocks() -> None:
    """A command written in a block of another language (or none) would not be run: none is."""
    starts = re.compile(r"^\s*(?:\$ )?(?:\.venv/bin/)?(?:onemap|curl|make|ogrinfo) ", re.M)
    for document in DOCUMENTS:
        for block in fenced_blocks(document.read_text(encoding="utf-8")):
            if block.language not in SHELL_LANGUAGES:
                assert not starts.search(block.text), f"{document.name}:{block.line}: a command outside an sh block"


@pytest.mark.parametrize(
    "command", [c for c in COMMANDS if c.key not in NOT_RUN], ids=lambda c: f"{c.where} {c.key}"
)
def test_a_readme_command_runs(readme_run: dict[Command, Outcome], command: Command) -> None:
    RUN[command.key](readme_run[command])


# ------------------------------------------------------------------------- inline commands
INLINE_ONEMAP = re.compile(r"`((?:\.venv/bin/)?onemap [^`]+)`")
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def inline_commands() -> list[str]:
    """Every `onemap …` written inline (in tables and prose) of the READMEs, once each."""
    found: list[str] = []
    for document in DOCUMENTS:
        text = FENCE.sub("", document.read_text(encoding="utf-8"))
        found += [" ".join(match.split()) for match in INLINE_ONEMAP.findall(text)]
    return list(dict.fromkeys(found))


@pytest.mark.parametrize("written", inline_commands())
def test_an_inline_command_is_real(written: str) -> None:
    """It names a subcommand of the real CLI (not a group, but for `onemap --help`) and real options."""
    words = written.replace("\\|", "|").split()[1:]
    path, command = onemap_command(words)
    rest = words[len(path) - 1 :]
    if isinstance(command, click.Group):
        assert all(word.startswith("-") for word in rest), f"`{written}`: no command {' '.join(path)} {rest[0]}"
    options = {"-h", "--help"} | {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    unknown = [option for option in OPTION.findall(" ".join(rest)) if option not in options]
    assert not unknown, f"`{written}`: {' '.join(path)} has no option {unknown}"


def test_inline_commands_are_found() -> None:
    written = inline_commands()
    assert "onemap tokens create" in written and len(written) >= 20, written


def test_inline_make_targets_exist() -> None:
    """Every `make TARGET` the READMEs name (run or not) is a target of the Makefile."""
    targets = set(re.findall(r"^([\w-]+):", (PROJECT_ROOT / "Makefile").read_text(), re.M))
    written = {t for d in DOCUMENTS for t in re.findall(r"`make ([a-z][\w-]*)", d.read_text(encoding="utf-8"))}
    written |= {c.key.split()[1] for c in COMMANDS if c.key.startswith("make ")}
    assert {"demo", "test", "lint"} <= written <= targets, sorted(written - targets)
