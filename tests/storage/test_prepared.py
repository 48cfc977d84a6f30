"""Prepared writes: on SQLite the driver gets the statement straight, and the rows are the
same bytes SQLAlchemy would have written; elsewhere (PostgreSQL) it goes through SQLAlchemy."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, event, select
from sqlalchemy.engine import Connection

from bot.storage import Database
from bot.storage.generations import GenerationRow
from bot.storage.jobs import _TABLE as JOBS
from bot.storage.jobs import MARK_ANSWERED, InteractionJobRow
from bot.storage.prepared import Prepared
from tests.support.migrated import migrated_sqlite

INSERT = Prepared(JOBS.insert(), [column.name for column in JOBS.c])
GENERATIONS = cast(Table, GenerationRow.__table__)
INSERT_RETURNING = Prepared(
    GENERATIONS.insert().returning(GENERATIONS.c.id),
    [c.name for c in GENERATIONS.c if c.name != "id"],
)
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
        "generation_id": 2**40,  # beyond 32 bits
        "created_at": when,
    }


def generation(user_id: int) -> dict[str, Any]:
    return {
        "guild_id": 2**62,
        "channel_id": 7,
        "user_id": user_id,
        "private": False,
        "request": {"prompt": f"prompt {user_id}"},
        "result": {"choices": [{"index": 0, "text": "文字"}]},
        "display": {},
        "created_at": datetime(2026, 12, 2, 9, 30, tzinfo=EAST),
    }


async def user_ids(db: Database, ids: list[int]) -> list[int]:
    """The user id stored under each generation id."""
    async with db.read() as session:
        rows = (await session.scalars(select(GenerationRow))).all()
    return [next(row.user_id for row in rows if row.id == gid) for gid in ids]


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
    reads the rows back as they were written."""
    sent = sent_to_sqlalchemy(sqlite_db)
    await sqlite_db.run_write(partial(INSERT.execute, rows=[row(7), row(5)]))
    await sqlite_db.run_write(partial(DELETE.execute, rows=[{"id": 7}]))
    (gid,) = await sqlite_db.run_write(partial(INSERT_RETURNING.execute, rows=[generation(1)]))
    assert not [s for s in sent if "interaction_jobs" in s or "generations" in s]
    async with sqlite_db.read() as session:
        (job,) = (await session.scalars(select(InteractionJobRow))).all()
    assert job.id == 5 and job.args == row(5)["args"]
    assert job.heartbeat_at == row(5)["heartbeat_at"] and job.heartbeat_at.tzinfo is not None
    assert await user_ids(sqlite_db, [gid]) == [1]


async def test_many_rows_are_one_statement_with_each_id_for_its_row(
    sqlite_db: Database,
) -> None:
    """300 rows: a few multi-row INSERTs (at most 999 parameters each), and the ids come
    back in the rows' order, each naming its own row — also after ids were freed."""
    first = await sqlite_db.run_write(
        partial(INSERT_RETURNING.execute, rows=[generation(u) for u in range(10)])
    )
    await sqlite_db.run_write(
        lambda conn: conn.execute(GENERATIONS.delete().where(GENERATIONS.c.id.in_(first[3:7])))
    )
    statements: list[str] = []
    users = list(range(1000, 1300))
    traced = sqlite_db._inline_writer
    assert traced is not None
    driver = traced._connection().connection.driver_connection
    assert driver is not None
    driver.set_trace_callback(statements.append)
    try:
        ids = await sqlite_db.run_write(
            partial(INSERT_RETURNING.execute, rows=[generation(u) for u in users])
        )
    finally:
        driver.set_trace_callback(None)
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert len(inserts) == 3  # 8 columns: 124 rows per statement
    assert ids == sorted(ids) and len(set(ids)) == 300
    assert await user_ids(sqlite_db, ids) == users


async def test_elsewhere_the_statement_goes_through_sqlalchemy(db: Database) -> None:
    """On PostgreSQL (and on SQLite, for comparison) the same calls store the same rows;
    only SQLite skips SQLAlchemy's execution."""
    sent = sent_to_sqlalchemy(db)
    await db.run_write(partial(INSERT.execute, rows=[row(3), row(4)]))
    await db.run_write(partial(DELETE.execute, rows=[{"id": 3}]))
    ids = await db.run_write(
        partial(INSERT_RETURNING.execute, rows=[generation(u) for u in (8, 9)])
    )
    through = [s for s in sent if "interaction_jobs" in s or "generations" in s]
    assert bool(through) == (db.dialect != "sqlite")
    async with db.read() as session:
        (job,) = (await session.scalars(select(InteractionJobRow))).all()
    assert (job.id, job.interaction) == (4, row(4)["interaction"])
    assert await user_ids(db, ids) == [8, 9]


async def test_each_says_how_many_rows_each_update_changed(db: Database) -> None:
    """An UPDATE run row by row (a job marked with its generation): the count of each run,
    0 for a job that is not there, on SQLite and on PostgreSQL."""
    await db.run_write(partial(INSERT.execute, rows=[row(3), row(4)]))
    marks = [{"job_id": 3, "generation_id": 11}, {"job_id": 99, "generation_id": 12}]
    assert await db.run_write(partial(MARK_ANSWERED.each, rows=marks)) == [1, 0]
    async with db.read() as session:
        jobs = (await session.scalars(select(InteractionJobRow))).all()
    assert {job.id: job.generation_id for job in jobs} == {3: 11, 4: 2**40}
    with pytest.raises(ValueError, match="UPDATE or a DELETE"):
        await db.run_write(partial(INSERT.each, rows=[row(5)]))


async def test_nothing_to_write_sends_nothing(sqlite_db: Database) -> None:
    def work(conn: Connection) -> list[Any]:
        return INSERT.execute(conn, []) + DELETE.execute(conn, []) + DELETE.each(conn, [])

    assert await sqlite_db.run_write(work) == []


def test_returning_anything_but_a_new_primary_key_is_refused() -> None:
    """Ids are matched to rows by their order, which only holds for keys SQLite assigns."""
    with pytest.raises(ValueError, match="RETURNING"):
        Prepared(JOBS.insert().returning(JOBS.c.id), [c.name for c in JOBS.c])
    with pytest.raises(ValueError, match="RETURNING"):
        Prepared(GENERATIONS.insert().returning(GENERATIONS.c.user_id), ["user_id"])


async def test_keys_that_are_not_the_statements_parameters_are_refused(
    sqlite_db: Database,
) -> None:
    """A key list that does not match what the statement binds fails on first use,
    instead of writing a column from the wrong key."""
    wrong = Prepared(JOBS.delete().where(JOBS.c.id == bindparam("id")), ["job_id"])
    with pytest.raises(ValueError, match="binds"):
        await sqlite_db.run_write(partial(wrong.execute, rows=[{"job_id": 1}]))
