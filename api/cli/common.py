"""Shared pieces of the CLI: one-line errors, settings, a checked engine."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console

from spatial.config import Settings
from spatial.errors import OnemapError

console = Console(stderr=True, soft_wrap=True)

EXIT_USER_ERROR = 2
EXIT_UNAVAILABLE = 3


def fail(message: str, code: int = EXIT_USER_ERROR) -> None:
    """Print one clear line and exit non-zero."""
    click.echo(f"onemap: error: {message}", err=True)
    sys.exit(code)


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into one line on stderr instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from spatial.errors import ClusterError, DatabaseUnavailable, MissingDependency

        try:
            return func(*args, **kwargs)
        except (DatabaseUnavailable, ClusterError, MissingDependency) as err:
            fail(err.message, EXIT_UNAVAILABLE)
        except OnemapError as err:
            detail = "".join(f"\n  - {d}" for d in err.details[:20])
            fail(err.message + detail)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        field = "ONEMAP_" + str(first["loc"][0]).upper() if first.get("loc") else "settings"
        fail(f"{field}: {first['msg']}")
        raise  # unreachable


def checked_engine(settings: Settings):  # noqa: ANN201
    """An engine to the configured database, after checking it answers."""
    from spatial.db import check_database, database_url, make_engine

    engine = make_engine(database_url(settings), pool_size=2)
    check_database(engine)
    return engine
