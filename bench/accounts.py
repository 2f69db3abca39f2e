"""Bench setup: people written straight into the tables get their Slack accounts too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from models import ChatAccount, Person


def insert_people(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (person columns plus ``slack_user_id``) as people and their
    Slack accounts (``chat_account``)."""
    accounts = [
        {
            "person_id": row["id"],
            "platform": "slack",
            "workspace": row["workspace_id"],
            "user_id": row["slack_user_id"],
            "is_admin": False,
        }
        for row in rows
        if row.get("slack_user_id")
    ]
    people = [{k: v for k, v in row.items() if k != "slack_user_id"} for row in rows]
    conn.execute(insert(Person.__table__), people)  # type: ignore[attr-defined]
    if accounts:
        conn.execute(insert(ChatAccount.__table__), accounts)  # type: ignore[attr-defined]
