"""Run the `couplet` command as a user does: its console script, no settings but the given ones."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Environment variables that are Couplet settings (a developer's own must not leak in).
SETTING_PREFIXES = ("COMPLETIONS_", "OPENAI_", "DISCORD_", "DATABASE_", "LOG_LEVEL")


def couplet_command(python: str | Path = sys.executable) -> list[str]:
    """The `couplet` console script installed beside `python` (what `pip install` makes)."""
    script = Path(python).with_name("couplet")
    if script.exists():
        return [str(script)]
    return [str(python), "-c", "import sys; from bot.cli import main; sys.exit(main())"]


def settings_env(**settings: str) -> dict[str, str]:
    """This process's environment without any Couplet setting, plus `settings`.

    Run the command in a temporary directory too, so no `.env` is read.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env
