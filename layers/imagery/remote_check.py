"""Before a URL becomes a scene: does it answer, with range requests, and is it a TIFF? Its size and ETag.

Two small requests (``HEAD``, then ``GET`` of the first 8 bytes with ``Range``): nothing else is
downloaded. A server that does not honour ``Range`` is refused, as every later read would
fetch the whole file. ``s3://`` objects are checked by GDAL alone (their credentials are GDAL's).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from layers.imagery.remote import RemoteCOG, RemoteImageryUnavailable
from spatial.errors import InvalidInput

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
MAX_REDIRECTS = 3
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
WHOLE_LIMIT = 64 * 2**20


@dataclass(frozen=True)
class RemoteObject:
    """What the server says about the object: its size in bytes and its ETag (may be empty)."""

    url: str
    size: int
    etag: str
    last_modified: str = ""


def probe(url: str) -> RemoteObject:
    """The object at an http(s) ``url``: InvalidInput unless it answers, ranges and starts like a TIFF."""
    try:
        with _client() as client:
            head = client.head(url)
            if head.status_code >= 400 and head.status_code not in (405, 501):
                raise InvalidInput(f"{url} answered HTTP {head.status_code} {head.reason_phrase}".rstrip())
            with client.stream("GET", url, headers={"Range": "bytes=0-7"}) as first:
                if first.status_code >= 400:
                    raise InvalidInput(f"{url} answered HTTP {first.status_code} {first.reason_phrase}".rstrip())
                if first.status_code != 206:
                    raise InvalidInput(
                        f"{url} does not answer range requests (HTTP {first.status_code} to Range: bytes=0-7): "
                        "imagery by URL reads a few blocks per tile, so the server must serve byte ranges"
                    )
                magic = first.read()[:4]
                size = _total(first.headers.get("content-range", ""))
                etag = first.headers.get("etag") or head.headers.get("etag") or ""
                modified = first.headers.get("last-modified") or head.headers.get("last-modified") or ""
                kind = first.headers.get("content-type", "")
    except httpx.TimeoutException:
        raise InvalidInput(f"{url} does not answer: no reply within {TIMEOUT.read:g} s") from None
    except httpx.TooManyRedirects:
        raise InvalidInput(f"{url} redirects more than {MAX_REDIRECTS} times") from None
    except httpx.HTTPError as err:
        raise InvalidInput(f"{url} does not answer: {_first_line(err)}") from None
    if magic not in TIFF_MAGIC:
        page = "html" in kind.lower() or magic.lstrip().startswith(b"<")
        what = "a web page" if page else f"a file starting with {magic!r}"
        raise InvalidInput(f"{url} is not a GeoTIFF: the server sends {what} ({kind or 'no content type'})")
    if size <= 0:
        raise InvalidInput(f"{url} does not say how large it is (no total in Content-Range)")
    return RemoteObject(url, size, etag, modified)


def fetch_whole(path: RemoteCOG) -> bytes:
    """The whole object (for a client that asked for the whole scene); 503 when it cannot be had."""
    if not path.url.lower().startswith(("http://", "https://")):
        raise InvalidInput(f"{path.name} lies in object storage: ask for an area (bbox) of it")
    if path.size > WHOLE_LIMIT:
        raise InvalidInput(f"{path.name} is over {WHOLE_LIMIT // 2**20} MB: ask for an area (bbox) of it")
    try:
        with _client() as client:
            answer = client.get(path.url)
    except httpx.HTTPError as err:
        raise RemoteImageryUnavailable(
            f"the remote imagery file {path.name} cannot be read now ({_first_line(err)}); try again later",
            retry_after=10,
        ) from None
    if answer.status_code != 200:
        raise RemoteImageryUnavailable(
            f"the remote imagery file {path.name} cannot be read now (HTTP {answer.status_code}); try again later",
            retry_after=10,
        )
    return answer.content


def _client() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, follow_redirects=True, max_redirects=MAX_REDIRECTS)


def _total(content_range: str) -> int:
    """The total of ``bytes 0-7/298232`` (0 when absent or ``*``)."""
    total = content_range.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else 0


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
