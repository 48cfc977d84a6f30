"""Alembic migrations on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from bot.storage import Base, Database, load_models
from bot.storage.child_upgrade import UpgradeFailed
from bot.storage.database import REPO_ROOT, alembic_config, script_heads

# Stream C's tables; other revisions add more.
TABLES = {"guild_settings", "presets", "channel_presets", "audit_log"}


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations must have one head, found {heads}"
    return heads[0]


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    """An empty database migrates to head, back down to nothing, and up again."""
    db = Database(db_url)
    try:
        assert await db.current() is None
        await db.upgrade()
        assert await db.current() == head_revision()
        assert TABLES <= await table_names(db)

        await db.downgrade("base")
        assert await db.current() is None
        assert not (TABLES & await table_names(db))

        await db.upgrade()
        assert await db.current() == head_revision()
        assert TABLES <= await table_names(db)
    finally:
        await db.dispose()


async def test_migrated_schema_matches_models(db: Database) -> None:
    """The hand-written revisions create exactly the tables the models declare."""
    load_models()

    def diff(sync_conn):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_upgrade_twice_is_a_no_op(db: Database) -> None:
    """Upgrading a database that is already at head changes nothing."""
    await db.upgrade()
    assert await db.current() == head_revision()


def test_script_heads_are_alembics_heads(tmp_path: Path) -> None:
    """The heads read from the scripts' source are Alembic's, for ours and for a
    history that branches and merges."""
    assert script_heads() == set(ScriptDirectory.from_config(alembic_config()).get_heads())

    def script(name: str, down: str) -> None:
        (tmp_path / f"{name}.py").write_text(
            f'"""{name}"""\nrevision: str = "{name}"\ndown_revision = {down}\n'
            "branch_labels = None\n"
        )

    script("r1", "None")
    script("r2", '"r1"')
    script("r3", '"r1"')
    assert script_heads(tmp_path) == {"r2", "r3"}
    script("r4", '("r2", "r3")')
    assert script_heads(tmp_path) == {"r4"}


# Starts the bot's Database on an existing file, upgrades it, and says whether
# Alembic had to be imported.
_UPGRADER = textwrap.dedent(
    """
    import asyncio, sys
    from bot.storage import Database

    async def main():
        db = Database(sys.argv[1])
        await db.upgrade(in_child=sys.argv[2:] == ["in_child"])
        await db.dispose()
        print("alembic imported" if "alembic" in sys.modules else "alembic not imported")

    asyncio.run(main())
    """
)


def _upgrade_in_a_fresh_process(db_url: str, *args: str, cwd: Path | None = None) -> str:
    """Run _UPGRADER on `db_url` in a new Python process; what it printed."""
    result = subprocess.run(
        [sys.executable, "-c", _UPGRADER, db_url, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


async def test_upgrade_at_head_skips_alembic_and_older_database_migrates(
    db_url: str, tmp_path: Path
) -> None:
    """At start-up a database at head is left alone without importing Alembic (11 MiB
    of RSS); one a revision behind is still migrated to head."""
    db = Database(db_url)
    try:
        await db.upgrade()
        assert _upgrade_in_a_fresh_process(db_url) == "alembic not imported"
        await db.downgrade("-1")
        assert await db.current() != head_revision()
        assert _upgrade_in_a_fresh_process(db_url) == "alembic imported"
        assert await db.current() == head_revision()
    finally:
        await db.dispose()


async def test_upgrade_in_a_child_process_never_imports_alembic_here(
    db_url: str, tmp_path: Path
) -> None:
    """The bot's start-up (`in_child`): an empty database and one a revision behind are
    both migrated to head by a child process, and Alembic is never imported by the
    process that asked."""
    db = Database(db_url)

    def upgrade_in_a_fresh_process() -> str:
        # Run outside the checkout: the child must still find the code.
        return _upgrade_in_a_fresh_process(db_url, "in_child", cwd=tmp_path)

    try:
        assert await db.current() is None
        assert upgrade_in_a_fresh_process() == "alembic not imported"
        assert await db.current() == head_revision()
        await db.downgrade("-1")
        assert await db.current() != head_revision()
        assert upgrade_in_a_fresh_process() == "alembic not imported"
        assert await db.current() == head_revision()
    finally:
        await db.dispose()


async def test_upgrade_in_a_child_process_that_fails_raises_with_its_reason(
    db_url: str,
) -> None:
    """A database at a revision no script knows cannot be migrated: the child's
    failure comes back as UpgradeFailed naming Alembic's reason, not a hang or silence."""
    db = Database(db_url)
    try:
        await db.upgrade()
        async with db.write() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = 'f00f00f00f00'"))
        with pytest.raises(UpgradeFailed, match="f00f00f00f00"):
            await db.upgrade(in_child=True)
    finally:
        await db.dispose()


async def test_in_memory_database_upgrades_in_process(tmp_path: Path) -> None:
    """No child process can reach an in-memory SQLite database: `in_child` migrates it here."""
    db = Database("sqlite+aiosqlite://")
    try:
        await db.upgrade(in_child=True)
        assert await db.current() == head_revision()
        assert TABLES <= await table_names(db)
    finally:
        await db.dispose()


# What the `couplet` console script runs.
_COUPLET = "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))"


def _cli(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", _COUPLET, "db", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_upgrade_current_downgrade_from_another_directory(db_url: str, tmp_path: Path) -> None:
    """`couplet db` finds the migrations when started outside the repository."""
    up = _cli(["upgrade"], db_url, tmp_path)
    assert up.returncode == 0, up.stderr
    current = _cli(["current"], db_url, tmp_path)
    assert current.returncode == 0, current.stderr
    assert head_revision() in current.stdout
    down = _cli(["downgrade", "base"], db_url, tmp_path)
    assert down.returncode == 0, down.stderr
    after = _cli(["current"], db_url, tmp_path)
    assert "no revision" in after.stdout


def test_alembic_command_line_uses_database_url(db_url: str) -> None:
    """`alembic upgrade head` from the repository root migrates DATABASE_URL."""
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    check = _cli(["current"], db_url, REPO_ROOT)
    assert head_revision() in check.stdout


# Each process imports everything first, then waits for the "go" file, so the
# upgrades really start together.
_RACER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from bot.storage import Database

    async def main():
        db = Database(sys.argv[1])
        open(os.path.join(sys.argv[3], f"ready-{os.getpid()}"), "w").close()
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.01)
        await db.upgrade(in_child=sys.argv[4] == "in_child")
        print(await db.current())
        await db.dispose()

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("where", ["in_process", "in_child"])
def test_concurrent_upgrades_from_several_processes(
    db_url: str, tmp_path: Path, where: str
) -> None:
    """Three processes upgrading one empty database at once all succeed, once (also
    when each migrates through a child process, as the bot does)."""
    go = tmp_path / "go"
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, db_url, str(go), str(ready), where],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for _ in range(6000):  # wait (up to a minute) until every process is ready
        if len(list(ready.iterdir())) == len(procs) or any(p.poll() is not None for p in procs):
            break
        time.sleep(0.01)
    go.touch()
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == head_revision()
