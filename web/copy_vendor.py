"""Copy the front-end files listed in web/vendor.txt from web/node_modules to api/web/static/vendor.

Run by ``make web`` after ``npm ci``; nothing here downloads. A listed file that npm did not
install stops the build with its name (a package renamed a file in a new version).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent
MODULES = WEB / "node_modules"
VENDOR = WEB.parent / "api" / "web" / "static" / "vendor"


def entries(manifest: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            dest, source = line.split()
            pairs.append((dest, source))
    return pairs


def copy(dest: str, source: str) -> None:
    src, out = MODULES / source, VENDOR / dest
    if not src.exists():
        sys.exit(f"web/vendor.txt: {source} is not in web/node_modules (run npm ci in web/)")
    if source.endswith("/"):
        shutil.copytree(src, out, dirs_exist_ok=True)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)


def main() -> None:
    for dest, source in entries(WEB / "vendor.txt"):
        copy(dest, source)
    (VENDOR / ".installed").touch()


if __name__ == "__main__":
    main()
