"""Giving memory the process freed back to the system: glibc's `malloc_trim`.

glibc keeps memory freed by Python (objects over 512 bytes, and what the
libraries allocate themselves) in its heaps for reuse, and returns it to the
system only from the top of a heap. `malloc_trim(0)` releases every free page
wherever it is. The bot calls `trim()` once start-up is over and then every
few minutes (`TRIM_EVERY`) from its ledger-flush loop, in a worker thread (ctypes releases
the GIL). Elsewhere than glibc (musl, macOS, Windows) there is no
`malloc_trim` and `trim()` does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

# Seconds between two trims while the bot runs.
TRIM_EVERY = 120.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        function = ctypes.CDLL(None).malloc_trim  # the C library the process runs on
    except (AttributeError, OSError, TypeError):  # not glibc; Windows has no CDLL(None)
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


def can_trim() -> bool:
    """Whether this C library has malloc_trim (glibc)."""
    return _malloc_trim() is not None


def trim() -> bool:
    """Release the C library's free memory to the system; True if any was released
    (always False where there is no malloc_trim)."""
    function = _malloc_trim()
    return bool(function(0)) if function is not None else False
