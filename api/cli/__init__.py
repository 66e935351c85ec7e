"""The `onemap` command line (click)."""

from api.cli.main import main

__all__ = ["main"]
