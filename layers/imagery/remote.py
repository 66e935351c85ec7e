"""Scenes whose Cloud-Optimized GeoTIFF lives behind a URL, read by GDAL range requests.

A remote scene is catalogued with its URL (``http(s)://…/scene.tif``, or ``s3://bucket/key.tif``
for S3-style object storage) and the object's size and ETag at registration. Readers get a
``RemoteCOG``: a ``Path`` whose ``str()`` is GDAL's name for the object (``/vsicurl/<url>``,
``/vsis3/<bucket>/<key>``), so every ``rasterio.open(scene.path)`` reads it through HTTP range
requests (headers, then the blocks of the overview a read needs; never the whole file), and
whose ``stat()`` answers from the catalog (size, ETag) without a request, so readers' per-file
caches key on the object's version as they do on a local file's mtime.

GDAL's network settings are given defaults here, at import (in the server and in every render
worker, which imports this module to read), unless the environment sets them: time-outs so a
server that goes away costs seconds, not a hang; one retry; only ``.tif``/``.tiff`` fetched (no
side-car probes); a bounded block cache.
``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` (no directory listing request at open) is *not* set
process-wide, as it would hide the side-cars of local inputs (``.tfw``, ``.prj``, ``.aux.xml``):
imagery opens its COGs inside ``rasterio.Env(**readers.GDAL_ENV)``, which sets it.
``/vsis3/`` takes its credentials and endpoint from the standard ``AWS_*`` variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_S3_ENDPOINT``,
``AWS_VIRTUAL_HOSTING``, ``AWS_HTTPS``, or ``AWS_NO_SIGN_REQUEST=YES`` for public buckets).

A read that fails on a remote scene is a 503 (``RemoteImageryUnavailable``) with a message,
never a 500: ``remote_reads`` wraps the units of pixel work.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PosixPath
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError

from spatial.errors import InvalidInput, OnemapError

log = logging.getLogger(__name__)

SCHEMES = ("http", "https", "s3")
EXTENSIONS = (".tif", ".tiff")
MAX_URL = 2048
GDAL_PREFIXES = {"http": "/vsicurl/", "https": "/vsicurl/", "s3": "/vsis3/"}
GDAL_NETWORK_DEFAULTS = {
    "GDAL_HTTP_CONNECTTIMEOUT": "5",  # seconds to connect
    "GDAL_HTTP_TIMEOUT": "15",  # seconds for one request (well under the render budget of 30 s)
    "GDAL_HTTP_MAX_RETRY": "1",  # one retry on 429/502/503/504, then the read fails
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ",".join(EXTENSIONS),  # no side-car probes (.aux.xml, .ovr…)
    "CPL_VSIL_CURL_CACHE_SIZE": str(64 * 2**20),  # blocks kept per process (all remote files)
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "VSI_CACHE": "FALSE",  # the curl block cache above is the one cache
}
READ_ERRORS = (RasterioError, CPLE_BaseError, OSError)  # what GDAL raises when a read fails
P = ParamSpec("P")
T = TypeVar("T")


def configure_gdal() -> None:
    """Give GDAL's network settings their defaults where neither the environment nor GDAL has one.

    Set as GDAL configuration of this process (``CPLSetConfigOption``), not as environment
    variables, so programs started from here (``gdalinfo``, ``ogr2ogr``) do not inherit them.
    """
    from rasterio._env import get_gdal_config, set_gdal_config

    for key, value in GDAL_NETWORK_DEFAULTS.items():
        if key not in os.environ and get_gdal_config(key) is None:
            set_gdal_config(key, value)


configure_gdal()


class RemoteImageryUnavailable(OnemapError):
    """A remote scene's server does not answer, or refuses the read: 503, try again later."""

    status = 503
    code = "ServiceUnavailable"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RemoteCOG(PosixPath):
    """A remote scene's COG as a ``Path``: ``str()`` is GDAL's name for it, ``stat()`` the catalog's."""

    url: str
    etag: str
    size: int

    def __new__(cls, url: str, etag: str = "", size: int = 0) -> RemoteCOG:  # noqa: PYI034
        self = super().__new__(cls, gdal_name(url))
        self.url, self.etag, self.size = url, etag, int(size)
        return self

    def __str__(self) -> str:
        return gdal_name(self.url)

    def __fspath__(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"RemoteCOG({self.url!r}, etag={self.etag!r}, size={self.size})"

    def __reduce__(self) -> tuple[Any, ...]:  # render workers receive it pickled
        return (RemoteCOG, (self.url, self.etag, self.size))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteCOG) and (self.url, self.etag) == (other.url, other.etag)

    def __hash__(self) -> int:
        return hash((self.url, self.etag))

    @property
    def name(self) -> str:
        """The object's file name (last part of the URL path)."""
        return urlsplit(self.url).path.rsplit("/", 1)[-1]

    @property
    def version(self) -> str:
        """What identifies this object's content: its ETag, else its size."""
        return self.etag or f"size:{self.size}"

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        """A regular file of the recorded size; mtime_ns stands for the ETag (no request is made)."""
        mark = int(hashlib.sha1(self.version.encode()).hexdigest()[:15], 16)
        return os.stat_result((stat.S_IFREG | 0o444, 0, 0, 1, 0, 0, self.size, 0, 0, 0, 0, 0, 0, mark))

    def read_bytes(self) -> bytes:
        """The whole object (a client asked for the whole scene, within the caller's size limit)."""
        from layers.imagery.remote_check import fetch_whole

        return fetch_whole(self)


def gdal_name(url: str) -> str:
    """GDAL's virtual file name of a URL: ``/vsicurl/https://…`` or ``/vsis3/bucket/key``."""
    scheme, _, rest = url.partition("://")
    return GDAL_PREFIXES[scheme.lower()] + (rest if scheme.lower() == "s3" else url)


def check_url(url: str) -> str:
    """``url`` when it may name a remote COG; InvalidInput (with the reason) otherwise."""
    url = url.strip()
    if not url:
        raise InvalidInput("give the URL of a Cloud-Optimized GeoTIFF (https://host/path/scene.tif)")
    if len(url) > MAX_URL:
        raise InvalidInput(f"the URL is {len(url)} characters long; at most {MAX_URL}")
    if re.search(r"[\s\x00-\x1f\x7f\\]", url):
        raise InvalidInput("the URL holds spaces, control characters or backslashes")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise InvalidInput(
            f"imagery by URL is read over http://, https:// or s3:// only, not {shown}: "
            "a local file is added by its path (onemap imagery add PATH)"
        )
    if not parts.hostname:
        raise InvalidInput(f"the URL {url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "the URL carries a user name or password: credentials do not belong in the catalog "
            "(for S3 use the AWS_* variables; for HTTP a signed URL's query string)"
        )
    if parts.fragment:
        raise InvalidInput("the URL has a #fragment; give the object's URL alone")
    if not parts.path.lower().endswith(EXTENSIONS):
        raise InvalidInput(
            f"the URL's path must end in .tif or .tiff (a GeoTIFF), not {parts.path.rsplit('/', 1)[-1]!r}"
        )
    return url


def scene_location(path: str, url: str | None = None, etag: str | None = None, size: int | None = None) -> Path:
    """A scene's file as readers need it: a ``RemoteCOG`` for a URL, else a local ``Path``.

    Without ``url``, a GDAL name (``/vsicurl/…``, ``/vsis3/…``, e.g. a layer row's storage path)
    is still read as the remote object it names.
    """
    if url:
        return RemoteCOG(url, etag or "", size or 0)
    if path.startswith("/vsicurl/"):
        return RemoteCOG(path.removeprefix("/vsicurl/"), "", size or 0)
    if path.startswith("/vsis3/"):
        return RemoteCOG("s3://" + path.removeprefix("/vsis3/"), "", size or 0)
    return Path(path)


def is_remote(path: object) -> bool:
    """Whether ``path`` names a remote scene."""
    return isinstance(path, RemoteCOG)


def remote_reads(func: Callable[P, T]) -> Callable[P, T]:
    """Turn a GDAL read failure on a remote scene among the arguments into RemoteImageryUnavailable (503).

    Errors on local files pass through unchanged, as does every domain error.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with reading(*args, *kwargs.values()):
            return func(*args, **kwargs)

    return wrapper


@contextmanager
def reading(*paths: Any) -> Iterator[None]:
    """A block reading ``paths`` (paths, scenes, or lists of them): a remote failure is a 503."""
    try:
        yield
    except READ_ERRORS as err:
        remote = [p for p in _paths(paths) if isinstance(p, RemoteCOG)]
        if not remote:
            raise
        reset_gdal_errors()
        raise unavailable(remote[0], err) from None


def reset_gdal_errors() -> None:
    """Clear GDAL's last error and rasterio's error stack after a failed read.

    rasterio 1.4's ``stack_errors`` skips its tear-down when a read raises, so the failure stays
    GDAL's "last error" and the next read in this thread, of any file, raised it again (seen
    after a remote read failed: the next local tile was a 500). Best effort: without the library
    handle nothing is done.
    """
    library = _gdal_library()
    if library is not None:
        library.CPLErrorReset()
    from rasterio import _err

    _err._ERROR_STACK.set([])


@functools.cache
def _gdal_library() -> ctypes.CDLL | None:
    import rasterio

    bundled = sorted(Path(rasterio.__file__).parent.parent.glob("rasterio.libs/libgdal*.so*"))
    name = str(bundled[0]) if bundled else ctypes.util.find_library("gdal")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def unavailable(path: RemoteCOG, err: BaseException) -> RemoteImageryUnavailable:
    """The 503 for a failed read of ``path`` (the URL itself is logged, not shown)."""
    chain = " | ".join(_messages(err))
    reason = _reason(chain) or _diagnose(path)
    log.warning("remote imagery read failed: %s: %s", path.url, chain)
    return RemoteImageryUnavailable(
        f"the remote imagery file {path.name} cannot be read now ({reason}); try again later",
        retry_after=10,
    )


def _messages(err: BaseException | None) -> Iterator[str]:
    """The first line of ``err`` and of each error it was raised from (GDAL chains the cause)."""
    seen = 0
    while err is not None and seen < 5:
        text = str(err).strip()
        if text:
            yield text.splitlines()[0]
        err, seen = err.__cause__ or err.__context__, seen + 1


def _reason(message: str) -> str:
    text = message.lower()
    if "404" in text:
        return "its server answers 404: the file is gone"
    if "403" in text or "401" in text:
        return "its server refuses access"
    if "timed out" in text or "timeout" in text:
        return "its server did not answer in time"
    if "connect" in text or "resolve" in text:
        return "its server does not answer"
    return ""


def _diagnose(path: RemoteCOG) -> str:
    """Why a read failed when GDAL did not say (an open file's block read): ask the server once."""
    if not path.url.lower().startswith(("http://", "https://")):
        return "the read failed"
    import httpx

    try:
        answer = httpx.head(path.url, timeout=httpx.Timeout(3.0, connect=2.0), follow_redirects=True)
    except httpx.HTTPError:
        return "its server does not answer"
    if answer.status_code >= 400:
        return _reason(f"HTTP {answer.status_code}") or f"its server answers HTTP {answer.status_code}"
    if path.etag and answer.headers.get("etag") not in (None, path.etag):
        return "the file changed since it was registered: register it again"
    return "the read failed"


def _paths(values: Iterable[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list | tuple):
            yield from _paths(value)
        else:
            yield getattr(value, "path", value)  # a Scene, or a path
