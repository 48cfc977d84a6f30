"""Session-wide fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from bot.local_model import LocalModelServer
from tests.support.llamacpp_server import INSTALL_HINT, UpstreamLlamaServer, installed
from tests.support.watchdog import Watchdog

_watchdog = Watchdog()


def pytest_configure(config: pytest.Config) -> None:
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:  # the watchdog's stacks must get past pytest's capture
        _watchdog.uncapture = lambda: capture.suspend_global_capture(in_=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """A hang ends the session with every stack printed (tests/support/watchdog.py)."""
    _watchdog.arm(item.nodeid)
    try:
        yield
    finally:
        _watchdog.disarm()


@pytest.fixture(scope="session")
def local_model_url() -> Iterator[str]:
    """Base URL (…/v1) of the real llama-cpp-python server with Gemma 3 270M.

    One server for the whole session; it serves one request at a time, so
    tests keep max_tokens small.
    """
    server = LocalModelServer()
    try:
        yield server.start(timeout=300)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def llamacpp_url() -> Iterator[str]:
    """Base URL (…/v1) of llama.cpp's own llama-server with the same Gemma model.

    Four slots, so emulated `n` runs concurrently. Skipped only when the
    server is not installed (`make test` installs it, so CI never skips).
    """
    if not installed():
        pytest.skip(INSTALL_HINT)
    server = UpstreamLlamaServer()
    try:
        yield server.start(timeout=300)
    finally:
        server.stop()
