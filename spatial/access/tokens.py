"""Bearer tokens: create (shown once, stored as a hash), revoke, list, and authenticate.

A token is ``om_`` followed by 43 URL-safe characters (256 random bits). With that much
entropy a plain SHA-256 is a sound verifier (no salt or slow hash needed); lookups go by the
hash and the final comparison is constant-time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from spatial.access.models import ROLES, ApiToken
from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.db import read_only
from spatial.errors import InvalidInput, NotFound, Unauthorized
from spatial.models import Department


class InvalidToken(Unauthorized):
    """A token was presented but refused (malformed, unknown, revoked or expired)."""


PREFIX = "om_"
TOKEN_PATTERN = re.compile(r"^om_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: the secret (shown once) and its record."""

    id: int
    secret: str
    name: str
    department_code: str
    role: str
    expires_at: dt.datetime | None


def secret_hash(secret: str) -> str:
    """Hex SHA-256 of a token, as stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    engine: Engine, *, department_code: str, role: str, name: str | None = None,
    expires_days: float | None = None, actor: Principal,
) -> IssuedToken:
    """Issue a token for a department's person; only its hash is kept (and the issue audited)."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} unknown; one of {', '.join(ROLES)}")
    if expires_days is not None and expires_days <= 0:
        raise InvalidInput("--expires must be a positive number of days")
    secret = PREFIX + secrets.token_urlsafe(32)
    expires = (
        dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_days) if expires_days else None
    )
    with engine.begin() as conn:
        if conn.execute(select(Department.code).where(Department.code == department_code)).first() is None:
            raise InvalidInput(
                f"department {department_code!r} does not exist; add it with `onemap departments add`"
            )
        token_id = conn.execute(
            insert(ApiToken)
            .values(
                name=name or f"{department_code}-{role}",
                department_code=department_code,
                role=role,
                secret_hash=secret_hash(secret),
                expires_at=expires,
            )
            .returning(ApiToken.id)
        ).scalar_one()
        detail = {"name": name or f"{department_code}-{role}", "department": department_code, "role": role,
                  "expires_at": expires}  # fmt: skip
        record_audit(conn, "token.create", f"token {token_id}", principal=actor, detail=detail)
    return IssuedToken(token_id, secret, name or f"{department_code}-{role}", department_code, role, expires)


def revoke_tokens(
    engine: Engine, *, token_id: int | None = None, name: str | None = None, actor: Principal
) -> int:
    """Revoke a token by id, or every active token with a name; the number revoked (audited)."""
    if (token_id is None) == (name is None):
        raise InvalidInput("give a token id or --name, not both")
    where = ApiToken.id == token_id if token_id is not None else ApiToken.name == name
    with engine.begin() as conn:
        revoked_ids = conn.execute(
            update(ApiToken)
            .where(where, ApiToken.revoked_at.is_(None))
            .values(revoked_at=dt.datetime.now(dt.UTC))
            .returning(ApiToken.id)
        ).scalars().all()
        for revoked_id in revoked_ids:
            record_audit(conn, "token.revoke", f"token {revoked_id}", principal=actor)
    revoked = len(revoked_ids)
    if not revoked:
        what = f"id {token_id}" if token_id is not None else f"name {name!r}"
        raise NotFound(f"no active token with {what}")
    return int(revoked)


def list_tokens(engine: Engine) -> list[dict]:
    """Every token's record (never a secret), newest first."""
    table = ApiToken.__table__
    columns = [c for c in table.c if c.name != "secret_hash"]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(table.c.id.desc())).mappings()
        return [dict(row) for row in rows]


def authenticate(engine: Engine, authorization: str) -> Principal:
    """The principal behind an ``Authorization`` header value; Unauthorized with the reason."""
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise InvalidToken("use the header 'Authorization: Bearer <token>'")
    secret = secret.strip()
    if not TOKEN_PATTERN.match(secret):
        raise InvalidToken("malformed bearer token: onemap tokens look like om_ + 43 characters")
    wanted = secret_hash(secret)
    with read_only(engine) as conn:
        row = conn.execute(
            select(ApiToken.__table__).where(ApiToken.__table__.c.secret_hash == wanted)
        ).mappings().first()
    if row is None or not hmac.compare_digest(row["secret_hash"], wanted):
        raise InvalidToken("unknown bearer token")
    now = dt.datetime.now(dt.UTC)
    if row["revoked_at"] is not None:
        raise InvalidToken(f"this token was revoked on {row['revoked_at']:%Y-%m-%d %H:%M} UTC")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise InvalidToken(f"this token expired on {row['expires_at']:%Y-%m-%d %H:%M} UTC")
    return Principal(
        name=row["name"], role=row["role"], department_code=row["department_code"],
        token_id=row["id"],
    )
