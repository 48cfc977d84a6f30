"""Count the SQL statements an engine sends (proves cache hits make no round trip)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from bot.storage import Database


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    """Collect every statement sent to the database inside the block."""
    statements: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)
