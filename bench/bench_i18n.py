"""What speaking the member's language costs (prints figures and ratios).

    .venv/bin/python bench/bench_i18n.py [ROUNDS]

- loading the zh-CN catalogs (once per process, on the first Chinese sentence);
- rendering one completion reply (text, footer with notes, buttons) in Chinese
  against the same reply in English (the baseline: no catalog lookups);
- building /complete's sync payload with translations (what `tree.sync` sends
  and the start-up hash covers) against the untranslated `to_dict` (baseline).

No backend, database or Discord is needed: the outcome is made up.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import discord
from discord import app_commands

from bot.completions import Choice, CompletionRequest, CompletionResult, Usage
from bot.i18n import _, catalog
from bot.render.completion import completion_messages
from bot.services.generation import Display, GenerationOutcome, Requester
from bot.tree import CoupletTranslator
from cogs.completions._cog import Completions
from cogs.completions._views import view_for


def outcome() -> GenerationOutcome:
    request = CompletionRequest.build(prompt="Once upon a time", n=3, max_tokens=64)
    choices = [
        Choice(index=i, text=" there was a bench. " * 20, finish_reason="length") for i in range(3)
    ]
    return GenerationOutcome(
        generation_id=42,
        request=request,
        result=CompletionResult(
            id="c",
            created=0,
            model="gemma-3-270m",
            choices=choices,
            usage=Usage(completion_tokens=192),
            emulated=["n"],
            warnings=[_("TGI ignores logit_bias.")],
        ),
        candidates=[],
        requester=Requester(user_id=1, guild_id=2, channel_id=3),
        display=Display(),
        clean_mode="preserve",
        clamped=[
            _(
                "{param} {value} was lowered to the server limit of {limit}.",
                param="max_tokens",
                value=900,
                limit=64,
            )
        ],
        elapsed=12.5,
    )


def per_call(func: Callable[[], Any], rounds: int) -> float:
    started = time.perf_counter()
    for _round in range(rounds):
        func()
    return (time.perf_counter() - started) / rounds


async def payload_times(rounds: int) -> tuple[float, float]:
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)
    command = Completions(None).complete  # type: ignore[arg-type]
    tree.add_command(command)
    translator = CoupletTranslator()
    started = time.perf_counter()
    for _round in range(rounds):
        command.to_dict(tree)
    plain = (time.perf_counter() - started) / rounds
    started = time.perf_counter()
    for _round in range(rounds):
        await command.get_translated_payload(tree, translator)
    translated = (time.perf_counter() - started) / rounds
    await client.close()
    return plain, translated


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    started = time.perf_counter()
    catalog("zh-CN")
    load = time.perf_counter() - started
    print(f"zh-CN catalogs loaded in {load * 1000:.1f} ms (once per process)")

    from bot.services.generation import _candidates

    shown = outcome()
    shown.candidates = _candidates(shown.result, shown.request, shown.display, "preserve")

    async def replies() -> tuple[float, float]:
        def reply(locale: str) -> Callable[[], Any]:
            def render() -> None:
                plan = completion_messages(shown, 1, locale)[-1]
                view_for(plan.buttons, locale)

            return render

        reply("en-US")(), reply("zh-CN")()  # first calls load Babel's locale data
        return per_call(reply("en-US"), rounds), per_call(reply("zh-CN"), rounds)

    english, chinese = asyncio.run(replies())  # views need a running loop
    print(
        f"one completion reply: en-US {english * 1e6:.0f} µs, zh-CN {chinese * 1e6:.0f} µs, "
        f"ratio {chinese / english:.2f}"
    )
    plain, translated = asyncio.run(payload_times(max(rounds // 30, 3)))
    print(
        f"/complete sync payload: untranslated {plain * 1000:.2f} ms, with localizations "
        f"{translated * 1000:.2f} ms, ratio {translated / plain:.1f}"
    )


if __name__ == "__main__":
    main()
