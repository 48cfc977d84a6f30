"""The hang watchdog: a test stuck past the limit ends pytest with every stack printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.watchdog import EXIT_CODE

ROOT = Path(__file__).resolve().parents[1]


def test_a_hung_test_ends_the_session_with_its_stacks() -> None:
    """A test whose event loop never finishes is stopped, named, and its task's stack shown."""
    # Inside tests/ so that the suite's own conftest (with the watchdog) applies;
    # there only while this test runs.
    target = ROOT / "tests" / "_hung_probe_test.py"
    target.write_text(
        "import asyncio\n\n"
        "async def stuck_forever():\n"
        "    await asyncio.Event().wait()\n\n"
        "async def test_hangs():\n"
        "    await stuck_forever()\n",
        encoding="utf-8",
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(target)],
            cwd=ROOT,
            env={**os.environ, "COUPLET_TEST_HANG_SECONDS": "3"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        target.unlink()
    assert done.returncode == EXIT_CODE, done.stdout + done.stderr
    assert "_hung_probe_test.py::test_hangs has not finished in 3 s" in done.stderr
    assert "stuck_forever" in done.stderr  # the task's own stack
