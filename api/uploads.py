"""Multipart uploads read within a size limit and saved to a private temporary folder.

The limit (``ONEMAP_MAX_UPLOAD_BYTES``) is enforced on the bytes actually received, not only
on Content-Length, so a chunked or lying client is cut off too (413). The file keeps its
name's suffix (the loader picks the format by it); the folder is removed afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from api.limits import refuse_declared
from spatial.errors import InsufficientStorage, InvalidInput, PayloadTooLarge

CHUNK = 1 << 20


@dataclass
class SavedUpload:
    """The uploaded file on disk and the form's text fields."""

    path: Path
    fields: dict[str, str] = field(default_factory=dict)

    def field(self, name: str) -> str:
        """A required text field; InvalidInput when absent."""
        value = self.fields.get(name, "").strip()
        if not value:
            raise InvalidInput(f"the form field {name!r} is required")
        return value


async def limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused with PayloadTooLarge once it passes ``limit`` bytes."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(_too_large(limit))
        yield chunk


@contextlib.asynccontextmanager
async def save_upload(request: Request, limit: int) -> AsyncIterator[SavedUpload]:
    """Parse a multipart/form-data body with one ``file`` part into a temporary folder."""
    refuse_declared(request, limit, _too_large(limit))
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("send the file as multipart/form-data with a part named 'file'")
    parser = MultiPartParser(request.headers, limited_stream(request, limit), max_files=1, max_fields=50)
    try:
        form = await parser.parse()
    except MultiPartException as err:
        raise InvalidInput(f"the upload is not a readable multipart form: {err.message}") from None
    except OSError as err:  # the parser spools big parts to the temporary folder
        raise disk_full(err) from None
    folder: Path | None = None
    try:
        try:
            folder = Path(tempfile.mkdtemp(prefix="onemap-upload-"))
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidInput("the form has no file part named 'file'")
            path = folder / _safe_name(upload.filename or "upload")
            with path.open("wb") as out:
                while chunk := await upload.read(CHUNK):
                    out.write(chunk)
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        except OSError as err:
            raise disk_full(err) from None
        finally:
            await form.close()
        yield SavedUpload(path, fields)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def disk_full(err: OSError) -> Exception:
    """InsufficientStorage for a full disk or quota; any other OSError as it was."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(
            "the server's disk is full: the upload was discarded and nothing was changed; "
            "try again later or tell the operator"
        )
    return err


def _safe_name(name: str) -> str:
    """A file name without folders or odd characters, keeping its suffix."""
    base = Path(name.replace("\\", "/")).name
    return re.sub(r"[^\w.\-]+", "_", base) or "upload"


def _too_large(limit: int) -> str:
    return f"the upload is larger than the limit of {limit / 1024 / 1024:g} MiB (ONEMAP_MAX_UPLOAD_BYTES)"
