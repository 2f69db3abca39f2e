"""What every listener needs: the database, the clock and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from learning.clock import Clock
from models.db import Database
from settings import Settings


@dataclass(frozen=True)
class HandlerContext:
    """Passed to each folder's ``register(app, ctx)``; listeners close over it."""

    database: Database
    clock: Clock
    settings: Settings
