"""Messages over their life: created by callbacks and followups, edited, deleted."""

from __future__ import annotations

import copy
from typing import Any

from bot.sandbox import limits, messages
from bot.sandbox.gateway import Gateway
from bot.sandbox.interactions import APPLICATION_COMMAND, HistoryEntry, InteractionRecord, Upload
from bot.sandbox.messages import IncomingFile
from bot.sandbox.state import EmulatorState
from bot.sandbox.world import Channel, Member


class MessageLifecycle:
    """Creating, editing and deleting messages, and what each accepted callback type does.

    Every change to a message made for an interaction is kept in that
    interaction's history; messages that everyone sees are announced on the gateway.
    """

    def __init__(self, state: EmulatorState, gateway: Gateway) -> None:
        self.state = state
        self.gateway = gateway

    def create(
        self,
        channel: Channel,
        author: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        *,
        flags: int = 0,
        rec: InteractionRecord | None = None,
        member: Member | None = None,
        message_type: int = messages.DEFAULT,
        reference: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a new message from an accepted body; returns the stored payload itself.

        `message_type` and `reference` are for system messages (a thread's notice).
        """
        state = self.state
        metadata = None
        if rec is not None:
            data = rec.payload.get("data") or {}
            if rec.type == APPLICATION_COMMAND:
                message_type = (
                    messages.CHAT_INPUT_COMMAND
                    if data.get("type", 1) == 1
                    else messages.CONTEXT_MENU_COMMAND
                )
            metadata = {
                "id": str(rec.id),
                "type": rec.type,
                "user": rec.payload["member"]["user"],
                "authorizing_integration_owners": rec.payload["authorizing_integration_owners"],
            }
        body_flags = int(body.get("flags") or 0)
        message = messages.new_message(
            message_id=state.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild.id,
            author=author,
            message_type=message_type,
            flags=flags | (body_flags & (limits.SUPPRESS_EMBEDS | limits.SUPPRESS_NOTIFICATIONS)),
            application_id=state.application_id if rec is not None else None,
            webhook_id=state.application_id if rec is not None else None,
            interaction_metadata=metadata,
        )
        if member is not None:
            message["member"] = {k: v for k, v in member.payload().items() if k != "user"}
        if reference is not None:
            message["message_reference"] = reference
        messages.apply_body(message, body, self._lookup_user)
        self._attach(message, body, files, rec)
        state.messages[int(message["id"])] = message
        if not flags & limits.EPHEMERAL:
            channel.messages.append(message)
            if channel.is_thread:
                channel.message_count += 1
                channel.total_message_sent += 1
            self.gateway.announce(channel, message)
        if rec is not None:
            rec.history.append(HistoryEntry("create", copy.deepcopy(message)))
            rec.notify()
        return message

    def edit(
        self,
        message: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        *,
        rec: InteractionRecord | None = None,
    ) -> dict[str, Any]:
        """Apply an accepted edit body; returns a copy of the message afterwards.

        Every edit is logged with the emulator's clock (`state.edits`), so tests can
        check a message's edit rate against Discord's budget.
        """
        self.state.edits.append((int(message["id"]), self.state.clock.now()))
        messages.apply_body(message, body, self._lookup_user)
        self._attach(message, body, files, rec)
        message["flags"] = int(message.get("flags") or 0) & ~limits.LOADING
        message["edited_timestamp"] = messages.iso_now()
        if rec is not None:
            rec.history.append(HistoryEntry("edit", copy.deepcopy(message)))
            rec.notify()
        return copy.deepcopy(message)

    def delete(self, message: dict[str, Any], *, rec: InteractionRecord | None = None) -> None:
        self.state.messages.pop(int(message["id"]), None)
        channel = self.state.world.channels.get(int(message["channel_id"]))
        if channel is not None and message in channel.messages:
            channel.messages.remove(message)
        if rec is not None:
            rec.history.append(HistoryEntry("delete", copy.deepcopy(message)))
            rec.notify()

    def apply_callback(
        self, rec: InteractionRecord, ctype: int, data: dict[str, Any], files: list[IncomingFile]
    ) -> dict[str, Any] | None:
        """Record an accepted callback and create or edit the message it implies."""
        channel = self.state.world.channels[int(rec.payload["channel_id"])]
        message: dict[str, Any] | None = None
        record = {"type": ctype, "data": copy.deepcopy(data), "files": [f.filename for f in files]}
        author = self.state.bot_author()
        if ctype == 4:
            flags = int(data.get("flags") or 0) & limits.EPHEMERAL
            message = self.create(channel, author, data, files, flags=flags, rec=rec)
            rec.original_id = int(message["id"])
        elif ctype == 5:
            flags = (int(data.get("flags") or 0) & limits.EPHEMERAL) | limits.LOADING
            message = self.create(channel, author, {}, [], flags=flags, rec=rec)
            rec.original_id = int(message["id"])
        elif ctype in (6, 7) and rec.source_message_id is not None:
            rec.original_id = rec.source_message_id
            source = self.state.messages.get(rec.source_message_id)
            if ctype == 7 and source is not None:
                self.edit(source, data, files, rec=rec)
            message = self.state.messages.get(rec.source_message_id)
        rec.callbacks.append(record)
        rec.notify()
        return copy.deepcopy(message) if message is not None else None

    def followup(
        self, rec: InteractionRecord, body: dict[str, Any], files: list[IncomingFile]
    ) -> dict[str, Any]:
        """A followup; after a type-5 defer the first one replaces the "thinking…" message."""
        original = rec.original
        if (
            rec.response_type == 5
            and original is not None
            and int(original.get("flags") or 0) & limits.LOADING
            and not rec.followup_ids
        ):
            return self.edit(original, body, files, rec=rec)
        channel = self.state.world.channels[int(rec.payload["channel_id"])]
        flags = int(body.get("flags") or 0) & limits.EPHEMERAL
        message = self.create(channel, self.state.bot_author(), body, files, flags=flags, rec=rec)
        rec.followup_ids.append(int(message["id"]))
        return copy.deepcopy(message)

    # ----------------------------------------------------------- internals
    def _lookup_user(self, uid: int) -> dict[str, Any] | None:
        user = self.state.world.user_by_id(uid)
        return None if user is None else user.payload()

    def _attach(
        self,
        message: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        rec: InteractionRecord | None,
    ) -> None:
        """Keep the attachments the body lists and store its new uploads."""
        uploads = {f.index: f for f in files}
        existing = {a["id"]: a for a in message.get("attachments") or []}
        new_list: list[dict[str, Any]] = []
        described = body.get("attachments")
        if described is None:
            described = [{"id": f.index} for f in files] if files else None
        if described is None:
            return
        for item in described:
            key = str(item.get("id"))
            if key in existing:
                new_list.append(existing[key])
                continue
            upload = uploads.get(int(key)) if key.isdigit() and int(key) in uploads else None
            if upload is None:
                continue
            aid = self.state.ids.next()
            stored = Upload(upload.filename, upload.data, int(message["id"]))
            self.state.attachments[aid] = stored
            if rec is not None:
                rec.files.append(stored)
            new_list.append(
                messages.attachment_payload(
                    aid, upload, self.state.base_url, item.get("description")
                )
            )
        message["attachments"] = new_list
