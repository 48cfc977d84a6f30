"""The `db` fixture: a migrated database of each test's own, copied from a session template."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.storage import Database
from tests.storage.test_migrations import head_revision, table_names
from tests.support.postgres import migrated_copy


async def test_db_is_at_head_and_its_writes_stay_in_it(
    db: Database, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`db` is at head without an upgrade, and a table made in it is not in the next copy."""
    head = head_revision()
    assert await db.current() == head
    async with db.write() as session:
        await session.execute(text("CREATE TABLE scratch (x INTEGER)"))
    assert "scratch" in await table_names(db)
    other = Database(migrated_copy(request, db.dialect, tmp_path / "next.db"))
    try:
        assert await other.current() == head
        tables = await table_names(other)
        assert "presets" in tables
        assert "scratch" not in tables
    finally:
        await other.dispose()
