"""pygeoapi's HTML templates made offline and safe: our copy, rewritten once at start-up.

pygeoapi 0.21's Jinja templates load Bootstrap, Leaflet, its plugins and Swagger UI from
unpkg/jsdelivr/cdnjs, and carry inline ``<script>`` and ``<style>`` blocks and ``style=``
attributes, some of which embed data unescaped (``{{ data | to_json | safe }}`` inside a
script: a feature property holding ``</script><svg onload=…>`` ended the script and ran as
markup). At start-up we copy the templates into the var folder and rewrite them:

- CDN addresses point at files under /static/vendor (installed from npm by `make web`: web/package.json, web/vendor.txt);
  assets we do not ship (EDR coverage viewers, ReDoc, web fonts, IE shims) are dropped.
- Every inline script becomes a *data block* plus a static script of ours
  (api/web/static/ogc/*.js). The data block is ``<script type="application/json">`` holding
  JSON whose ``<``, ``>`` and ``&`` are ``\\u`` escapes (non-ASCII, U+2028/9 included, are
  escaped by pygeoapi's ``to_json`` already), so no value can end the block or start markup;
  the script reads it with ``JSON.parse(element.textContent)`` and builds popups from text
  nodes, never from HTML strings.
- ``<style>`` blocks and ``style=`` attributes become classes of api/web/static/ogc/ogc.css.

So the pages run under the one strict Content-Security-Policy (``script-src 'self'``,
``style-src 'self'``, no ``unsafe-inline``; api/security.py). ``check_page`` is the guard:
the rewrite fails at start-up, naming the template, when a page still holds an inline script
or style, an event-handler attribute, ``javascript:``, ``|safe`` or an ``autoescape`` switch,
or when a template we rewrite no longer has the blocks we expect (a pygeoapi upgrade).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pygeoapi
import pygeoapi.l10n as pygeoapi_l10n
import pygeoapi.util as pygeoapi_util

PYGEOAPI_TEMPLATES = Path(pygeoapi.__file__).parent / "templates"  # the originals (pygeoapi_util.TEMPLATES moves)
PYGEOAPI_STATIC = Path(pygeoapi.__file__).parent / "static"
VENDOR = "/static/vendor"
OURS = "/static/ogc"

REWRITES = {
    "https://unpkg.com/leaflet@1.3.1/dist/leaflet.css": f"{VENDOR}/leaflet/leaflet.css",
    "https://unpkg.com/leaflet@1.3.1/dist/leaflet.js": f"{VENDOR}/leaflet/leaflet.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet/1.3.1/leaflet.js": f"{VENDOR}/leaflet/leaflet.js",
    "https://unpkg.com/leaflet.markercluster/dist/leaflet.markercluster-src.js":
        f"{VENDOR}/leaflet.markercluster/leaflet.markercluster.js",
    "https://unpkg.com/leaflet.markercluster/dist/MarkerCluster.css": f"{VENDOR}/leaflet.markercluster/MarkerCluster.css",
    "https://unpkg.com/leaflet.markercluster/dist/MarkerCluster.Default.css":
        f"{VENDOR}/leaflet.markercluster/MarkerCluster.Default.css",
    "https://unpkg.com/leaflet.vectorgrid@latest/dist/Leaflet.VectorGrid.bundled.js":
        f"{VENDOR}/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    "https://unpkg.com/bootstrap@5.1.3/dist/css/bootstrap.min.css": f"{VENDOR}/bootstrap/bootstrap.min.css",
    "https://unpkg.com/swagger-ui-dist/swagger-ui.css": f"{VENDOR}/swagger-ui/swagger-ui.css",
    "https://unpkg.com/swagger-ui-dist/swagger-ui-bundle.js": f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
    "https://unpkg.com/swagger-ui-dist/swagger-ui-standalone-preset.js":
        f"{VENDOR}/swagger-ui/swagger-ui-standalone-preset.js",
    "https://unpkg.com/swagger-ui-dist/favicon-32x32.png": f"{VENDOR}/swagger-ui/favicon-32x32.png",
    "https://unpkg.com/swagger-ui-dist/favicon-16x16.png": f"{VENDOR}/swagger-ui/favicon-16x16.png",
}
# any other remote script or stylesheet tag is removed
REMOTE_TAG = re.compile(
    r"<script[^>]+src=\"https?://[^\"]+\"[^>]*>\s*</script>|<link[^>]+href=\"https?://(?!pygeoapi\.io)[^\"]+\"[^>]*/?>"
)

# -- data blocks ---------------------------------------------------------------------------
# pygeoapi's to_json (json.dumps, ensure_ascii) then the three characters that could end the
# block or open markup as JSON escapes: valid JSON, inert HTML. (Jinja decodes escapes in its
# string literals, hence the doubled backslash: the output is the six characters \u003c.)
JSON_SAFE = r"| to_json | replace('<', '\\u003c') | replace('>', '\\u003e') | replace('&', '\\u0026') | safe"
MAP = "config['server'].get('map', {})"


def data_block(expression: str) -> str:
    """A ``<script type="application/json" id="ogc-page">`` holding a Jinja expression's JSON,
    and our page.js that reads it (``OgcPage.data()``)."""
    block = f'<script type="application/json" id="ogc-page">{{{{ {expression} {JSON_SAFE} }}}}</script>'
    return block + script("page.js")


def script(name: str) -> str:
    return f'<script src="{OURS}/{name}"></script>'


BBOX = "((data.get('extent') or {}).get('spatial') or {}).get('bbox', [none])[0]"
COLLECTION_MAP = data_block(f"{{'map': {MAP}, 'bbox': {BBOX}, 'links': data.get('links', [])}}") + script("collection.js")
STAC_ITEM_MAP = data_block(f"{{'map': {MAP}, 'bbox': data.get('bbox')}}") + script("collection.js")
LIMITS = script("limits.js")

# each template's inline <script> blocks, in order, and what replaces each
SCRIPTS: dict[str, list[str]] = {
    "_base.html": [script("jsonld.js")],
    "collections/collection.html": [COLLECTION_MAP],
    "collections/items/index.html": [
        LIMITS,
        data_block(f"{{'map': {MAP}, 'features': data['features'], 'items_path': data['items_path'], "
                   "'title_field': data.get('title_field')}") + script("items.js"),
    ],
    "collections/items/item.html": [data_block(f"{{'map': {MAP}, 'feature': data}}") + script("item.js")],
    "collections/tiles/index.html": [
        "",  # the scheme picker's script is part of tiles.js (loaded at the end of the page)
        data_block(f"{{'map': {MAP}, 'url': config['server']['url'], 'id': data['id'], 'links': data['links'], "
                   "'tile_type': data.get('tile_type'), 'maxzoom': data.get('maxzoom'), 'bounds': data.get('bounds'), "
                   "'warning': _('Warning: Basemap may be in a different projection')}") + script("tiles.js"),
    ],
    "openapi/swagger.html": [data_block("{'url': data['openapi-document-path'] ~ '?f=json'}") + script("swagger.js")],
    "jobs/index.html": [LIMITS],
    "jobs/job.html": [data_block("{'parameters': data['jobs']['parameters']}") + script("job.js")],
    "jobs/results/index.html": [data_block("{'result': data.result}") + script("job.js")],
    "stac/collection_base.html": [COLLECTION_MAP],
    "stac/item.html": [STAC_ITEM_MAP],
    # EDR coverage viewer: its libraries (d3, c3, covutils, leaflet-coverage) are not shipped
    "collections/edr/query.html": [""],
}
# each template's <style> blocks, in order, and what replaces each
STYLES: dict[str, list[str]] = {
    "openapi/swagger.html": [f'<link rel="stylesheet" href="{OURS}/swagger.css">', ""],
    "openapi/redoc.html": [""],
}
# style="…" attributes (whitespace removed) → a class of ogc.css
STYLE_CLASSES = {
    "height:40px;vertical-align:middle;": "ogc-logo",
    "height:24px;vertical-align:middle;": "ogc-icon",
    "float:inline-end": "ogc-float-end",
    "overflow-x:scroll;": "ogc-scroll-x",
}
OUR_CSS = f'<link rel="stylesheet" href="{OURS}/ogc.css">'

INLINE_SCRIPT = re.compile(r"<script>.*?</script>", re.S)
STYLE_BLOCK = re.compile(r"<style[^>]*>.*?</style>", re.S)
STYLE_ATTR = re.compile(r"<(\w+)([^<>]*?)\sstyle=\"([^\"]*)\"([^<>]*)>")
CLASS_ATTR = re.compile(r"\sclass=\"([^\"]*)\"")

# what no page may keep after the rewrite
FORBIDDEN = {
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    "style block": re.compile(r"<style", re.I),
    "style attribute": re.compile(r"<[^<>]*\sstyle=", re.I),
    "event-handler attribute": re.compile(r"<[a-z][^<>]*\son[a-z]+\s*=", re.I),
    "javascript: address": re.compile(r"javascript:", re.I),
    "unescaped output": re.compile(r"\|\s*safe\b"),
    "autoescape switch": re.compile(r"{%-?\s*autoescape", re.I),
}


class UnsafeTemplate(RuntimeError):
    """A pygeoapi template we cannot serve under our policy (raised at start-up)."""


def _replace_blocks(html: str, pattern: re.Pattern[str], replacements: list[str], what: str, name: str) -> str:
    found = pattern.findall(html)
    if len(found) != len(replacements):
        raise UnsafeTemplate(f"{name}: expected {len(replacements)} {what}, found {len(found)} (pygeoapi changed?)")
    parts = iter(replacements)
    return pattern.sub(lambda _match: next(parts), html)


def _style_to_class(match: re.Match[str]) -> str:
    tag, before, style, after = match.groups()
    key = re.sub(r"\s+", "", style)
    if key not in STYLE_CLASSES:
        raise UnsafeTemplate(f"style attribute {style!r} has no class in {OURS}/ogc.css")
    cls = STYLE_CLASSES[key]
    rest = before + after
    if CLASS_ATTR.search(rest):
        rest = CLASS_ATTR.sub(lambda m: f' class="{m.group(1)} {cls}"', rest, count=1)
        return f"<{tag}{rest}>"
    return f'<{tag}{before} class="{cls}"{after}>'


def check_page(html: str, name: str = "page") -> None:
    """Raise UnsafeTemplate when ``html`` (a template after the rewrite) holds a forbidden construct."""
    without_ours = html.replace(JSON_SAFE, "")
    for what, pattern in FORBIDDEN.items():
        match = pattern.search(without_ours)
        if match:
            line = without_ours.count("\n", 0, match.start()) + 1
            raise UnsafeTemplate(f"{name}:{line}: {what} left after the rewrite: {match.group(0)[:60]!r}")


def offline_page(html: str, name: str = "") -> str:
    """One template with CDN assets pointed at local copies, data blocks and static scripts."""
    for remote, local in REWRITES.items():
        html = html.replace(remote, local)
    html = REMOTE_TAG.sub("", html)
    html = _replace_blocks(html, INLINE_SCRIPT, SCRIPTS.get(name, []), "inline scripts", name)
    html = _replace_blocks(html, STYLE_BLOCK, STYLES.get(name, []), "style blocks", name)
    html = STYLE_ATTR.sub(_style_to_class, html)
    if name == "_base.html":
        html = html.replace("{% block extrahead %}", OUR_CSS + "\n    {% block extrahead %}", 1)
    check_page(html, name)
    return html


def _fingerprint() -> str:
    digest = hashlib.sha256(pygeoapi.__version__.encode())
    digest.update(Path(__file__).read_bytes())  # any change to the rewrite makes a new copy
    return digest.hexdigest()[:16]


def offline_templates(var_dir: Path) -> Path:
    """A copy of pygeoapi's templates that loads nothing from the internet (made once), and
    made pygeoapi's default too: some of its pages (``/TileMatrixSets``) pass the whole config
    where the template configuration belongs and so fall back to its built-in templates.
    Also installs ``translate_config`` (below) for the pages' configuration."""
    target = _offline_copy(var_dir)
    pygeoapi_util.TEMPLATES = target
    pygeoapi_l10n.translate_struct = translate_config
    return target


# pygeoapi's l10n.translate_struct(config, locale, is_config=True), which every HTML page is
# rendered with, caches the translated config per *locale* for the whole process: the first
# API to render a page fixes the config of every later page. Ours has one API per view and a
# new one when the catalog changes, so pages were drawn with another view's (or an older)
# config: a collection published later, or one only staff see, was a 500 ("'dict object' has
# no attribute …"), and a second app in the process saw the first one's server URL. Here the
# cache is per config object (each API's tpl_config is built once and kept).
_ORIGINAL_TRANSLATE = pygeoapi_l10n.translate_struct
_TRANSLATED: OrderedDict[tuple[int, str], tuple[object, object]] = OrderedDict()
_TRANSLATE_LOCK = threading.Lock()
TRANSLATED_CONFIGS = 64  # views × locales kept


def translate_config(struct: Any, locale_: Any, is_config: bool = False) -> Any:
    """``translate_struct`` whose config cache is keyed by the config itself, not only the locale."""
    if not is_config or not struct or not locale_:
        return _ORIGINAL_TRANSLATE(struct, locale_, is_config)
    key = (id(struct), str(locale_))
    with _TRANSLATE_LOCK:
        hit = _TRANSLATED.get(key)
        if hit is not None and hit[0] is struct:
            _TRANSLATED.move_to_end(key)
            return hit[1]
        pygeoapi_l10n._cfg_cache.pop(locale_, None)  # noqa: SLF001 - its one-entry-per-locale cache
        result = _ORIGINAL_TRANSLATE(struct, locale_, True)
        pygeoapi_l10n._cfg_cache.pop(locale_, None)  # noqa: SLF001
        _TRANSLATED[key] = (struct, result)  # the struct held too: its id cannot be reused meanwhile
        while len(_TRANSLATED) > TRANSLATED_CONFIGS:
            _TRANSLATED.popitem(last=False)
    return result


def _offline_copy(var_dir: Path) -> Path:
    target = var_dir / "pygeoapi-templates" / _fingerprint()
    if (target / ".complete").exists():
        return target
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(PYGEOAPI_TEMPLATES, staging)
    for page in staging.rglob("*.html"):
        name = page.relative_to(staging).as_posix()
        page.write_text(offline_page(page.read_text(encoding="utf-8"), name), encoding="utf-8")
    (staging / ".complete").write_text("ok")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
