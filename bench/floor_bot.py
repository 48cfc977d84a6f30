"""The floor: a bare discord.py bot doing the Discord and backend work of a /complete.

`/complete prompt max_tokens n`: defer ("thinking…"), one POST /v1/completions
to the backend (an httpx client as it comes, with its own transport; Couplet's
httpx client sends through aiohttp, item 27 of bench/README.md), then edit the
original response with the text and a view of buttons: ◀ Prev / Next ▶
(n > 1), Regenerate, Continue. Next/Prev edit the message in place;
Regenerate defers, asks the backend again and edits its new message. No
database, no parameter resolution, no cleaning: whatever Couplet spends beyond
this is Couplet's own cost.

Run by bench/bench_interactions.py as its own process (environment:
DISCORD_TOKEN, DISCORD_API_BASE, DISCORD_GATEWAY_URL, COMPLETIONS_BASE_URL).
"""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import discord  # noqa: E402
import httpx  # noqa: E402
from discord import app_commands  # noqa: E402

from bot.discord_endpoints import patch_discord_endpoints  # noqa: E402

MODEL = "stub-model"
NO_MENTIONS = discord.AllowedMentions.none()


def _button(label: str, custom_id: str, style: discord.ButtonStyle, disabled: bool = False) -> Any:
    return discord.ui.Button(label=label, custom_id=custom_id, style=style, disabled=disabled)


class PageItem(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"floor:page:(?P<k>\d+)"):
    def __init__(self, k: int, label: str, disabled: bool) -> None:
        super().__init__(_button(label, f"floor:page:{k}", discord.ButtonStyle.secondary, disabled))
        self.k = k

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: Any, match: re.Match[str], /
    ) -> PageItem:
        return cls(int(match["k"]), "", False)

    async def callback(self, interaction: discord.Interaction) -> None:
        assert interaction.message is not None
        prompt_line = interaction.message.content.split("\n", 1)[0]
        n = 2
        await interaction.response.edit_message(
            content=f"{prompt_line}\ncandidate {self.k + 1} of {n}",
            view=buttons(self.k, n),
            allowed_mentions=NO_MENTIONS,
        )


class RegenerateItem(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"floor:regen"):
    def __init__(self) -> None:
        super().__init__(_button("Regenerate", "floor:regen", discord.ButtonStyle.primary))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: Any, match: re.Match[str], /
    ) -> RegenerateItem:
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        assert interaction.message is not None
        prompt = interaction.message.content.split("\n", 1)[0].removeprefix("> ")
        await answer(interaction, prompt, 8, 1)


class ContinueItem(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"floor:cont"):
    def __init__(self) -> None:
        super().__init__(_button("Continue", "floor:cont", discord.ButtonStyle.success))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: Any, match: re.Match[str], /
    ) -> ContinueItem:
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        assert interaction.message is not None
        await answer(interaction, interaction.message.content, 8, 1)


def buttons(k: int, n: int) -> discord.ui.View:
    """The same row Couplet shows: Prev/Next for several candidates, Regenerate, Continue."""
    view = discord.ui.View(timeout=None)
    if n > 1:
        view.add_item(PageItem(max(k - 1, 0), "◀ Prev", k == 0))
        view.add_item(PageItem(min(k + 1, n - 1), "Next ▶", k >= n - 1))
    view.add_item(RegenerateItem())
    view.add_item(ContinueItem())
    return view


async def answer(interaction: discord.Interaction, prompt: str, max_tokens: int, n: int) -> None:
    """Defer, one backend request, edit the original with the text and the buttons."""
    await interaction.response.defer(thinking=True)
    client: FloorBot = interaction.client  # type: ignore[assignment]
    response = await client.http_client.post(
        "/completions", json={"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "n": n}
    )
    response.raise_for_status()
    choices = response.json()["choices"]
    await interaction.edit_original_response(
        content=f"> {prompt}\n{choices[0]['text']}",
        view=buttons(0, len(choices)),
        allowed_mentions=NO_MENTIONS,
    )


class FloorBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents(guilds=True), guild_ready_timeout=0.1)
        self.tree = app_commands.CommandTree(self)
        self.http_client = httpx.AsyncClient(
            base_url=os.environ["COMPLETIONS_BASE_URL"], timeout=120
        )

        @self.tree.command()
        async def complete(
            interaction: discord.Interaction, prompt: str, max_tokens: int = 16, n: int = 1
        ) -> None:
            """Continue a prompt."""
            await answer(interaction, prompt, max_tokens, n)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(PageItem, RegenerateItem, ContinueItem)
        await self.tree.sync()

    async def close(self) -> None:
        await super().close()
        await self.http_client.aclose()


def main() -> int:
    # Stop on SIGTERM the way Ctrl-C stops discord.py (so a profiler can write its file).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    patch_discord_endpoints(os.environ["DISCORD_API_BASE"], os.environ["DISCORD_GATEWAY_URL"])
    FloorBot().run(os.environ["DISCORD_TOKEN"], log_handler=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
