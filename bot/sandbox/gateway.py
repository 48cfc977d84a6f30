"""The gateway: a websocket speaking Discord's v10 JSON protocol in TEXT frames.

TEXT frames are never compressed by discord.py's reader, so the client's
`compress=zlib-stream` query can be ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from bot.sandbox.emulator import FakeDiscord
    from bot.sandbox.world import Guild

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, REQUEST_MEMBERS = 0, 1, 2, 6, 8
RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 7, 9, 10, 11
INTENT_GUILD_MESSAGES = 1 << 9
HEARTBEAT_INTERVAL_MS = 41250


class GatewaySession:
    """One identified gateway connection (one shard)."""

    def __init__(self, fake: FakeDiscord, ws: web.WebSocketResponse) -> None:
        self.fake = fake
        self.ws = ws
        self.session_id = secrets.token_hex(16)
        self.seq = 0
        self.shard_id = 0
        self.shard_count = 1
        self.intents = 0
        self.identified = asyncio.Event()
        self._lock = asyncio.Lock()

    def owns(self, guild: Guild) -> bool:
        """Discord's shard formula: (guild_id >> 22) % num_shards."""
        return (guild.id >> 22) % self.shard_count == self.shard_id

    async def send(self, op: int, d: Any = None, t: str | None = None) -> None:
        async with self._lock:
            payload: dict[str, Any] = {"op": op, "d": d, "s": None, "t": t}
            if op == DISPATCH:
                self.seq += 1
                payload["s"] = self.seq
            if self.ws.closed:
                return
            await self.ws.send_str(json.dumps(payload))

    async def dispatch(self, t: str, d: Any) -> None:
        await self.send(DISPATCH, d, t)


async def gateway_handler(fake: FakeDiscord, request: web.Request) -> web.WebSocketResponse:
    """Serve one gateway connection until either side closes it."""
    ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
    await ws.prepare(request)
    session = GatewaySession(fake, ws)
    await session.send(HELLO, {"heartbeat_interval": HEARTBEAT_INTERVAL_MS})
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            await _handle(fake, session, data.get("op"), data.get("d"))
    finally:
        if session in fake.sessions:
            fake.sessions.remove(session)
    return ws


async def _handle(fake: FakeDiscord, session: GatewaySession, op: int, d: Any) -> None:
    if op == HEARTBEAT:
        await session.send(HEARTBEAT_ACK)
    elif op == IDENTIFY:
        await _identify(fake, session, d)
    elif op == RESUME:
        previous = next((s for s in fake.all_sessions if s.session_id == d.get("session_id")), None)
        if previous is None:
            await session.send(INVALID_SESSION, False)
            return
        session.session_id = previous.session_id
        session.shard_id, session.shard_count = previous.shard_id, previous.shard_count
        session.intents, session.seq = previous.intents, int(d.get("seq") or previous.seq)
        fake.sessions.append(session)
        fake.resumes += 1
        session.identified.set()
        await session.dispatch("RESUMED", {})
    elif op == REQUEST_MEMBERS:
        await _members_chunk(fake, session, d)
    else:
        log.debug("gateway op %s ignored", op)


async def _identify(fake: FakeDiscord, session: GatewaySession, d: dict[str, Any]) -> None:
    token = d.get("token")
    if fake.bot_token is not None and token != fake.bot_token:
        await session.ws.close(code=4004, message=b"Authentication failed.")
        return
    shard = d.get("shard") or [0, 1]
    session.shard_id, session.shard_count = int(shard[0]), int(shard[1])
    session.intents = int(d.get("intents") or 0)
    fake.identifies.append(dict(d, token="<redacted>"))
    fake.sessions.append(session)
    fake.all_sessions.append(session)
    guilds = [g for g in fake.world.guilds if session.owns(g)]
    bot_user = fake.world.bot_user
    assert bot_user is not None
    ready = {
        "v": 10,
        "user": {**bot_user.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
        "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
        "session_id": session.session_id,
        "resume_gateway_url": fake.gateway_url,
        "shard": [session.shard_id, session.shard_count],
        "application": {"id": str(fake.application_id), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "user_settings": {},
        "presences": [],
        "guild_join_requests": [],
    }
    await session.dispatch("READY", ready)
    for guild in guilds:
        await session.dispatch("GUILD_CREATE", guild.payload())
    session.identified.set()
    fake._on_identified()


async def _members_chunk(fake: FakeDiscord, session: GatewaySession, d: dict[str, Any]) -> None:
    """Answer op 8 with one GUILD_MEMBERS_CHUNK, honouring query, limit and user_ids."""
    guild_id = int(d["guild_id"]) if not isinstance(d["guild_id"], list) else int(d["guild_id"][0])
    guild = fake.world.guild(guild_id)
    members = guild.members
    query = d.get("query")
    if d.get("user_ids"):
        wanted = {int(u) for u in d["user_ids"]}
        members = [m for m in members if m.id in wanted]
    elif query:
        members = [m for m in members if m.name.lower().startswith(query.lower())]
    limit = int(d.get("limit") or 0)
    if limit:
        members = members[:limit]
    chunk = {
        "guild_id": str(guild.id),
        "members": [m.payload() for m in members],
        "chunk_index": 0,
        "chunk_count": 1,
        "not_found": [],
    }
    if d.get("nonce") is not None:
        chunk["nonce"] = d["nonce"]
    await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
