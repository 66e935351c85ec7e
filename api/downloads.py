"""Sending a vector layer as a file: written in a render worker, streamed back, removed.

``layers.export`` writes the file in one of the render workers (``api.workers``: memory cap,
time budget ``ONEMAP_PROCESS_TIMEOUT_S``, 503 when all are busy) into a folder of its own
under ``<var_dir>/downloads``. The server opens the file and removes the folder at once (the
open handle keeps the bytes until they are sent), so nothing stays on disk whether the
client reads it all, leaves half way, or the write failed. Folders a crashed server left
behind are swept by the next download.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api.workers import pool_of
from layers.download import DownloadOptions
from layers.export import ExportBudget, ExportedFile, export_at
from spatial.config import Settings

DOWNLOADS = "downloads"
CHUNK = 1024 * 1024
STALE_S = 3600.0


def budget_of(settings: Settings) -> ExportBudget:
    """The budget of one download, from the settings."""
    return ExportBudget(max_features=settings.max_download_features, max_bytes=settings.max_download_bytes,
                        statement_timeout_s=settings.statement_timeout_s)  # fmt: skip


def new_folder(root: Path) -> Path:
    """A fresh folder for one download (stale ones swept first)."""
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if time.time() - old.stat().st_mtime > STALE_S:
            shutil.rmtree(old, ignore_errors=True)
    folder = root / uuid.uuid4().hex
    folder.mkdir()
    return folder


def attachment(filename: str) -> dict[str, str]:
    """The Content-Disposition that makes a browser save the answer as ``filename``."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


async def layer_file(request: Request, row: dict[str, Any], options: DownloadOptions) -> Response:
    """The layer's file, written in a render worker and streamed from an already removed folder."""
    settings = request.app.state.settings
    url = request.app.state.engine.url.render_as_string(hide_password=False)
    folder = await run_in_threadpool(new_folder, settings.var_dir / DOWNLOADS)
    try:
        exported: ExportedFile = await pool_of(settings).run(
            export_at, url, row, options, folder, budget_of(settings), timeout=settings.process_timeout_s
        )
        handle = await run_in_threadpool(open, exported.path, "rb")
    finally:
        await run_in_threadpool(shutil.rmtree, folder, True)
    headers = attachment(exported.filename) | {"Content-Length": str(os.fstat(handle.fileno()).st_size)}
    return StreamingResponse(chunks(handle), media_type=exported.media_type, headers=headers)


def chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes a chunk at a time; the handle closed at the end (or when dropped)."""
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk
