"""Fixtures for the completions tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.completions.fault_server import FaultServer


@pytest.fixture
async def fault() -> AsyncIterator[FaultServer]:
    """A fresh fault-injecting server on loopback."""
    server = FaultServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
