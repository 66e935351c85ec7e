"""One Settings object for the whole platform, read from ONEMAP_* variables and passed in, never global."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RATE_PATTERN = re.compile(r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$")


class Settings(BaseSettings):
    """Where the data lives and how the platform is served.

    ``database_url`` set (``ONEMAP_DATABASE_URL``) points everything at an external PostGIS;
    left empty, the embedded cluster in ``pg_data`` is used.
    """

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", env_file=None, extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of an external PostGIS; empty = embedded cluster"
    )
    var_dir: Path = Field(default=PROJECT_ROOT / "var", description="runtime files of this project")
    pg_data: Path | None = Field(default=None, description="embedded cluster folder (default var/pg)")
    pg_port: int | None = Field(default=None, description="fixed port for the embedded cluster")
    pg_os_user: str = Field(
        default="postgres", description="unprivileged OS user that runs the server when run as root"
    )
    pg_bin: Path | None = Field(default=None, description="folder of initdb/pg_ctl (auto-detected)")

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(default=None, description="URL clients see; default http://host:port")
    pygeoapi_config: Path = Field(default=PROJECT_ROOT / "pygeoapi-config.yml")
    db_pool_size: int = Field(
        default=20, ge=1, le=200,
        description="database connections each server worker keeps open (more are opened, then closed, under bursts)",
    )

    ogc_feature_provider: str = Field(
        default="api.ogc.providers.PostGISFeatureProvider",
        description="pygeoapi provider for vector layers (e.g. 'PostgreSQL' = pygeoapi's own, to compare)",
    )

    city_name: str = "示范市"
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, gt=0, description="largest accepted layer upload (POST /api/v1/layers)"
    )
    max_feature_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="largest feature body of an OGC API write (POST/PUT/PATCH)"
    )
    city_extent: str | None = Field(
        default=None,
        description="lon/lat bbox 'minx,miny,maxx,maxy' writes must fall in; default: the "
        "administrative divisions' extent",
    )
    city_extent_margin_m: float = Field(
        default=10_000.0, ge=0, description="margin around the divisions' extent accepted on writes"
    )

    geocode_batch_max_items: int = Field(
        default=10_000, gt=0, description="most addresses one POST /api/v1/geocode/batch may hold"
    )
    geocode_batch_max_bytes: int = Field(
        default=5 * 1024 * 1024, gt=0, description="largest accepted geocoding batch body (bytes)"
    )
    network_snap_tolerance_m: float = Field(
        default=500.0, gt=0, le=5000,
        description="network analysis: a place farther than this from the routable roads is refused (400)",
    )
    network_max_od_cells: int = Field(
        default=10_000, gt=0, description="most origins × destinations of one OD matrix (100 × 100)"
    )

    max_render_pixels: int = Field(
        default=2048 * 2048, gt=0,
        description="most output pixels (width × height) of one imagery map or picture",
    )
    max_source_pixels: int = Field(
        default=4096 * 4096, gt=0,
        description="most source pixels × bands one imagery tile, map or coverage subset may read "
        "(maps and tiles read from overviews; over it: 400 BudgetExceeded)",
    )
    render_timeout_s: float = Field(
        default=30.0, gt=0, description="time budget of one tile, map or coverage in a render worker (then 503)"
    )
    process_timeout_s: float = Field(
        default=120.0, gt=0, description="time budget of one imagery process (zonal statistics, change)"
    )
    render_workers: int = Field(
        default=2, ge=1, le=64, description="worker processes for imagery renders, coverages and processes"
    )
    render_queue: int = Field(
        default=16, ge=0, description="heavy requests that may wait for a worker; beyond: 503 with Retry-After"
    )
    render_memory_mb: int = Field(
        default=1024, ge=256, description="address-space cap of each render worker (MB); over it: 400/503"
    )
    max_download_features: int = Field(
        default=1_000_000, gt=0, description="most features one layer download may hold (over it: 400, ask for a bbox)"
    )
    max_download_bytes: int = Field(
        default=1024 * 1024 * 1024, gt=0, description="largest file one layer download may write (over it: 400)"
    )

    max_body_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0,
        description="largest request body of any route (413 before or while it streams); routes keep smaller budgets",
    )
    max_header_bytes: int = Field(
        default=64 * 1024, ge=4096, description="largest request line + headers (431 and the connection closed)"
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="time a client has to send its request line and headers (then 408)"
    )
    body_timeout_s: float = Field(
        default=300.0, gt=0, description="time a client has to send a request body once its headers are in"
    )
    statement_timeout_s: float = Field(
        default=120.0, gt=0,
        description="time budget of one SQL statement of a request (the server's pool); then 503, nothing kept",
    )
    keepalive_timeout_s: float = Field(default=5.0, gt=0, description="idle keep-alive connections are closed after this")
    shutdown_timeout_s: float = Field(
        default=8.0, gt=0, le=10, description="graceful shutdown: requests still running after this are cancelled"
    )

    max_streams: int = Field(
        default=32, ge=1, description="concurrent event streams (GET /api/v1/supervision/stream) per server "
        "process; beyond: 429 with Retry-After",
    )
    stream_max_s: float = Field(
        default=600.0, gt=0, description="longest one event stream stays open; then it ends and the browser's "
        "EventSource reconnects (resuming with Last-Event-ID)",
    )
    stream_keepalive_s: float = Field(
        default=15.0, gt=0, description="an event stream sends ': keepalive' and checks the caller's token again "
        "this often (a revoked token ends the stream)",
    )

    database_read_urls: str = Field(
        default="",
        description="comma-separated URLs of PostgreSQL streaming replicas that serve reads (feature pages, "
        "vector tiles, geocoding, KPIs; downloads read the primary); writes and reads that must see the "
        "caller's own write go to the primary; empty = every read goes to the primary",
    )
    replica_max_lag_s: float = Field(
        default=5.0, gt=0, description="a replica further behind the primary than this is taken out of the "
        "read rotation until it catches up",
    )
    replica_check_s: float = Field(
        default=1.0, gt=0, description="how often each server process checks its replicas' health and lag",
    )

    tile_cache: str = Field(
        default="disk",
        description="where rendered tiles are kept: 'disk' (var/tilecache), 'off', or a Redis URL "
        "'redis://host:6379/0' shared by all API processes",
    )
    tile_cache_dir: Path | None = Field(default=None, description="folder of the disk tile cache (default var/tilecache)")
    tile_cache_max_mb: int = Field(
        default=1024, ge=1, description="largest size of the disk tile cache (MB); the least recently used go first",
    )
    tile_max_age_s: int = Field(
        default=60, ge=0, description="Cache-Control max-age of tiles for browsers and proxies (ETag revalidates)",
    )

    rate_limit_writes: str = Field(
        default="1200/minute",
        description="writes per bearer token (POST/PUT/PATCH/DELETE with a token, Open311 POST "
        "with an api_key), e.g. '1200/minute'; 'off' disables",
    )
    rate_limit_anonymous: str = Field(
        default="30/minute", description="anonymous incident filings per client IP; 'off' disables"
    )
    rate_limit_storage: str = Field(
        default="memory",
        description="where rate-limit counters live: 'memory' (each server process counts on its own, so N "
        "processes allow N × the budget) or a Redis URL 'redis://host:6379/1' shared by all processes "
        "(if it does not answer, each process counts on its own meanwhile)",
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto are believed (e.g. '10.0.0.5,10.1.0.0/16'); "
        "empty = none, the connecting address is the client (loopback included)",
    )
    cors_origins: str = Field(
        default="",
        description="comma-separated origins allowed to call the API from a browser "
        "(e.g. 'https://map.example.gov.cn'); empty = same origin only",
    )

    @field_validator("rate_limit_writes", "rate_limit_anonymous", mode="after")
    @classmethod
    def _rate(cls, value: str) -> str:
        value = value.strip().lower()
        if value != "off" and not RATE_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a rate: write e.g. '60/minute', '10/second' or 'off'")
        return value

    @field_validator("tile_cache", mode="after")
    @classmethod
    def _tile_cache(cls, value: str) -> str:
        value = value.strip()
        if value.lower() not in ("disk", "off") and not re.match(r"^(rediss?|unix)://", value):
            raise ValueError(f"{value[:60]!r} is not a tile cache: write 'disk', 'off' or 'redis://host:6379/0'")
        return value

    @field_validator("rate_limit_storage", mode="after")
    @classmethod
    def _rate_storage(cls, value: str) -> str:
        value = value.strip()
        if value != "memory" and not re.match(r"^rediss?://", value):
            raise ValueError(f"{value!r} is not a rate-limit store: write 'memory' or 'redis://host:6379/1'")
        return value

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _proxies(cls, value: str) -> str:
        import ipaddress

        for item in (part.strip() for part in value.split(",")):
            if item == "*":
                raise ValueError("'*' would trust any client's X-Forwarded-For: list the proxies' addresses")
            if item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} in ONEMAP_TRUSTED_PROXIES is not an IP address or network") from None
        return value

    @property
    def body_limit(self) -> int:
        """The body budget of any request: ``max_body_bytes``, or a larger route budget set above it."""
        return max(self.max_body_bytes, self.max_upload_bytes, self.max_feature_bytes, self.geocode_batch_max_bytes)

    @property
    def trusted_proxy_list(self) -> list[str]:
        """Addresses/networks of the trusted reverse proxies (none: no proxy headers believed)."""
        return [item.strip() for item in self.trusted_proxies.split(",") if item.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        """The allowed browser origins (none: same origin only)."""
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]

    @field_validator("var_dir", "pg_data", "pygeoapi_config", "tile_cache_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("database_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def cluster_dir(self) -> Path:
        """Folder of the embedded PostgreSQL cluster (data, state, log)."""
        return self.pg_data or self.var_dir / "pg"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def read_url_list(self) -> list[str]:
        """The read replicas' URLs (none: every read goes to the primary)."""
        return [url.strip() for url in self.database_read_urls.split(",") if url.strip()]

    @property
    def tile_cache_path(self) -> Path:
        return self.tile_cache_dir or self.var_dir / "tilecache"

    @property
    def imagery_dir(self) -> Path:
        return self.var_dir / "imagery"

    @property
    def uses_embedded_db(self) -> bool:
        return self.database_url is None
