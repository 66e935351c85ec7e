"""Domain exceptions, each carrying a message fit for the person who caused it.

Every class carries its HTTP ``status`` and its OGC API exception ``code``; the doors (REST,
OGC API routes, pygeoapi providers and processes, Open311, the notebooks' client) all map
through ``api.errors``, which reads these two attributes and nothing else. The CLI prints the
message on one line and exits non-zero.
"""

from __future__ import annotations


class OnemapError(Exception):
    """Base class: ``str(err)`` is the message shown to the user."""

    status = 500
    code = "ServerError"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInput(OnemapError):
    """The request or file is malformed or breaks a rule; nothing was changed."""

    status = 400
    code = "InvalidParameterValue"


class BudgetExceeded(InvalidInput):
    """The request asks for more work than one request may cost (pixels, features, vertices)."""

    code = "BudgetExceeded"


class MissingParameter(InvalidInput):
    """A required request parameter is absent; ``locator`` names it (OWS ``MissingParameterValue``)."""

    code = "MissingParameterValue"

    def __init__(self, name: str) -> None:
        super().__init__(f"the parameter {name} is required")
        self.locator = name


class TileOutOfRange(InvalidInput):
    """A tile row or column outside its tile matrix (OWS/WMTS ``TileOutOfRange``)."""

    code = "TileOutOfRange"


class NotFound(OnemapError):
    """The named thing does not exist (or is hidden from the caller)."""

    status = 404
    code = "NotFound"


class Conflict(OnemapError):
    """The request clashes with the current state (a concurrent change, a duplicate)."""

    status = 409
    code = "Conflict"


class PreconditionFailed(Conflict):
    """The caller's copy is stale: an If-Match ETag no longer matches the stored state."""

    status = 412
    code = "PreconditionFailed"


class Forbidden(OnemapError):
    """The caller is known but may not do this."""

    status = 403
    code = "Forbidden"


class Unauthorized(OnemapError):
    """No valid credentials were given."""

    status = 401
    code = "Unauthorized"


class PayloadTooLarge(InvalidInput):
    """An upload, body or batch is over the configured limit."""

    status = 413
    code = "PayloadTooLarge"


class HeadersTooLarge(InvalidInput):
    """The request's header block is over the configured limit."""

    status = 431
    code = "RequestHeaderFieldsTooLarge"


class TooManyRequests(OnemapError):
    """The caller is over a rate limit; ``retry_after`` says in how many seconds to try again."""

    status = 429
    code = "TooManyRequests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InsufficientStorage(OnemapError):
    """The server's disk is full: what was being written was discarded, nothing changed."""

    status = 507
    code = "InsufficientStorage"


class DatabaseUnavailable(OnemapError):
    """The database cannot be reached (``retry_after``: seconds worth waiting, when known)."""

    status = 503
    code = "ServiceUnavailable"

    def __init__(self, message: str, *, details: list[str] | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ServerBusy(DatabaseUnavailable):
    """Heavy work could not start or finish within its time budget (worker pool full, timed out)."""

    code = "ServerBusy"


class ClusterError(OnemapError):
    """The embedded PostgreSQL cluster cannot be set up, started or stopped."""


class MissingDependency(OnemapError):
    """An OS package or program the platform needs is not installed."""
