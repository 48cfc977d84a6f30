"""What the long-running sub-commands (`run`, `sandbox`) do first: read the settings."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from bot.settings import Settings

# Exit code when a setting has a value it cannot have.
EXIT_BAD_SETTING = 2


def load_settings() -> Settings | None:
    """The settings from the environment and .env; None after printing one
    sentence naming the first bad setting."""
    try:
        return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(part) for part in first.get("loc", ())).upper() or "a setting"
        print(f"{name} is not valid: {first.get('msg')}.", file=sys.stderr)
        return None
