"""Migrated databases for tests, without running every migration for every test.

The real migrations (`Database.upgrade`) run once per test session into a
template; each test gets its own copy: SQLite copies the template file,
PostgreSQL creates the database from a template database
(tests/support/postgres.py). The bot still upgrades its database when it
starts, which finds it at head. Tests about the migrations themselves start
from empty databases (the `db_url` fixture) and run them.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.storage import Database

_lock = threading.Lock()
_sqlite_template: Path | None = None


def run_apart(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run `coroutine` to the end on an event loop of its own, in another thread,
    so that sync code called from a running loop (a test's helper) can use it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def migrate(url: str) -> None:
    """Run every migration on `url` and close the connections (a template must have none)."""
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


def sqlite_template() -> Path:
    """The session's migrated SQLite file (made on first use, deleted at exit)."""
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            directory = Path(tempfile.mkdtemp(prefix="couplet-template-"))
            atexit.register(shutil.rmtree, directory, True)
            path = directory / "template.db"
            run_apart(migrate(f"sqlite+aiosqlite:///{path}"))
            # Closing the last connection folds the WAL into the file: the file is all of it.
            assert not path.with_name(path.name + "-wal").exists()
            _sqlite_template = path
        return _sqlite_template


def migrated_sqlite(path: Path) -> Path:
    """`path` holding a migrated SQLite database (a copy of the template) unless it exists."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_template(), path)
    return path
