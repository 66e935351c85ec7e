"""The one error contract at the OGC door: pygeoapi's exception classes carrying our status and code.

pygeoapi answers a provider's or a process's exception with the exception's own
``http_status_code`` and ``ogc_exception_code``. Rather than a second table from our classes
to pygeoapi's, each domain error is wrapped in the pygeoapi class its door expects, with the
status and code read from the domain error itself (``spatial.errors``), through the same
``api.errors.as_domain_error`` that the REST routes use.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TypeVar

from pygeoapi.process.base import ProcessorExecuteError
from pygeoapi.provider.base import (
    ProviderConnectionError,
    ProviderGenericError,
    ProviderItemNotFoundError,
)

from api.errors import as_domain_error
from spatial.errors import OnemapError

E = TypeVar("E", bound=Exception)


def ogc_message(err: OnemapError) -> str:
    """The error's message, with its details (e.g. each offending feature) appended."""
    extra = [d for d in err.details if d not in err.message]
    return err.message + ("".join(f"\n- {d}" for d in extra[:50]) if extra else "")


def provider_error(exc: BaseException) -> ProviderGenericError | None:
    """``exc`` as the pygeoapi provider error to raise (None: not a domain error, a real fault)."""
    err = as_domain_error(exc)
    if err is None:
        return None
    kind = {404: ProviderItemNotFoundError, 503: ProviderConnectionError}.get(err.status, ProviderGenericError)
    return _carrying(kind(user_msg=ogc_message(err)), err)


def processor_error(exc: BaseException) -> ProcessorExecuteError | None:
    """``exc`` as the pygeoapi process error to raise (None: not a domain error, a real fault)."""
    err = as_domain_error(exc)
    return None if err is None else _carrying(ProcessorExecuteError(user_msg=ogc_message(err)), err)


def _carrying(wrapper: E, err: OnemapError) -> E:
    wrapper.http_status_code = HTTPStatus(err.status)  # type: ignore[attr-defined]
    wrapper.ogc_exception_code = err.code  # type: ignore[attr-defined]
    return wrapper
