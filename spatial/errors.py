"""Domain exceptions, each carrying a message fit for the person who caused it.

The API maps these classes to HTTP statuses in one table (api/errors.py); the CLI prints the
message on one line and exits non-zero.
"""

from __future__ import annotations


class OnemapError(Exception):
    """Base class: ``str(err)`` is the message shown to the user."""

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInput(OnemapError):
    """The request or file is malformed or breaks a rule; nothing was changed."""


class NotFound(OnemapError):
    """The named thing does not exist (or is hidden from the caller)."""


class Conflict(OnemapError):
    """The request clashes with the current state (a concurrent change, a duplicate)."""


class PreconditionFailed(Conflict):
    """The caller's copy is stale: an If-Match ETag no longer matches the stored state."""


class Forbidden(OnemapError):
    """The caller is known but may not do this."""


class Unauthorized(OnemapError):
    """No valid credentials were given."""


class PayloadTooLarge(InvalidInput):
    """An upload or batch is over the configured limit."""


class TooManyRequests(OnemapError):
    """The caller is over a rate limit; ``retry_after`` says in how many seconds to try again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InsufficientStorage(OnemapError):
    """The server's disk is full: what was being written was discarded, nothing changed."""


class DatabaseUnavailable(OnemapError):
    """The database cannot be reached (``retry_after``: seconds worth waiting, when known)."""

    def __init__(self, message: str, *, details: list[str] | None = None, retry_after: int | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ClusterError(OnemapError):
    """The embedded PostgreSQL cluster cannot be set up, started or stopped."""


class MissingDependency(OnemapError):
    """An OS package or program the platform needs is not installed."""
