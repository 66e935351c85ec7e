"""pygeoapi's HTML templates made offline: CDN addresses rewritten to our vendored assets.

pygeoapi 0.21's Jinja templates load Bootstrap, Leaflet, its plugins and Swagger UI from
unpkg/jsdelivr/cdnjs. At start-up we copy them into the var folder with those addresses
replaced by files under /static/vendor (see api/web/static/vendor/README.md); assets we do not
ship (EDR coverage viewers, ReDoc, web fonts, IE shims) are dropped from the pages.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pygeoapi

PYGEOAPI_TEMPLATES = Path(pygeoapi.__file__).parent / "templates"
PYGEOAPI_STATIC = Path(pygeoapi.__file__).parent / "static"
VENDOR = "/static/vendor"

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


def offline_page(html: str) -> str:
    """One template with CDN assets pointed at local copies and the rest removed."""
    for remote, local in REWRITES.items():
        html = html.replace(remote, local)
    return REMOTE_TAG.sub("", html)


def _fingerprint() -> str:
    digest = hashlib.sha256(pygeoapi.__version__.encode())
    for remote, local in sorted(REWRITES.items()):
        digest.update(f"{remote}>{local}".encode())
    return digest.hexdigest()[:16]


def offline_templates(var_dir: Path) -> Path:
    """A copy of pygeoapi's templates that loads nothing from the internet (made once)."""
    target = var_dir / "pygeoapi-templates" / _fingerprint()
    if (target / ".complete").exists():
        return target
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(PYGEOAPI_TEMPLATES, staging)
    for page in staging.rglob("*.html"):
        page.write_text(offline_page(page.read_text(encoding="utf-8")), encoding="utf-8")
    (staging / ".complete").write_text("ok")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
