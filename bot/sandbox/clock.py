"""A clock the tests can move forward, for the 3-second and 15-minute windows (and, read
by a bot under test, for its own deadlines)."""

from __future__ import annotations

import time


class FakeClock:
    """Monotonic time plus an offset that `advance()` grows."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        """Seconds since the epoch, moved by the same offset: a clock a bot under test can
        read, so that deadlines it keeps pass when the test advances this one."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Pretend `seconds` have passed (for the emulator's deadlines only)."""
        self.offset += seconds
