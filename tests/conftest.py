"""Session-wide fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.local_model import LocalModelServer


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
