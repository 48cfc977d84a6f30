"""A throwaway PostgreSQL cluster for the tests, and database fixtures.

`make test` installs Debian's PostgreSQL server binaries
(scripts/ensure-postgres.sh); the session fixture runs `initdb` in a temp
directory, starts the server on a free loopback port, and stops it at the
end. initdb refuses to run as root, so as root everything server-side runs as
the `postgres` OS user. Missing binaries fail the tests (never skip them):
a claim of PostgreSQL support needs a real PostgreSQL.

Use: `from tests.support.postgres import postgres_cluster, postgres_url, db_url, db`
in a conftest (tests/storage/conftest.py does). `db` is a migrated database
copied from a template migrated once per session (tests/support/migrated.py);
`db_url` and `postgres_url` are empty, for tests that run the migrations.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import Database
from tests.support.migrated import migrate, migrated_sqlite, run_apart

BIN_GLOB = "/usr/lib/postgresql/*/bin"
MISSING = (
    "PostgreSQL server binaries were not found in /usr/lib/postgresql/*/bin: "
    "run `make postgres` (scripts/ensure-postgres.sh) or `apt-get install postgresql`; "
    "`make test` does this for you."
)


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    candidates = [Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "initdb").exists()]
    if not candidates:
        return None

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in path.parent.name.split(".") if x.isdigit())

    return max(candidates, key=version)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """One initdb'd cluster in a temp directory, served on 127.0.0.1."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = 0
        self.root = Path(tempfile.mkdtemp(prefix="couplet-pg-"))
        self.datadir = self.root / "data"
        self.logfile = self.root / "server.log"
        self._names = itertools.count(1)
        self._template: str | None = None
        # initdb and postgres refuse to run as root.
        self.run_as: str | None = "postgres" if os.geteuid() == 0 else None
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self.root.chmod(0o700)

    def _cmd(self, *args: str) -> list[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as is not None:
            return ["runuser", "-u", self.run_as, "--", *command]
        return command

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{log[-2000:]}"
            )

    def start(self) -> None:
        """initdb, then start the server; retries with another port if one is taken."""
        self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        last_error: Exception | None = None
        for _ in range(5):
            self.port = free_port()
            options = (
                f"-p {self.port} -h 127.0.0.1 -k {self.root} "
                # A test cluster: durability is not needed, speed is.
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=50"
            )
            try:
                self._run(
                    "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-o", options,
                    "-w", "-t", "60", "start",
                )  # fmt: skip
                return
            except RuntimeError as err:
                last_error = err
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")

    def create_database(self, prefix: str = "couplet_test", template: str | None = None) -> str:
        """Create a database, empty or a copy of `template`; returns its asyncpg URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        copy = ["-T", template] if template else []
        self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *copy, name
        )  # fmt: skip
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def migrated_template(self) -> str:
        """The name of a database migrated to head once (made on first use), to copy."""
        if self._template is None:
            url = self.create_database("couplet_template")
            run_apart(migrate(url))
            self._template = url.rsplit("/", 1)[1]
        return self._template

    def stop(self) -> None:
        """Stop the server and delete its files."""
        try:
            if (self.datadir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


_shared: PostgresCluster | None = None


def shared_cluster(config: pytest.Config) -> PostgresCluster:
    """Start the session's cluster once, however many modules import the fixture.

    Fails the test (never skips) when the binaries are missing.
    """
    global _shared
    if _shared is None:
        bindir = find_bindir()
        if bindir is None:
            pytest.fail(MISSING, pytrace=False)
        cluster = PostgresCluster(bindir)
        try:
            cluster.start()
        except Exception:
            cluster.stop()
            raise
        _shared = cluster
        config.add_cleanup(_stop_shared)
    return _shared


def _stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


@pytest.fixture(scope="session")
def postgres_cluster(pytestconfig: pytest.Config) -> PostgresCluster:
    """A real PostgreSQL server for the whole test session (fails if not installed)."""
    return shared_cluster(pytestconfig)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres_cluster.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: a SQLite file, then a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'couplet.db'}"
    return str(request.getfixturevalue("postgres_url"))


def migrated_copy(request: pytest.FixtureRequest, dialect: str, sqlite_path: Path) -> str:
    """The URL of a new database copied from the session's migrated template: a SQLite
    file at `sqlite_path`, or a database on the session's PostgreSQL server."""
    if dialect == "sqlite":
        return f"sqlite+aiosqlite:///{migrated_sqlite(sqlite_path)}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.create_database(template=cluster.migrated_template())


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated `Database` of its own on each backend (a SQLite file, then a real
    PostgreSQL database), copied from the session's template; disposed of afterwards."""
    database = Database(migrated_copy(request, request.param, tmp_path / "couplet.db"))
    try:
        yield database
    finally:
        await database.dispose()
