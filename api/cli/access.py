"""`onemap departments` and `onemap tokens`: who owns layers, and the bearer tokens of their people."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from api.cli.common import checked_engine, console, friendly_errors
from spatial.access.models import ROLES
from spatial.access.principal import local_operator
from spatial.config import Settings


@click.group()
def departments() -> None:
    """Departments (部门) that own layers and hold tokens."""


@departments.command("add")
@click.argument("code")
@click.option("--name-zh", "--name", "name_zh", required=True, help="Chinese name, e.g. 应急管理局")
@click.option("--name-en", default=None, help="English name (default: the Chinese one)")
@click.pass_obj
@friendly_errors
def departments_add(settings: Settings, code: str, name_zh: str, name_en: str | None) -> None:
    """Add department CODE (or rename it when it exists)."""
    from spatial.access.departments import add_department

    added = add_department(checked_engine(settings), code, name_zh=name_zh, name_en=name_en,
                           actor=local_operator())
    console.print(f"department {code} {'added' if added else 'renamed'}", highlight=False)


@departments.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
@friendly_errors
def departments_list(settings: Settings, as_json: bool) -> None:
    """Every department."""
    from spatial.access.departments import list_departments

    rows = list_departments(checked_engine(settings))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str, indent=1))
        return
    Console().print(_table(rows, ("code", "name_zh", "name_en"), f"{len(rows)} departments"))


@click.group()
def tokens() -> None:
    """Bearer tokens for the API: create (shown once), revoke, list."""


@tokens.command("create")
@click.option("--department", required=True, help="code of the department the holder acts for")
@click.option("--role", type=click.Choice(ROLES), required=True, help="what the holder may do")
@click.option("--name", default=None, help="who holds it (default: DEPARTMENT-ROLE)")
@click.option("--expires", type=float, default=None, help="days until it expires (default: never)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
@friendly_errors
def tokens_create(
    settings: Settings, department: str, role: str, name: str | None, expires: float | None, as_json: bool
) -> None:
    """Issue a token; it is printed once on stdout and only its hash is kept."""
    from spatial.access.tokens import create_token

    issued = create_token(
        checked_engine(settings), department_code=department, role=role, name=name, expires_days=expires,
        actor=local_operator(),
    )
    if as_json:
        click.echo(json.dumps({**issued.__dict__, "expires_at": _iso(issued.expires_at)}, ensure_ascii=False))
        return
    click.echo(issued.secret)
    until = f"until {issued.expires_at:%Y-%m-%d %H:%M} UTC" if issued.expires_at else "without expiry"
    console.print(
        f"token {issued.id} for {issued.name} ({department} {role}) {until}; it is shown only "
        "now: send it as 'Authorization: Bearer <token>'",
        highlight=False,
    )


@tokens.command("revoke")
@click.argument("token_id", type=int, required=False)
@click.option("--name", default=None, help="revoke every active token of this holder")
@click.pass_obj
@friendly_errors
def tokens_revoke(settings: Settings, token_id: int | None, name: str | None) -> None:
    """Revoke token TOKEN_ID (or all of --name's); it stops working at once."""
    from spatial.access.tokens import revoke_tokens

    count = revoke_tokens(checked_engine(settings), token_id=token_id, name=name, actor=local_operator())
    console.print(f"{count} token{'s' if count != 1 else ''} revoked", highlight=False)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_obj
@friendly_errors
def tokens_list(settings: Settings, as_json: bool) -> None:
    """Every token (never the secret): holder, department, role, state."""
    from spatial.access.tokens import list_tokens

    rows = list_tokens(checked_engine(settings))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str, indent=1))
        return
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        expired = row["expires_at"] is not None and row["expires_at"] <= now
        row["state"] = "revoked" if row["revoked_at"] else "expired" if expired else "active"
        row["expires_at"] = _iso(row["expires_at"]) or "never"
    columns = ("id", "name", "department_code", "role", "state", "expires_at")
    Console().print(_table(rows, columns, f"{len(rows)} tokens"))


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...], title: str) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    return table


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
