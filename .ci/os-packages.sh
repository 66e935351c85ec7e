#!/usr/bin/env bash
# Install the Debian packages onemap needs, only those that are missing.
# Used by `make demo`, `make test` and CI; safe to run again (it does nothing then).
set -euo pipefail

packages=(
  postgresql-15            # the embedded database server (initdb, pg_ctl)
  postgresql-15-postgis-3  # PostGIS 3
  postgresql-15-pgrouting  # road-network analysis in the notebooks
  gdal-bin                 # ogrinfo (OAPIF client in tests), gdalinfo; ogr2ogr (city_load benchmark baseline)
  osm2pgsql                # the PBF-import baseline of the city_load benchmark
  chromium                 # headless browser for page tests
  chromium-driver
  fonts-wqy-microhei       # CJK glyphs for zh-CN labels in page screenshots
  python3-qgis             # QGIS (headless) to test its OAPIF provider against our OGC API
  qgis-providers
  nginx                    # deployment test: reverse proxy in front of several API processes; COGs by URL
  redis-server             # the shared tile cache (ONEMAP_TILE_CACHE=redis://…) in the deployment test
)
# Node.js and npm install the pages' front-end libraries (web/package-lock.json): only when missing,
# a machine may have them from elsewhere
command -v npm >/dev/null || packages+=(nodejs npm)
# extra packages can be asked for: ONEMAP_EXTRA_OS_PACKAGES="qgis"
read -r -a extra <<< "${ONEMAP_EXTRA_OS_PACKAGES:-}"
packages+=("${extra[@]}")

missing=()
for pkg in "${packages[@]}"; do
  [ -n "$pkg" ] || continue
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "onemap: installing missing OS packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "onemap: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
