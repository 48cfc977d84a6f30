"""Migrating the database in a child process, so the bot never imports Alembic.

Alembic, with the Mako and Pygments it imports, adds about 11 MiB to a
process and keeps it for the process's life. The bot migrates only at
start-up, and only when the database is behind (`Database.upgrade` first
compares revisions without Alembic): then `upgrade_in_child` runs this module
as `python -m bot.storage.child_upgrade`, which does the same
`Database.upgrade` — under the same migration lock, so processes starting
together still migrate once — and exits, giving the memory back.

The URL (it may hold a password) goes to the child on its standard input,
never on its command line, which any local user can read.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy.engine import URL

# The directory `bot` is imported from: the child imports the same code (a
# checkout, a PYTHONPATH entry or the installed package), not whatever its
# working directory holds.
_CODE_ROOT = str(Path(__file__).resolve().parents[2])


class UpgradeFailed(RuntimeError):
    """The child process could not migrate the database."""


async def upgrade_in_child(url: URL, revision: str = "head") -> None:
    """Run `Database(url).upgrade(revision)` in a child process; raise UpgradeFailed
    (with the end of its error output) when it fails."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (_CODE_ROOT, path)))}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",  # no working directory on sys.path: the code of _CODE_ROOT
        "-m",
        __name__,
        revision,
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        _out, err = await child.communicate(url.render_as_string(hide_password=False).encode())
    except asyncio.CancelledError:
        # Stopped while migrating: the migration's transaction is rolled back.
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    if child.returncode != 0:
        detail = err.decode(errors="replace").strip().splitlines()[-5:]
        raise UpgradeFailed(
            f"migrating the database failed (exit {child.returncode}): " + "\n".join(detail)
        )


async def _main(revision: str) -> None:
    from bot.storage.database import Database

    db = Database(sys.stdin.read().strip())
    try:
        await db.upgrade(revision)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1] if len(sys.argv) > 1 else "head"))
