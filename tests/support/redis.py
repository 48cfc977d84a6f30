"""A throwaway Redis server for the tests.

`make test` installs Debian's `redis-server` (scripts/ensure-redis.sh); the
session fixture starts one on a free loopback port with no persistence and
stops it at the end. A missing binary fails the tests (never skips them): a
claim of Redis support needs a real Redis.

Use: `from tests.support.redis import redis_server, redis_url` in a conftest.
`redis_url` is the server's URL with its data flushed before each test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import free_port

__all__ = ["RedisServer", "flush", "free_port", "redis_server", "redis_url"]

MISSING = (
    "redis-server was not found: run `make redis` (scripts/ensure-redis.sh) or "
    "`apt-get install redis-server`; `make test` does this for you."
)


class RedisServer:
    """One redis-server process on 127.0.0.1, data in a temp directory."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="couplet-redis-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it answers PING; retries on a taken port."""
        last = ""
        for _ in range(5):
            self.port = free_port()
            log = open(self.root / "server.log", "ab")
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
                    "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if self._ping():
                    return
                time.sleep(0.05)
            last = (self.root / "server.log").read_text(errors="replace")[-2000:]
            self.stop_process()
        raise RuntimeError(f"redis-server did not start:\n{last}")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop_process(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop(self) -> None:
        try:
            self.stop_process()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def flush(url: str) -> None:
    """Empty every database of the server at `url` (before a test)."""
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(16).startswith(b"+OK")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis server for the whole session (fails if redis-server is missing)."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        pytest.fail(MISSING, pytrace=False)
    server = RedisServer(binary)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, emptied for this test."""
    flush(redis_server.url)
    return redis_server.url
