"""Point discord.py at the configured REST base and gateway (`DISCORD_API_BASE`,
`DISCORD_GATEWAY_URL`): a REST proxy, a self-hosted gateway, or the local emulator."""

from __future__ import annotations


def patch_discord_endpoints(api_base: str | None, gateway_url: str | None) -> None:
    """Set `discord.http.Route.BASE` and `DiscordWebSocket.DEFAULT_GATEWAY`.

    Call before `login`/`start`: every Route builds its URL from BASE when created,
    and a plain Bot never asks /gateway/bot, it uses DEFAULT_GATEWAY. The webhook
    and interaction adapter share the same Route, so callbacks follow too.
    `None` leaves a value unchanged.
    """
    import discord.gateway
    import discord.http
    import yarl

    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
