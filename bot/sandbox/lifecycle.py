"""Messages over their life: created by callbacks and followups, edited, deleted."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from bot.sandbox import limits, messages
from bot.sandbox.gateway import INTENT_GUILD_MESSAGES
from bot.sandbox.interactions import APPLICATION_COMMAND, HistoryEntry, InteractionRecord, Upload
from bot.sandbox.messages import IncomingFile
from bot.sandbox.state import EmulatorState
from bot.sandbox.world import Channel, Member


class MessageLifecycle(EmulatorState):
    """Creating, editing and deleting messages, and what each callback type does."""

    def _lookup_user(self, uid: int) -> dict[str, Any] | None:
        user = self.world.user_by_id(uid)
        return None if user is None else user.payload()

    def _attach(
        self,
        message: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        rec: InteractionRecord | None,
    ) -> None:
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
            aid = self.ids.next()
            stored = Upload(upload.filename, upload.data, int(message["id"]))
            self.attachments[aid] = stored
            if rec is not None:
                rec.files.append(stored)
            new_list.append(
                messages.attachment_payload(aid, upload, self.base_url, item.get("description"))
            )
        message["attachments"] = new_list

    def _create_message(
        self,
        channel: Channel,
        author: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        *,
        flags: int = 0,
        rec: InteractionRecord | None = None,
        member: Member | None = None,
    ) -> dict[str, Any]:
        message_type = messages.DEFAULT
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
        message = messages.new_message(
            message_id=self.ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild.id,
            author=author,
            message_type=message_type,
            flags=flags
            | (
                int(body.get("flags") or 0)
                & (limits.SUPPRESS_EMBEDS | limits.SUPPRESS_NOTIFICATIONS)
            ),
            application_id=self.application_id if rec is not None else None,
            webhook_id=self.application_id if rec is not None else None,
            interaction_metadata=metadata,
        )
        if member is not None:
            message["member"] = {k: v for k, v in member.payload().items() if k != "user"}
        messages.apply_body(message, body, self._lookup_user)
        self._attach(message, body, files, rec)
        self.messages[int(message["id"])] = message
        if not flags & limits.EPHEMERAL:
            channel.messages.append(message)
            self._announce(channel, message)
        if rec is not None:
            rec.history.append(HistoryEntry("create", copy.deepcopy(message)))
            rec._notify()
        return message

    async def _create_message_async(
        self,
        channel: Channel,
        author: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        member: Member | None = None,
    ) -> dict[str, Any]:
        message = self._create_message(channel, author, body, files, member=member)
        await asyncio.sleep(0)
        return copy.deepcopy(message)

    def _announce(self, channel: Channel, message: dict[str, Any]) -> None:
        """MESSAGE_CREATE to the shard owning the guild, if it asked for guild messages."""
        for session in self.sessions:
            if (
                session.identified.is_set()
                and session.owns(channel.guild)
                and session.intents & INTENT_GUILD_MESSAGES
            ):
                task = asyncio.ensure_future(
                    session.dispatch(
                        "MESSAGE_CREATE", dict(message, guild_id=str(channel.guild.id))
                    )
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _edit_message(
        self,
        message: dict[str, Any],
        body: dict[str, Any],
        files: list[IncomingFile],
        *,
        rec: InteractionRecord | None = None,
    ) -> dict[str, Any]:
        messages.apply_body(message, body, self._lookup_user)
        self._attach(message, body, files, rec)
        message["flags"] = int(message.get("flags") or 0) & ~limits.LOADING
        message["edited_timestamp"] = messages.iso_now()
        if rec is not None:
            rec.history.append(HistoryEntry("edit", copy.deepcopy(message)))
            rec._notify()
        return copy.deepcopy(message)

    def _delete_message(
        self, message: dict[str, Any], *, rec: InteractionRecord | None = None
    ) -> None:
        mid = int(message["id"])
        self.messages.pop(mid, None)
        channel = self.world.channels.get(int(message["channel_id"]))
        if channel is not None and message in channel.messages:
            channel.messages.remove(message)
        if rec is not None:
            rec.history.append(HistoryEntry("delete", copy.deepcopy(message)))
            rec._notify()

    def _bot_author(self) -> dict[str, Any]:
        assert self.world.bot_user is not None
        return self.world.bot_user.payload()

    def _apply_callback(
        self, rec: InteractionRecord, ctype: int, data: dict[str, Any], files: list[IncomingFile]
    ) -> dict[str, Any] | None:
        """Record an accepted callback and create or edit the message it implies."""
        channel = self.world.channels[int(rec.payload["channel_id"])]
        message: dict[str, Any] | None = None
        record = {"type": ctype, "data": copy.deepcopy(data), "files": [f.filename for f in files]}
        if ctype == 4:
            flags = int(data.get("flags") or 0) & limits.EPHEMERAL
            message = self._create_message(
                channel, self._bot_author(), data, files, flags=flags, rec=rec
            )
            rec.original_id = int(message["id"])
        elif ctype == 5:
            flags = (int(data.get("flags") or 0) & limits.EPHEMERAL) | limits.LOADING
            message = self._create_message(
                channel, self._bot_author(), {}, [], flags=flags, rec=rec
            )
            rec.original_id = int(message["id"])
        elif ctype in (6, 7) and rec.source_message_id is not None:
            rec.original_id = rec.source_message_id
            source = self.messages.get(rec.source_message_id)
            if ctype == 7 and source is not None:
                self._edit_message(source, data, files, rec=rec)
            message = self.messages.get(rec.source_message_id)
        rec.callbacks.append(record)
        rec._notify()
        return copy.deepcopy(message) if message is not None else None

    def _followup(
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
            return self._edit_message(original, body, files, rec=rec)
        channel = self.world.channels[int(rec.payload["channel_id"])]
        flags = int(body.get("flags") or 0) & limits.EPHEMERAL
        message = self._create_message(
            channel, self._bot_author(), body, files, flags=flags, rec=rec
        )
        rec.followup_ids.append(int(message["id"]))
        return copy.deepcopy(message)
