"""The `db` fixture: a migrated database of each test's own, copied from a session template."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.storage import Database
from bot.storage.database import alembic_config
from tests.storage.test_migrations import table_names
from tests.support.migrated import migrated_sqlite
from tests.support.postgres import PostgresCluster


async def test_db_is_at_head_and_its_writes_stay_in_it(
    db: Database, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`db` is at head without an upgrade, and a table made in it is not in the next copy."""
    (head,) = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert await db.current() == head
    async with db.write() as session:
        await session.execute(text("CREATE TABLE scratch (x INTEGER)"))
    assert "scratch" in await table_names(db)
    if db.dialect == "sqlite":
        url = f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'next.db')}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database(template=cluster.migrated_template())
    other = Database(url)
    try:
        assert await other.current() == head
        tables = await table_names(other)
        assert "presets" in tables
        assert "scratch" not in tables
    finally:
        await other.dispose()
