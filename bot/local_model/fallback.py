"""The backend a command runs on: the configured one, or the bundled model while it runs.

`couplet run`, `couplet sandbox` and `couplet complete` all start the bundled
model the same way when no `COMPLETIONS_BASE_URL` is set:

    async with LocalModelFallback(settings, say=print) as settings:
        ...  # settings.completions_base_url is set here

(or `with` in synchronous code). The model is stopped when the block ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.local_model.server import LocalModelServer
from bot.settings import Settings

STARTING = (
    "COMPLETIONS_BASE_URL is not set: starting the bundled local model "
    "(Gemma 3 270M via llama-cpp-python) on loopback…"
)
STOPPED = "Local model stopped."


def using_local_model(settings: Settings, base_url: str) -> Settings:
    """`settings` pointed at the bundled model at `base_url`, with its backend profile
    unless one was configured."""
    update: dict[str, Any] = {"completions_base_url": base_url}
    if settings.completions_backend == "auto":
        update["completions_backend"] = "llama-cpp-python"
    return settings.model_copy(update=update)


class LocalModelFallback:
    """Starts the bundled model only when the settings name no backend.

    `say` receives one line when the model starts, is ready and stops (the
    CLI decides where they go). Starting raises LocalModelError with a sentence
    saying what is missing.
    """

    def __init__(self, settings: Settings, say: Callable[[str], None]) -> None:
        self.settings = settings
        self.say = say
        self.server: LocalModelServer | None = None

    def start(self) -> Settings:
        """The settings to run with, the bundled model started if they name no backend."""
        if self.settings.completions_base_url:
            return self.settings
        self.say(STARTING)
        self.server = LocalModelServer()
        base_url = self.server.start()
        self.say(f"Local model ready at {base_url}.")
        return using_local_model(self.settings, base_url)

    def stop(self) -> None:
        """Stop the bundled model if start() started it."""
        server, self.server = self.server, None
        if server is not None:
            server.stop()
            self.say(STOPPED)

    async def astart(self) -> Settings:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> Settings:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Settings:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()
