"""What a Discord user does: run commands, click, choose, fill in forms, post messages.

Each action is checked the way a Discord client would (the command is synced
and visible, options fit, the button exists and is enabled) and becomes an
interaction sent to the shard that owns the guild.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from typing import Any

from bot.sandbox import limits
from bot.sandbox.components import ComponentError, filled_modal, pick_button, pick_select
from bot.sandbox.gateway import Gateway
from bot.sandbox.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    COMPONENT,
    MODAL_SUBMIT,
    InteractionRecord,
)
from bot.sandbox.lifecycle import MessageLifecycle
from bot.sandbox.options import build_options
from bot.sandbox.resolved import OptionResolver, member_resolved
from bot.sandbox.state import ChannelRef, EmulatorState, GuildRef, MemberRef, MessageRef
from bot.sandbox.world import Channel, Guild, Member


class Injection:
    """Interactions and messages injected as a given member in a given channel."""

    def __init__(self, state: EmulatorState, gateway: Gateway, lifecycle: MessageLifecycle) -> None:
        self.state = state
        self.gateway = gateway
        self.lifecycle = lifecycle

    # ------------------------------------------------------------ commands
    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        /,
        *,
        member: MemberRef = None,
        channel: ChannelRef = None,
        guild: GuildRef = None,
        **more_options: Any,
    ) -> InteractionRecord:
        """Run `/name [group] [sub]` with options, type-checked against the synced definition.

        Options go in the `options` dict or as keywords; use the dict for options
        named like this method's keywords (member, channel, guild).
        """
        g, ch, m = self.state.where(guild, channel, member)
        words = name.strip().lstrip("/").split()
        definition, scoped = self.state.commands.find(words[0], g, 1)
        self._check_visible(definition, m)
        values = {**(options or {}), **more_options}
        opts, resolved = build_options(definition, words[1:], values, OptionResolver(self.state, g))
        data = chat_input_data(definition, opts, resolved, g if scoped else None)
        return await self._send(self.new_record(APPLICATION_COMMAND, g, ch, m, data), g)

    async def autocomplete(
        self,
        name: str,
        focused: str,
        value: str = "",
        options: dict[str, Any] | None = None,
        *,
        member: MemberRef = None,
        channel: ChannelRef = None,
        guild: GuildRef = None,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Type `value` into option `focused` of `/name`; return the bot's choices."""
        rec = await self.autocomplete_record(
            name, focused, value, options, member=member, channel=channel, guild=guild
        )
        await rec.wait_for(lambda r: r.choices is not None or bool(r.rejections), timeout)
        if rec.choices is None:
            raise AssertionError(f"autocomplete was refused: {rec.rejections}")
        return rec.choices

    async def autocomplete_record(
        self,
        name: str,
        focused: str,
        value: str = "",
        options: dict[str, Any] | None = None,
        *,
        member: MemberRef = None,
        channel: ChannelRef = None,
        guild: GuildRef = None,
    ) -> InteractionRecord:
        """Like `autocomplete`, but return the record without waiting."""
        g, ch, m = self.state.where(guild, channel, member)
        words = name.strip().lstrip("/").split()
        definition, scoped = self.state.commands.find(words[0], g, 1)
        values = {**(options or {}), focused: value}
        opts, resolved = build_options(
            definition, words[1:], values, OptionResolver(self.state, g), focused=focused
        )
        data = chat_input_data(definition, opts, resolved, g if scoped else None)
        return await self._send(self.new_record(AUTOCOMPLETE, g, ch, m, data), g)

    async def context_menu(
        self,
        name: str,
        target: MessageRef | Member,
        *,
        member: MemberRef = None,
        channel: ChannelRef = None,
        guild: GuildRef = None,
    ) -> InteractionRecord:
        """Use a message command on a message, or a user command on a member."""
        if isinstance(target, Member):
            g, ch, m = self.state.where(guild or target.guild, channel, member)
            definition, scoped = self.state.commands.find(name, g, 2)
            resolved = member_resolved(target)
            target_id = str(target.id)
        else:
            msg = self.state.message(target)
            target_channel = self.state.world.channels[int(msg["channel_id"])]
            g, ch, m = self.state.where(
                guild or target_channel.guild, channel or target_channel, member
            )
            definition, scoped = self.state.commands.find(name, g, 3)
            resolved = {"messages": {msg["id"]: copy.deepcopy(msg)}}
            target_id = msg["id"]
        self._check_visible(definition, m)
        data: dict[str, Any] = {
            "id": definition["id"],
            "name": definition["name"],
            "type": definition["type"],
            "target_id": target_id,
            "resolved": resolved,
        }
        if scoped:
            data["guild_id"] = str(g.id)
        return await self._send(self.new_record(APPLICATION_COMMAND, g, ch, m, data), g)

    # ---------------------------------------------------------- components
    async def click(
        self,
        message: MessageRef,
        label: str | None = None,
        custom_id: str | None = None,
        *,
        member: MemberRef = None,
    ) -> InteractionRecord:
        """Click a button (by label or custom_id) on the message's current version."""
        msg = self.state.message(message)
        button = pick_button(msg, label, custom_id)
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return await self._use_component(msg, data, member)

    async def select(
        self,
        message: MessageRef,
        values: list[str],
        custom_id: str | None = None,
        *,
        member: MemberRef = None,
    ) -> InteractionRecord:
        """Choose `values` in a string select (the first one, or the one with `custom_id`)."""
        msg = self.state.message(message)
        select = pick_select(msg, values, custom_id)
        data = {"custom_id": select["custom_id"], "component_type": 3, "values": list(values)}
        return await self._use_component(msg, data, member)

    async def submit_modal(
        self, rec: InteractionRecord, values: dict[str, str], *, member: MemberRef = None
    ) -> InteractionRecord:
        """Fill in and submit the modal the bot opened on `rec` (see `filled_modal` for keys)."""
        modal = rec.modal
        if modal is None:
            raise ComponentError(f"interaction {rec.name!r} did not open a modal")
        components = filled_modal(modal, values)
        guild = self.state.world.guild(int(rec.payload["guild_id"]))
        channel = self.state.world.channels[int(rec.payload["channel_id"])]
        who = member if member is not None else int(rec.payload["member"]["user"]["id"])
        g, ch, m = self.state.where(guild, channel, who)
        data = {"custom_id": modal["custom_id"], "components": components}
        new = self.new_record(MODAL_SUBMIT, g, ch, m, data)
        if rec.source_message_id is not None:
            new.payload["message"] = copy.deepcopy(self.state.messages.get(rec.source_message_id))
            new.source_message_id = rec.source_message_id
        return await self._send(new, g)

    # ------------------------------------------------------------ messages
    async def post_message(
        self,
        channel: ChannelRef = None,
        member: MemberRef = None,
        content: str = "",
        *,
        guild: GuildRef = None,
    ) -> dict[str, Any]:
        """A user posts `content` in a channel (e.g. as a target for a message command)."""
        _, ch, m = self.state.where(guild, channel, member)
        body = {"content": content}
        message = self.lifecycle.create(ch, m.user.payload(), body, [], member=m)
        await asyncio.sleep(0)  # let the MESSAGE_CREATE go out first, as on Discord
        return copy.deepcopy(message)

    # ---------------------------------------------------------- interactions
    def new_record(
        self, itype: int, guild: Guild, channel: Channel, member: Member, data: dict[str, Any]
    ) -> InteractionRecord:
        """An interaction as Discord would send it, not yet known to the REST side."""
        state = self.state
        iid = state.ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(state.application_id),
            "type": itype,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
            "channel_id": str(channel.id),
            "channel": channel.payload(),
            # Discord sends the member's and the bot's permissions in this channel.
            "member": member.payload(with_permissions=True, channel=channel),
            "token": token,
            "version": 1,
            "app_permissions": str(guild.app_permissions_in(channel)),
            "locale": member.locale,
            "guild_locale": guild.preferred_locale,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": limits.ATTACHMENT_SIZE_LIMIT,
        }
        return InteractionRecord(
            state.messages, iid, token, itype, payload, created_at=state.clock.now()
        )

    def open_interaction(
        self,
        itype: int = APPLICATION_COMMAND,
        data: dict[str, Any] | None = None,
        *,
        member: MemberRef = None,
        channel: ChannelRef = None,
        guild: GuildRef = None,
    ) -> InteractionRecord:
        """Register an interaction without dispatching it, to test the REST side directly."""
        g, ch, m = self.state.where(guild, channel, member)
        rec = self.new_record(itype, g, ch, m, data or {"id": "0", "name": "direct", "type": 1})
        self.state.track(rec)
        return rec

    async def _send(self, rec: InteractionRecord, guild: Guild) -> InteractionRecord:
        session = self.gateway.session_for(guild)
        self.state.track(rec)
        rec.created_at = self.state.clock.now()
        await session.dispatch("INTERACTION_CREATE", rec.payload)
        return rec

    async def _use_component(
        self, msg: dict[str, Any], data: dict[str, Any], member: MemberRef
    ) -> InteractionRecord:
        """A component interaction on `msg`; by default the member who ran the command uses it."""
        channel = self.state.world.channels[int(msg["channel_id"])]
        if member is None and msg.get("interaction_metadata"):
            member = int(msg["interaction_metadata"]["user"]["id"])
        g, ch, m = self.state.where(channel.guild, channel, member)
        rec = self.new_record(COMPONENT, g, ch, m, data)
        rec.payload["message"] = copy.deepcopy(msg)
        rec.source_message_id = int(msg["id"])
        return await self._send(rec, g)

    def _check_visible(self, definition: dict[str, Any], member: Member) -> None:
        if self.state.enforce_default_permissions:
            self.state.commands.check_visible(definition, member)


def chat_input_data(
    definition: dict[str, Any],
    options: list[dict[str, Any]],
    resolved: dict[str, Any],
    scope: Guild | None,
) -> dict[str, Any]:
    """The `data` of a slash-command interaction (or its autocomplete).

    `scope` is the guild of a guild command; None for a global one.
    """
    data: dict[str, Any] = {
        "id": definition["id"],
        "name": definition["name"],
        "type": 1,
        "options": options,
    }
    if resolved:
        data["resolved"] = resolved
    if scope is not None:
        data["guild_id"] = str(scope.id)
    return data
