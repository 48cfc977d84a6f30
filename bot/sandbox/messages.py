"""Message payloads: building, editing and working out who a message would ping."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from typing import Any

from bot.sandbox.world import iso_now

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE = re.compile(r"@(everyone|here)\b")

DEFAULT = 0
CHAT_INPUT_COMMAND = 20
CONTEXT_MENU_COMMAND = 23


@dataclass
class IncomingFile:
    """A `files[n]` part of a multipart request."""

    index: int
    filename: str
    data: bytes
    content_type: str | None = None


def resolve_mentions(
    content: str, allowed: dict[str, Any] | None
) -> tuple[list[int], list[int], bool]:
    """User ids, role ids and @everyone that `content` would actually ping under `allowed`.

    With no `allowed_mentions`, Discord pings everything written in the content.
    """
    users = [int(u) for u in USER_MENTION.findall(content)]
    roles = [int(r) for r in ROLE_MENTION.findall(content)]
    everyone = bool(EVERYONE.search(content))
    if allowed is None:
        return users, roles, everyone
    parse = set(allowed.get("parse") or [])
    allowed_users = {int(u) for u in allowed.get("users") or []}
    allowed_roles = {int(r) for r in allowed.get("roles") or []}
    users = [u for u in users if "users" in parse or u in allowed_users]
    roles = [r for r in roles if "roles" in parse or r in allowed_roles]
    return users, roles, everyone and "everyone" in parse


def attachment_payload(
    attachment_id: int, upload: IncomingFile, base_url: str, description: str | None
) -> dict[str, Any]:
    url = f"{base_url}/attachments/{attachment_id}/{upload.filename}"
    content_type = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    data: dict[str, Any] = {
        "id": str(attachment_id),
        "filename": upload.filename,
        "size": len(upload.data),
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    }
    if description:
        data["description"] = description
    return data


def apply_body(message: dict[str, Any], body: dict[str, Any], lookup_user: Any) -> None:
    """Copy the editable fields of a create/edit body onto a message payload."""
    for key in ("content", "embeds", "components", "tts"):
        if key in body:
            value = body[key]
            if value is None:
                value = "" if key == "content" else []
            message[key] = value
    if "allowed_mentions" in body:
        message["allowed_mentions"] = body["allowed_mentions"]
    if "flags" in body and body["flags"] is not None:
        # Edits may only toggle SUPPRESS_EMBEDS; EPHEMERAL and LOADING are kept from creation.
        keep = int(message.get("flags") or 0) & ~(1 << 2)
        message["flags"] = keep | (int(body["flags"]) & (1 << 2))
    users, roles, everyone = resolve_mentions(
        message.get("content") or "", message.get("allowed_mentions")
    )
    message["mentions"] = [u for u in (lookup_user(uid) for uid in users) if u is not None]
    message["mention_roles"] = [str(r) for r in roles]
    message["mention_everyone"] = everyone


def new_message(
    *,
    message_id: int,
    channel_id: int,
    guild_id: int | None,
    author: dict[str, Any],
    message_type: int = DEFAULT,
    flags: int = 0,
    application_id: int | None = None,
    webhook_id: int | None = None,
    interaction_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An empty message payload with every key discord.py reads."""
    message: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": "",
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "flags": flags,
        "type": message_type,
        "pinned": False,
    }
    if guild_id is not None:
        message["guild_id"] = str(guild_id)
    if application_id is not None:
        message["application_id"] = str(application_id)
    if webhook_id is not None:
        message["webhook_id"] = str(webhook_id)
    if interaction_metadata is not None:
        message["interaction_metadata"] = interaction_metadata
    return message


def to_discord(message: dict[str, Any]) -> dict[str, Any]:
    """The message as Discord returns it (without the emulator's bookkeeping keys)."""
    return {k: v for k, v in message.items() if k != "allowed_mentions"}
