"""Pruning rows that buttons refer to once they are older than their retention."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from bot.storage.database import Database
from bot.storage.models import utcnow

log = logging.getLogger(__name__)


async def prune_older_than(db: Database, model: Any, older_than: timedelta, what: str) -> int:
    """Delete the rows of `model` created more than `older_than` ago; returns how many."""
    cutoff = utcnow() - older_than
    async with db.write() as session:
        result = await session.execute(delete(model).where(model.created_at < cutoff))
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        log.info("pruned %d %s older than %s", count, what, older_than)
    return count
