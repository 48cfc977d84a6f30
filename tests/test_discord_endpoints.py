"""DISCORD_API_BASE / DISCORD_GATEWAY_URL reach discord.py's REST routes and gateway."""

from __future__ import annotations

from collections.abc import Iterator

import discord
import pytest
import yarl

from bot.discord_endpoints import patch_discord_endpoints


@pytest.fixture(autouse=True)
def restore_endpoints() -> Iterator[None]:
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    yield
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


def test_routes_and_gateway_follow_the_configured_endpoints() -> None:
    """A new Route is built on the configured base (trailing slash dropped); the gateway follows."""
    patch_discord_endpoints("http://proxy.example:8080/api/v10/", "ws://gateway.example:9000/")
    route = discord.http.Route("GET", "/users/@me")
    assert route.url == "http://proxy.example:8080/api/v10/users/@me"
    assert discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY == yarl.URL(
        "ws://gateway.example:9000/"
    )


def test_none_keeps_discords_own_endpoints() -> None:
    """Unset settings leave discord.py on Discord's endpoints."""
    before = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    patch_discord_endpoints(None, None)
    assert (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == before
