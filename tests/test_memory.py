"""bot.memory: glibc's malloc_trim gives freed memory back; elsewhere nothing happens."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot import memory
from bot.storage.database import REPO_ROOT

# In a fresh process: fill the C heap with 700-byte buffers (over pymalloc's 512,
# so glibc's), keep one in ten so the heap cannot shrink from its top, free the
# rest, and print RSS in KiB before and after the trim.
_FRAGMENT = """
import sys
sys.path.insert(0, sys.argv[1])
from bot import memory

def rss():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))

kept, freed = [], []
for i in range(100_000):
    (kept if i % 10 == 0 else freed).append(bytearray(700))
del freed
before = rss()
released = memory.trim()
print(before, rss(), released)
"""


@pytest.mark.skipif(not memory.can_trim(), reason="the C library has no malloc_trim (not glibc)")
def test_trim_gives_freed_memory_in_the_middle_of_the_heap_back() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FRAGMENT, str(REPO_ROOT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    before, after, released = int(out[0]), int(out[1]), out[2]
    assert released == "True"
    # About 60 MiB freed among live buffers; most of it goes back.
    assert before - after > 20 * 1024, (before, after)


def test_without_malloc_trim_trim_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """musl, macOS, Windows: no malloc_trim to call, so trim() is a no-op saying so."""
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert not memory.can_trim()
    assert memory.trim() is False


# Modules the running bot does not need, each kept for the life of a process once
# imported: Alembic (a child process migrates), aiohttp's web server (only with
# METRICS_PORT), httpx's command-line client (click, Pygments), redis (only with
# REDIS_URL).
_NOT_AT_START = ("alembic", "aiohttp.web", "click", "pygments", "redis")
_IMPORT_THE_BOT = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
from bot.app import cog_modules
for name in cog_modules():
    importlib.import_module(name)
print(" ".join(sorted(set(sys.argv[2:]) & set(sys.modules))))
"""


def test_the_bot_and_its_cogs_import_nothing_they_do_not_need() -> None:
    loaded = subprocess.run(
        [sys.executable, "-P", "-c", _IMPORT_THE_BOT, str(REPO_ROOT), *_NOT_AT_START],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert loaded == []
