"""Prepared writes: on SQLite the driver gets the statement straight, and the rows are the
same bytes SQLAlchemy would have written; elsewhere (PostgreSQL) it goes through SQLAlchemy."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, event, select
from sqlalchemy.engine import Connection

from bot.storage import Database
from bot.storage.jobs import _TABLE as JOBS
from bot.storage.jobs import InteractionJobRow
from bot.storage.prepared import Prepared
from tests.support.migrated import migrated_sqlite

INSERT = Prepared(JOBS.insert(), [column.name for column in JOBS.c])
INSERT_RETURNING = Prepared(JOBS.insert().returning(JOBS.c.id), [c.name for c in JOBS.c])
DELETE = Prepared(JOBS.delete().where(JOBS.c.id == bindparam("id")), ["id"])
EAST = timezone(timedelta(hours=8))  # not UTC: the column type must convert it


def row(job_id: int) -> dict[str, Any]:
    when = datetime(2026, 12, 2, 9, 30, 15, 123456, tzinfo=EAST)
    return {
        "id": job_id,
        "kind": "complete",
        "interaction": {"token": "t", "data": {"options": [{"value": "写一首诗 ✓\n"}]}},
        "args": {"prompt": "写一首诗", "n": 2, "stop": None},
        "owner": "p1",
        "heartbeat_at": when,
        "expires_at": when + timedelta(minutes=15),
        "attempts": 1,
        "created_at": when,
    }


def sent_to_sqlalchemy(db: Database) -> list[str]:
    """Statements SQLAlchemy sends from now on, on every engine of `db`."""
    sent: list[str] = []
    engines = [db.engine.sync_engine]
    engines += [w.engine for w in (db._inline_writer, db._thread_writer) if w is not None]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    return sent


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Any:
    database = Database(f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'couplet.db')}")
    yield database
    await database.dispose()


async def test_a_prepared_insert_stores_the_bytes_sqlalchemy_stores(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """The same row written both ways (JSON with Chinese text, datetimes in UTC+8): every
    column but the id reads back byte for byte the same from SQLite."""
    await sqlite_db.run_write(partial(INSERT.execute, rows=[row(1)]))
    await sqlite_db.run_write(lambda conn: conn.execute(JOBS.insert(), [row(2)]))
    raw = sqlite3.connect(str(tmp_path / "couplet.db"))
    prepared, through_sqlalchemy = raw.execute(
        "SELECT * FROM interaction_jobs ORDER BY id"
    ).fetchall()
    raw.close()
    assert prepared[0] == 1 and through_sqlalchemy[0] == 2
    assert prepared[1:] == through_sqlalchemy[1:]
    # and the conversions did happen (the bytes are not the Python values)
    assert "+08" not in prepared[5] and prepared[5].startswith("2026-12-02 01:30:15")


async def test_on_sqlite_the_driver_gets_the_statement_without_sqlalchemy(
    sqlite_db: Database,
) -> None:
    """No statement of a prepared write passes through SQLAlchemy's execution; the ORM
    reads the rows back as it wrote them."""
    sent = sent_to_sqlalchemy(sqlite_db)
    ids = await sqlite_db.run_write(partial(INSERT_RETURNING.execute, rows=[row(7), row(5)]))
    await sqlite_db.run_write(partial(DELETE.execute, rows=[{"id": 7}]))
    assert ids == [7, 5]  # in the rows' order
    assert not [s for s in sent if "interaction_jobs" in s]
    async with sqlite_db.read() as session:
        (job,) = (await session.scalars(select(InteractionJobRow))).all()
    assert job.id == 5 and job.args == row(5)["args"]
    assert job.heartbeat_at == row(5)["heartbeat_at"] and job.heartbeat_at.tzinfo is not None


async def test_elsewhere_the_statement_goes_through_sqlalchemy(db: Database) -> None:
    """On PostgreSQL (and on SQLite, for comparison) the same call stores the same rows;
    only SQLite skips SQLAlchemy's execution."""
    sent = sent_to_sqlalchemy(db)
    ids = await db.run_write(partial(INSERT_RETURNING.execute, rows=[row(3), row(4)]))
    await db.run_write(partial(DELETE.execute, rows=[{"id": 3}]))
    assert ids == [3, 4]
    through = [s for s in sent if "interaction_jobs" in s]
    assert bool(through) == (db.dialect != "sqlite")
    async with db.read() as session:
        (job,) = (await session.scalars(select(InteractionJobRow))).all()
    assert (job.id, job.interaction) == (4, row(4)["interaction"])


async def test_nothing_to_write_sends_nothing(sqlite_db: Database) -> None:
    def work(conn: Connection) -> list[Any]:
        return INSERT.execute(conn, []) + DELETE.execute(conn, [])

    assert await sqlite_db.run_write(work) == []


async def test_keys_that_are_not_the_statements_parameters_are_refused(
    sqlite_db: Database,
) -> None:
    """A key list that does not match what the statement binds fails on first use,
    instead of writing a column from the wrong key."""
    wrong = Prepared(JOBS.delete().where(JOBS.c.id == bindparam("id")), ["job_id"])
    with pytest.raises(ValueError, match="binds"):
        await sqlite_db.run_write(partial(wrong.execute, rows=[{"job_id": 1}]))
