"""Signed requests seen before: a replay inside the signature window counts once.

A platform signs each HTTP request over its timestamp and body (Slack:
``HMAC(secret, "v0:{timestamp}:{body}")``), and its adapter refuses one whose timestamp
is more than 5 minutes from its clock. Within those minutes
anyone who captured a signed request (a proxy's log, a debugging tool) could send it
again and repeat its effect: a second kudos and channel post. ``claim_request`` keeps
each signature until the window has closed for it, in the database, so every web
process sharing it agrees; the same signature means the same timestamp and body.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from models import SeenRequest

# The signature window either side of the verifier's clock (Slack's is 5 minutes), plus a
# minute for the clocks of several web processes to disagree.
SIGNATURE_WINDOW = timedelta(minutes=5)
CLOCK_SKEW = timedelta(minutes=1)
SIGNATURE_MAX = 100  # "v0=" and 64 hex digits; anything longer was never verified


def claim_request(session: Session, *, signature: str, signed_at: datetime, now: datetime) -> bool:
    """Record a verified request's ``signature``; False if it was recorded before (a replay).

    ``INSERT ... ON CONFLICT DO NOTHING``: of two copies racing, exactly one gets True.
    Signatures whose window has closed are deleted on the way (an indexed range delete
    that usually finds one row or none), so the table stays small without a job.

    Args:
        signature: the ``X-Slack-Signature`` header, already verified.
        signed_at: the ``X-Slack-Request-Timestamp`` it covers.
        now: the wall clock Bolt checked the timestamp against.
    """
    table: Any = SeenRequest.__table__  # type: ignore[attr-defined]
    row = {"signature": signature[:SIGNATURE_MAX], "expires_at": expiry(signed_at)}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:  # pragma: no cover - learnbot runs on PostgreSQL and SQLite
        raise NotImplementedError(f"replay checks support PostgreSQL and SQLite, not {dialect}")
    claimed = session.execute(
        insert.values(**row)
        .on_conflict_do_nothing(index_elements=["signature"])
        .returning(table.c.signature)
    ).first()
    session.execute(delete(table).where(table.c.expires_at < now))
    return claimed is not None


def expiry(signed_at: datetime) -> datetime:
    """When a request signed at ``signed_at`` can no longer pass Bolt's check anywhere."""
    return signed_at + SIGNATURE_WINDOW + CLOCK_SKEW
