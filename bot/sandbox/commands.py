"""The application commands the bot synced: stored as Discord stores them, found as a user would."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from bot.sandbox.options import OptionError
from bot.sandbox.snowflakes import SnowflakeGenerator
from bot.sandbox.world import Guild, Member

KINDS = {1: "slash command", 2: "user command", 3: "message command"}


class UnknownCommand(OptionError):
    """The command was never synced, so a Discord client could not run it."""


class CommandRegistry:
    """Global and per-guild command definitions; `synced` is set by the first bulk overwrite."""

    def __init__(self, ids: SnowflakeGenerator, application_id: int) -> None:
        self._ids = ids
        self.application_id = application_id
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.synced = asyncio.Event()

    def listed(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Copies of the definitions, global (`None`) or for one guild."""
        if guild_id is None:
            return copy.deepcopy(self.global_commands)
        return copy.deepcopy(self.guild_commands.get(guild_id, []))

    def overwrite(
        self, commands: list[dict[str, Any]], guild_id: int | None
    ) -> list[dict[str, Any]]:
        """A bulk overwrite: replace the set, keeping the id of a command that stays."""
        previous = (
            self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])
        )
        old = {(c.get("type", 1), c["name"]): c for c in previous}
        stored = []
        for cmd in commands:
            ctype = int(cmd.get("type") or 1)
            keep = old.get((ctype, cmd["name"]))
            item = copy.deepcopy(cmd)
            item["type"] = ctype
            item["id"] = keep["id"] if keep else str(self._ids.next())
            item["application_id"] = str(self.application_id)
            item["version"] = str(self._ids.next())
            item.setdefault("description", "")
            perms = item.get("default_member_permissions")
            item["default_member_permissions"] = None if perms is None else str(perms)
            if guild_id is not None:
                item["guild_id"] = str(guild_id)
            stored.append(item)
        if guild_id is None:
            self.global_commands = stored
        else:
            self.guild_commands[guild_id] = stored
        self.synced.set()
        return copy.deepcopy(stored)

    def find(self, name: str, guild: Guild, ctype: int = 1) -> tuple[dict[str, Any], bool]:
        """The definition a member of `guild` would see, and whether it is guild-scoped.

        Raises UnknownCommand if no such command was synced (globally or for that guild).
        """
        for scoped, pool in (
            (True, self.guild_commands.get(guild.id, [])),
            (False, self.global_commands),
        ):
            for cmd in pool:
                if cmd["name"] == name and cmd.get("type", 1) == ctype:
                    return cmd, scoped
        raise UnknownCommand(
            f"no {KINDS[ctype]} {name!r} is synced for {guild.name!r} (was tree.sync() called?)"
        )

    @staticmethod
    def check_visible(cmd: dict[str, Any], member: Member) -> None:
        """Refuse a command hidden from `member` by its default_member_permissions."""
        required = cmd.get("default_member_permissions")
        if required is not None and not member.has(int(required)):
            raise OptionError(
                f"{member.name} cannot see /{cmd['name']}: it needs permissions {required} "
                "(default_member_permissions)."
            )

    def focused_option(self, data: dict[str, Any], guild: Guild) -> dict[str, Any] | None:
        """The definition of the option being autocompleted in an interaction's `data`."""
        definition, _ = self.find(data["name"], guild, 1)
        options, defs = data.get("options") or [], definition.get("options") or []
        while options and options[0].get("type") in (1, 2):
            sub = options[0]
            defs = next(d for d in defs if d["name"] == sub["name"]).get("options") or []
            options = sub.get("options") or []
        focused = next((o for o in options if o.get("focused")), None)
        if focused is None:
            return None
        return next((d for d in defs if d["name"] == focused["name"]), None)
