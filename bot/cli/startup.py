"""What every sub-command does first: read the settings, set up logging."""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from bot.settings import Settings

# Exit code when a setting has a value it cannot have.
EXIT_BAD_SETTING = 2

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Loggers that write a line per HTTP request, rate-limit bucket or heartbeat:
# kept to warnings unless LOG_LEVEL=DEBUG asks for everything.
CHATTY_LOGGERS = ("discord.http", "discord.gateway", "httpx")


def load_settings() -> Settings | None:
    """The settings from the environment and .env; None after printing one
    sentence naming the first bad setting."""
    try:
        settings = Settings()
    except ValidationError as err:
        first = err.errors()[0]
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        name = ".".join(str(part) for part in first.get("loc", ())).upper()
        if name:
            print(f"{name} is not valid: {message.rstrip('.')}.", file=sys.stderr)
        else:
            # A check across several settings words its own sentence.
            print(message, file=sys.stderr)
        return None
    if settings.log_level.strip().upper() not in LOG_LEVELS:
        allowed = ", ".join(LOG_LEVELS)
        print(
            f"LOG_LEVEL is not valid: {settings.log_level!r} is not one of {allowed}.",
            file=sys.stderr,
        )
        return None
    return settings


def configure_logging(level: str) -> None:
    """Log at `level` (LOG_LEVEL); the chatty loggers only from WARNING unless it is DEBUG."""
    root = logging.getLogger()
    root.setLevel(level.strip().upper())
    chatty = logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty)
