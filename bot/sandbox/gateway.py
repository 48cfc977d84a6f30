"""The gateway: a websocket speaking Discord's v10 JSON protocol in TEXT frames.

TEXT frames are never compressed by discord.py's reader, so the client's
`compress=zlib-stream` query can be ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.state import EmulatorState
from bot.sandbox.world import Channel, Guild

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, REQUEST_MEMBERS = 0, 1, 2, 6, 8
RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 7, 9, 10, 11
INTENT_GUILD_MESSAGES = 1 << 9
HEARTBEAT_INTERVAL_MS = 41250


class GatewaySession:
    """One identified gateway connection (one shard)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session_id = secrets.token_hex(16)
        self.seq = 0
        self.shard_id = 0
        self.shard_count = 1
        self.intents = 0
        self.identified = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def live(self) -> bool:
        return self.identified.is_set() and not self.ws.closed

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


class Gateway:
    """Serves gateway connections and sends events to the shard that owns a guild."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._tasks: set[asyncio.Future[Any]] = set()

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one gateway connection until either side closes it."""
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        session = GatewaySession(ws)
        await session.send(HELLO, {"heartbeat_interval": HEARTBEAT_INTERVAL_MS})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                await self._handle(session, data.get("op"), data.get("d"))
        finally:
            if session in self.state.sessions:
                self.state.sessions.remove(session)
        return ws

    # ------------------------------------------------------------ sending
    def session_for(self, guild: Guild | None) -> GatewaySession:
        """The live session that receives `guild`'s events (any live one for None)."""
        live = [s for s in self.state.sessions if s.live]
        if guild is not None:
            live = [s for s in live if s.owns(guild)]
        if not live:
            raise RuntimeError("no bot is connected to the emulator's gateway for that guild")
        return live[-1]

    async def dispatch(self, t: str, d: Any, *, guild: Guild | None = None) -> None:
        """Send a gateway event to the shard that owns `guild` (or every shard)."""
        if guild is None:
            for session in list(self.state.sessions):
                if session.identified.is_set():
                    await session.dispatch(t, d)
            return
        await self.session_for(guild).dispatch(t, d)

    def announce(self, channel: Channel, message: dict[str, Any]) -> None:
        """MESSAGE_CREATE to the shard owning the guild, if it asked for guild messages.

        Sent in the background: the REST reply that created the message must not wait on it.
        """
        for session in self.state.sessions:
            if (
                session.identified.is_set()
                and session.owns(channel.guild)
                and session.intents & INTENT_GUILD_MESSAGES
            ):
                event = dict(message, guild_id=str(channel.guild.id))
                task = asyncio.ensure_future(session.dispatch("MESSAGE_CREATE", event))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway connection with `code` (4000 makes discord.py resume)."""
        for session in list(self.state.sessions):
            session.identified.clear()
            await session.ws.close(code=code, message=b"emulator closed the connection")
            if session in self.state.sessions:
                self.state.sessions.remove(session)

    async def close(self) -> None:
        """Close every connection as a server going away (1001)."""
        for session in list(self.state.sessions):
            if not session.ws.closed:
                await session.ws.close(code=1001)

    # ----------------------------------------------------------- receiving
    async def _handle(self, session: GatewaySession, op: int, d: Any) -> None:
        if op == HEARTBEAT:
            await session.send(HEARTBEAT_ACK)
        elif op == IDENTIFY:
            await self._identify(session, d)
        elif op == RESUME:
            await self._resume(session, d)
        elif op == REQUEST_MEMBERS:
            await self._members_chunk(session, d)
        else:
            log.debug("gateway op %s ignored", op)

    async def _identify(self, session: GatewaySession, d: dict[str, Any]) -> None:
        state = self.state
        token = d.get("token")
        if state.bot_token is not None and token != state.bot_token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard = d.get("shard") or [0, 1]
        session.shard_id, session.shard_count = int(shard[0]), int(shard[1])
        if not self._identify_allowed(session):
            # Discord's answer to a session started too soon in its bucket.
            await session.send(INVALID_SESSION, False)
            return
        session.intents = int(d.get("intents") or 0)
        state.identifies.append(dict(d, token="<redacted>"))
        state.sessions.append(session)
        state.all_sessions.append(session)
        guilds = [g for g in state.world.guilds if session.owns(g)]
        ready = {
            "v": 10,
            "user": {**state.bot_author(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "resume_gateway_url": state.gateway_url,
            "shard": [session.shard_id, session.shard_count],
            "application": {"id": str(state.application_id), "flags": 0},
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
        state.connected.set()

    def _identify_allowed(self, session: GatewaySession) -> bool:
        """Record the IDENTIFY; False when its bucket started a session too recently."""
        state = self.state
        now = asyncio.get_running_loop().time()
        entry = (now, session.shard_id, session.shard_count)
        bucket = session.shard_id % max(1, state.max_concurrency)
        if state.identify_interval is not None:
            last = [
                at
                for at, shard, _ in state.identify_log
                if shard % max(1, state.max_concurrency) == bucket
            ]
            if last and now - max(last) < state.identify_interval:
                log.warning("IDENTIFY of shard %s refused: its bucket is rate limited", bucket)
                state.identify_refusals.append(entry)
                return False
        state.identify_log.append(entry)
        return True

    async def _resume(self, session: GatewaySession, d: dict[str, Any]) -> None:
        state = self.state
        previous = next(
            (s for s in state.all_sessions if s.session_id == d.get("session_id")), None
        )
        if previous is None:
            await session.send(INVALID_SESSION, False)
            return
        session.session_id = previous.session_id
        session.shard_id, session.shard_count = previous.shard_id, previous.shard_count
        session.intents, session.seq = previous.intents, int(d.get("seq") or previous.seq)
        state.sessions.append(session)
        state.resumes += 1
        session.identified.set()
        await session.dispatch("RESUMED", {})

    async def _members_chunk(self, session: GatewaySession, d: dict[str, Any]) -> None:
        """Answer op 8 with one GUILD_MEMBERS_CHUNK, honouring query, limit and user_ids."""
        raw = d["guild_id"]
        guild = self.state.world.guild(int(raw[0] if isinstance(raw, list) else raw))
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
