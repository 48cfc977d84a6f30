"""Helpers the command cogs share: the Manage Server check and option collection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from discord import app_commands

# Enforced at run time; MissingPermissions becomes an ephemeral sentence in
# the tree's error handler (bot/tree.py).
manage_guild_check = app_commands.checks.has_permissions(manage_guild=True)


def given_options(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The options among `names` that the user gave (not None), in `values`' order.

    Commands pass `locals()`: discord.py needs every option as a parameter of
    its own, and this keeps the list of names in one place.
    """
    wanted = set(names)
    return {k: v for k, v in values.items() if k in wanted and v is not None}
