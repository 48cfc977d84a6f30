"""The injection API: what a Discord user does (commands, clicks, forms, messages)."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from bot.sandbox import limits, messages
from bot.sandbox import permissions as perm
from bot.sandbox.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    COMPONENT,
    MODAL_SUBMIT,
    InteractionRecord,
    Upload,
)
from bot.sandbox.lifecycle import MessageLifecycle
from bot.sandbox.messages import IncomingFile
from bot.sandbox.options import (
    ATTACHMENT,
    CHANNEL,
    MENTIONABLE,
    ROLE,
    USER,
    OptionError,
    build_options,
)
from bot.sandbox.state import ComponentError, MessageRef
from bot.sandbox.world import Channel, Guild, Member, Role


class Injection(MessageLifecycle):
    """Interactions and messages injected as a given member in a given channel."""

    # ---------------------------------------------------- option resolving
    def _resolver(self, guild: Guild):  # type: ignore[no-untyped-def]
        def resolve(
            otype: int, value: Any, opt: dict[str, Any]
        ) -> tuple[str, dict[str, dict[str, Any]]]:
            if otype in (USER, MENTIONABLE) and not isinstance(value, Role):
                try:
                    member = self._member(guild, value)
                except LookupError:
                    if otype == USER:
                        raise OptionError(f"option {opt['name']!r}: no member {value!r}.") from None
                else:
                    data = member.payload(with_permissions=True)
                    user = data.pop("user")
                    return str(member.id), {
                        "users": {str(member.id): user},
                        "members": {str(member.id): data},
                    }
            if otype in (ROLE, MENTIONABLE):
                try:
                    role = value if isinstance(value, Role) else guild.role(value)
                except LookupError:
                    raise OptionError(f"option {opt['name']!r}: no role {value!r}.") from None
                return str(role.id), {"roles": {str(role.id): role.payload()}}
            if otype == CHANNEL:
                try:
                    channel = self._channel(guild, value)
                except LookupError:
                    raise OptionError(f"option {opt['name']!r}: no channel {value!r}.") from None
                types = opt.get("channel_types")
                if types and channel.type not in types:
                    raise OptionError(
                        f"option {opt['name']!r}: channel type {channel.type} not in {types}."
                    )
                data = channel.payload()
                data["permissions"] = str(perm.ALL_PERMISSIONS)
                return str(channel.id), {"channels": {str(channel.id): data}}
            if otype == ATTACHMENT:
                if isinstance(value, dict):
                    filename, blob = value["filename"], value["data"]
                else:
                    filename, blob = value
                if isinstance(blob, str):
                    blob = blob.encode()
                aid = self.ids.next()
                upload = IncomingFile(0, filename, bytes(blob))
                self.attachments[aid] = Upload(filename, upload.data, 0)
                data = messages.attachment_payload(aid, upload, self.base_url, None)
                return str(aid), {"attachments": {str(aid): data}}
            raise OptionError(f"option {opt['name']!r}: cannot resolve {value!r}.")

        return resolve

    def _new_record(
        self, itype: int, guild: Guild, channel: Channel, member: Member, data: dict[str, Any]
    ) -> InteractionRecord:
        iid = self.ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "channel_id": str(channel.id),
            "channel": channel.payload(),
            # Discord sends the member's and the bot's permissions in this channel.
            "member": member.payload(with_permissions=True, channel=channel),
            "token": token,
            "version": 1,
            "app_permissions": str(guild.app_permissions_in(channel)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": limits.ATTACHMENT_SIZE_LIMIT,
        }
        rec = InteractionRecord(self, iid, token, itype, payload, created_at=self.clock.now())
        return rec

    def open_interaction(
        self,
        itype: int = APPLICATION_COMMAND,
        data: dict[str, Any] | None = None,
        *,
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
    ) -> InteractionRecord:
        """Register an interaction without dispatching it, to test the REST side directly."""
        g, ch, m = self._where(guild, channel, member)
        rec = self._new_record(itype, g, ch, m, data or {"id": "0", "name": "direct", "type": 1})
        self.interactions[rec.id] = rec
        self.interactions_by_token[rec.token] = rec
        return rec

    async def _send(self, rec: InteractionRecord, guild: Guild) -> InteractionRecord:
        session = self._session_for(guild)
        self.interactions[rec.id] = rec
        self.interactions_by_token[rec.token] = rec
        rec.created_at = self.clock.now()
        await session.dispatch("INTERACTION_CREATE", rec.payload)
        return rec

    # ----------------------------------------------------------- injection
    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        /,
        *,
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
        **more_options: Any,
    ) -> InteractionRecord:
        """Run `/name [group] [sub]` with options, type-checked against the synced definition.

        Options go in the `options` dict or as keywords; use the dict for options
        named like this method's keywords (member, channel, guild).
        """
        g, ch, m = self._where(guild, channel, member)
        words = name.strip().lstrip("/").split()
        definition, scoped = self._find_command(words[0], g, 1)
        self._can_see(definition, m)
        values = {**(options or {}), **more_options}
        opts, resolved = build_options(definition, words[1:], values, self._resolver(g))
        data = _chat_input_data(definition, opts, resolved, g if scoped else None)
        rec = self._new_record(APPLICATION_COMMAND, g, ch, m, data)
        return await self._send(rec, g)

    async def autocomplete(
        self,
        name: str,
        focused: str,
        value: str = "",
        options: dict[str, Any] | None = None,
        *,
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
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
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
    ) -> InteractionRecord:
        """Like `autocomplete`, but return the record without waiting."""
        g, ch, m = self._where(guild, channel, member)
        words = name.strip().lstrip("/").split()
        definition, scoped = self._find_command(words[0], g, 1)
        values = {**(options or {}), focused: value}
        opts, resolved = build_options(
            definition, words[1:], values, self._resolver(g), focused=focused
        )
        data = _chat_input_data(definition, opts, resolved, g if scoped else None)
        rec = self._new_record(AUTOCOMPLETE, g, ch, m, data)
        return await self._send(rec, g)

    def _focused_option(self, rec: InteractionRecord) -> dict[str, Any] | None:
        """The definition of the option being autocompleted in `rec`."""
        data = rec.payload.get("data") or {}
        guild = self.world.guild(int(rec.payload["guild_id"]))
        definition, _ = self._find_command(data["name"], guild, 1)
        options, defs = data.get("options") or [], definition.get("options") or []
        while options and options[0].get("type") in (1, 2):
            sub = options[0]
            defs = next(d for d in defs if d["name"] == sub["name"]).get("options") or []
            options = sub.get("options") or []
        focused = next((o for o in options if o.get("focused")), None)
        if focused is None:
            return None
        return next((d for d in defs if d["name"] == focused["name"]), None)

    async def context_menu(
        self,
        name: str,
        target: MessageRef | Member,
        *,
        member: Member | str | int | None = None,
        channel: Channel | str | int | None = None,
        guild: Guild | str | int | None = None,
    ) -> InteractionRecord:
        """Use a message command on a message, or a user command on a member."""
        if isinstance(target, Member):
            g, ch, m = self._where(guild or target.guild, channel, member)
            definition, scoped = self._find_command(name, g, 2)
            data_member = target.payload(with_permissions=True)
            user = data_member.pop("user")
            resolved = {"users": {str(target.id): user}, "members": {str(target.id): data_member}}
            target_id = str(target.id)
        else:
            msg = self._message(target)
            target_channel = self.world.channels[int(msg["channel_id"])]
            g, ch, m = self._where(guild or target_channel.guild, channel or target_channel, member)
            definition, scoped = self._find_command(name, g, 3)
            resolved = {"messages": {msg["id"]: copy.deepcopy(msg)}}
            target_id = msg["id"]
        self._can_see(definition, m)
        data: dict[str, Any] = {
            "id": definition["id"],
            "name": definition["name"],
            "type": definition["type"],
            "target_id": target_id,
            "resolved": resolved,
        }
        if scoped:
            data["guild_id"] = str(g.id)
        rec = self._new_record(APPLICATION_COMMAND, g, ch, m, data)
        return await self._send(rec, g)

    def _message(self, ref: MessageRef) -> dict[str, Any]:
        mid = int(ref["id"]) if isinstance(ref, dict) else int(ref)
        msg = self.messages.get(mid)
        if msg is None:
            raise LookupError(f"no message {mid} (was it deleted?)")
        return msg

    def _clicker(
        self, msg: dict[str, Any], member: Member | str | int | None
    ) -> tuple[Guild, Channel, Member]:
        channel = self.world.channels[int(msg["channel_id"])]
        if member is None and msg.get("interaction_metadata"):
            member = int(msg["interaction_metadata"]["user"]["id"])
        return self._where(channel.guild, channel, member)

    @staticmethod
    def _components(msg: dict[str, Any]) -> list[dict[str, Any]]:
        return [c for row in msg.get("components") or [] for c in row.get("components") or []]

    async def click(
        self,
        message: MessageRef,
        label: str | None = None,
        custom_id: str | None = None,
        *,
        member: Member | str | int | None = None,
    ) -> InteractionRecord:
        """Click a button (by label or custom_id) on the message's current version."""
        msg = self._message(message)
        buttons = [c for c in self._components(msg) if c.get("type") == 2]
        found = [
            b
            for b in buttons
            if (label is not None and b.get("label") == label)
            or (custom_id is not None and b.get("custom_id") == custom_id)
        ]
        if not found:
            labels = ", ".join(repr(b.get("label")) for b in buttons) or "none"
            raise ComponentError(
                f"no button {label or custom_id!r} on message {msg['id']} (buttons: {labels})"
            )
        button = found[0]
        if button.get("disabled"):
            raise ComponentError(f"button {label or custom_id!r} is disabled")
        if button.get("style") in (5, 6):
            raise ComponentError(f"button {label or custom_id!r} is a link or premium button")
        g, ch, m = self._clicker(msg, member)
        data = {"custom_id": button["custom_id"], "component_type": 2}
        rec = self._new_record(COMPONENT, g, ch, m, data)
        rec.payload["message"] = copy.deepcopy(msg)
        rec.source_message_id = int(msg["id"])
        return await self._send(rec, g)

    async def select(
        self,
        message: MessageRef,
        values: list[str],
        custom_id: str | None = None,
        *,
        member: Member | str | int | None = None,
    ) -> InteractionRecord:
        """Choose `values` in a string select (the first one, or the one with `custom_id`)."""
        msg = self._message(message)
        selects = [c for c in self._components(msg) if c.get("type") == 3]
        select = next((s for s in selects if custom_id in (None, s.get("custom_id"))), None)
        if select is None:
            raise ComponentError(f"no select {custom_id!r} on message {msg['id']}")
        allowed = {o["value"] for o in select.get("options") or []}
        lo, hi = select.get("min_values", 1), select.get("max_values", 1)
        if not set(values) <= allowed or not lo <= len(values) <= hi:
            raise ComponentError(
                f"values {values} not allowed (options {sorted(allowed)}, {lo}–{hi} picks)"
            )
        g, ch, m = self._clicker(msg, member)
        data = {"custom_id": select["custom_id"], "component_type": 3, "values": list(values)}
        rec = self._new_record(COMPONENT, g, ch, m, data)
        rec.payload["message"] = copy.deepcopy(msg)
        rec.source_message_id = int(msg["id"])
        return await self._send(rec, g)

    async def submit_modal(
        self,
        rec: InteractionRecord,
        values: dict[str, str],
        *,
        member: Member | str | int | None = None,
    ) -> InteractionRecord:
        """Fill in and submit the modal the bot opened on `rec`.

        Keys are a field's custom_id or its label (any case); the key "" fills a
        modal's only text field. Fields not given keep the bot's default value.
        """
        modal = rec.modal
        if modal is None:
            raise ComponentError(f"interaction {rec.name!r} did not open a modal")
        inputs = [i for i in limits.modal_inputs(modal["components"]) if i.get("type") == 4]
        by_key: dict[str, str] = {}
        for key, value in values.items():
            if key == "" and len(inputs) == 1:
                by_key[inputs[0]["custom_id"]] = value
                continue
            item = next(
                (
                    i
                    for i in inputs
                    if key == i.get("custom_id") or key.lower() == str(i.get("label") or "").lower()
                ),
                None,
            )
            if item is None:
                fields = ", ".join(str(i.get("label") or i.get("custom_id")) for i in inputs)
                raise ComponentError(
                    f"modal {modal.get('title')!r} has no field {key!r} (fields: {fields})"
                )
            by_key[item["custom_id"]] = value

        def fill(item: dict[str, Any]) -> dict[str, Any]:
            value = by_key.get(item["custom_id"], str(item.get("value") or ""))
            if item.get("required", True) and not value:
                raise ComponentError(
                    f"modal field {item.get('label') or item.get('custom_id')!r} is required"
                )
            lo, hi = item.get("min_length"), item.get("max_length")
            if value and (
                (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi)
            ):
                raise ComponentError(
                    f"modal field {item.get('custom_id')!r}: length must be {lo}–{hi}"
                )
            return {"type": 4, "custom_id": item["custom_id"], "value": value}

        components = []
        for comp in modal["components"]:
            if comp.get("type") == 1:
                components.append(
                    {
                        "type": 1,
                        "components": [fill(c) for c in comp["components"] if c.get("type") == 4],
                    }
                )
            elif comp.get("type") == 18 and (comp.get("component") or {}).get("type") == 4:
                components.append({"type": 18, "component": fill(comp["component"])})
        guild = self.world.guild(int(rec.payload["guild_id"]))
        channel = self.world.channels[int(rec.payload["channel_id"])]
        who = member if member is not None else int(rec.payload["member"]["user"]["id"])
        g, ch, m = self._where(guild, channel, who)
        new = self._new_record(
            MODAL_SUBMIT, g, ch, m, {"custom_id": modal["custom_id"], "components": components}
        )
        if rec.source_message_id is not None:
            new.payload["message"] = copy.deepcopy(self.messages.get(rec.source_message_id))
            new.source_message_id = rec.source_message_id
        return await self._send(new, g)

    async def post_message(
        self,
        channel: Channel | str | int | None = None,
        member: Member | str | int | None = None,
        content: str = "",
        *,
        guild: Guild | str | int | None = None,
    ) -> dict[str, Any]:
        """A user posts `content` in a channel (e.g. as a target for a message command)."""
        _, ch, m = self._where(guild, channel, member)
        author = m.user.payload()
        return await self._create_message_async(ch, author, {"content": content}, [], member=m)


def _chat_input_data(
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
