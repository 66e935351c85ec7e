"""Sending a vector layer as a file: written in a thread, streamed back, removed.

``layers.export`` writes the file in a worker thread (the event loop keeps answering) into a
folder of its own under ``<var_dir>/downloads``; at most ``ONEMAP_RENDER_WORKERS`` downloads are
written at once per server process, up to ``ONEMAP_RENDER_QUEUE`` more wait, beyond that the
answer is 503 with ``Retry-After``. The server opens the file and removes the folder at once
(the open handle keeps the bytes until they are sent), so nothing stays on disk whether the
client reads it all, leaves half way, or the write failed. Folders a crashed server left
behind are swept by the next download.

Why not the render workers (``api.workers``): pyarrow and pyogrio's own GDAL add about 450 MB
of address space to a process, which would count against every imagery render that process
ran afterwards (``ONEMAP_RENDER_MEMORY_MB``, RLIMIT_AS). A download's memory is bounded by its
batches (``layers.export_rows``), its size by ``ONEMAP_MAX_DOWNLOAD_FEATURES``/``_BYTES``, its
reads by the statement timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from layers.download import DownloadOptions
from layers.export import ExportBudget, ExportedFile, export_layer
from spatial.config import Settings
from spatial.errors import ServerBusy

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
        with contextlib.suppress(OSError):  # another request may be removing it
            if time.time() - old.stat().st_mtime > STALE_S:
                shutil.rmtree(old, ignore_errors=True)
    folder = root / uuid.uuid4().hex
    folder.mkdir()
    return folder


def writing_slots(request: Request) -> anyio.CapacityLimiter:
    """The server process's download writers: ``ONEMAP_RENDER_WORKERS`` at once."""
    state = request.app.state
    slots = getattr(state, "download_slots", None)
    if slots is None:
        slots = state.download_slots = anyio.CapacityLimiter(state.settings.render_workers)
    return slots


def attachment(filename: str) -> dict[str, str]:
    """The Content-Disposition that makes a browser save the answer as ``filename``."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


async def layer_file(request: Request, row: dict[str, Any], options: DownloadOptions) -> Response:
    """The layer's file, written in a thread and streamed from an already removed folder."""
    settings, engine = request.app.state.settings, request.app.state.engine
    slots = writing_slots(request)
    if slots.statistics().tasks_waiting >= settings.render_queue:
        raise ServerBusy(f"{slots.total_tokens:g} downloads are being written and {settings.render_queue} wait: "
                         "try again shortly (ONEMAP_RENDER_WORKERS, ONEMAP_RENDER_QUEUE)", retry_after=2)  # fmt: skip
    folder = await run_in_threadpool(new_folder, settings.var_dir / DOWNLOADS)
    try:
        exported: ExportedFile = await anyio.to_thread.run_sync(
            export_layer, engine, row, options, folder, budget_of(settings), limiter=slots
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
