"""Threads: started from a message or in a channel, joined and left, and the events a
bot gets about them.

The REST routes (`rest_threads.py`) and what a member does (`fake.create_thread`,
`fake.join_thread`) both come here. As on Discord:
- a thread started from a message has the message's id, and the message carries
  it (`thread`, the HAS_THREAD flag); one started in a channel leaves a
  THREAD_CREATED system message (type 18) there;
- its creator is its first member; a member who posts in it joins it;
- THREAD_CREATE (`newly_created`) goes to the shard owning the guild if it asked
  for the guilds intent (private threads only when the bot is a member);
  THREAD_MEMBER_UPDATE when the bot itself joins; THREAD_MEMBERS_UPDATE about
  others only with the guild members intent.
Thread payloads are checked against the spec's thread response schema.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.sandbox.gateway import Gateway
from bot.sandbox.lifecycle import MessageLifecycle
from bot.sandbox.openapi import check_response
from bot.sandbox.state import EmulatorState
from bot.sandbox.world import PRIVATE_THREAD, PUBLIC_THREAD, Channel, User, iso_now

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
HAS_THREAD = 1 << 5
THREAD_CREATED = 18


class Threads:
    """Start, join and leave threads; tell the bot."""

    def __init__(self, state: EmulatorState, gateway: Gateway, lifecycle: MessageLifecycle) -> None:
        self.state = state
        self.gateway = gateway
        self.lifecycle = lifecycle

    async def start(
        self,
        parent: Channel,
        name: str,
        owner: User,
        *,
        thread_type: int = PUBLIC_THREAD,
        message: dict[str, Any] | None = None,
        auto_archive_duration: int = 1440,
    ) -> Channel:
        """A new thread in `parent` (from `message`, when given), announced to the bot."""
        thread = parent.guild.add_thread(
            parent,
            name,
            owner,
            thread_type=PUBLIC_THREAD if message is not None else thread_type,
            thread_id=int(message["id"]) if message is not None else None,
            auto_archive_duration=auto_archive_duration,
        )
        if message is not None:
            message["flags"] = int(message.get("flags") or 0) | HAS_THREAD
            message["thread"] = thread.payload()
        elif thread.type == PUBLIC_THREAD:
            self.lifecycle.create(
                parent,
                owner.payload(),
                {"content": name},
                [],
                message_type=THREAD_CREATED,
                reference={"channel_id": str(thread.id), "guild_id": str(parent.guild.id)},
            )
        await self._announce_create(thread)
        return thread

    def response(self, thread: Channel, schema: str, for_user: int) -> dict[str, Any]:
        """The thread as a route answers it, checked against the spec's response."""
        data = thread.payload(for_user=for_user)
        problems = check_response(schema, data)
        if problems:  # the emulator's own payload is wrong: a bug here, not in the bot
            raise AssertionError(f"the emulator built a thread off the spec: {problems}")
        return data

    async def join(self, thread: Channel, user: User) -> bool:
        """Add `user` to the thread's members; False if they were one already."""
        if user.id in thread.thread_members:
            return False
        thread.thread_members[user.id] = iso_now()
        guild = thread.guild
        bot = self.state.world.bot_user
        if bot is not None and user.id == bot.id:
            await self._send(thread, "THREAD_MEMBER_UPDATE", self._bot_member(thread), 0)
            return True
        member = guild.member(user.id)
        added = {**thread.thread_member_payload(user.id), "member": member.payload()}
        event = {
            "id": str(thread.id),
            "guild_id": str(guild.id),
            "member_count": thread.payload()["member_count"],
            "added_members": [added],
        }
        await self._send(thread, "THREAD_MEMBERS_UPDATE", event, INTENT_GUILD_MEMBERS)
        return True

    async def leave(self, thread: Channel, user: User) -> bool:
        """Remove `user` from the thread's members; False if they were not one."""
        if thread.thread_members.pop(user.id, None) is None:
            return False
        event = {
            "id": str(thread.id),
            "guild_id": str(thread.guild.id),
            "member_count": thread.payload()["member_count"],
            "removed_member_ids": [str(user.id)],
        }
        bot = self.state.world.bot_user
        intent = 0 if bot is not None and user.id == bot.id else INTENT_GUILD_MEMBERS
        await self._send(thread, "THREAD_MEMBERS_UPDATE", event, intent)
        return True

    def members(self, thread: Channel) -> list[dict[str, Any]]:
        """GET …/thread-members: the thread's members, checked against the spec."""
        found = [thread.thread_member_payload(uid) for uid in thread.thread_members]
        problems = check_response("list_thread_members", found)
        if problems:
            raise AssertionError(f"the emulator built thread members off the spec: {problems}")
        return found

    # ---------------------------------------------------------- internals
    def _bot_member(self, thread: Channel) -> dict[str, Any]:
        assert self.state.world.bot_user is not None
        data = thread.thread_member_payload(self.state.world.bot_user.id)
        return {**data, "guild_id": str(thread.guild.id)}

    async def _announce_create(self, thread: Channel) -> None:
        bot = self.state.world.bot_user
        bot_id = bot.id if bot is not None else None
        if thread.type == PRIVATE_THREAD and bot_id not in thread.thread_members:
            return  # a private thread is news only to its members
        data = {**thread.payload(for_user=bot_id), "newly_created": True}
        await self._send(thread, "THREAD_CREATE", data, INTENT_GUILDS)

    async def _send(self, thread: Channel, event: str, data: dict[str, Any], intent: int) -> None:
        for session in list(self.state.sessions):
            if session.live and session.owns(thread.guild) and session.intents & intent == intent:
                await session.dispatch(event, copy.deepcopy(data))
