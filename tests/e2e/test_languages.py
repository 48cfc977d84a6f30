"""Couplet in each member's language, end to end through the local Discord.

The emulator sends each member's `locale` and the server's `guild_locale` as
Discord does; the real bot answers from its catalogs: ephemeral answers in the
member's language, public messages in the member's unless the server's
`language` setting names one, and command descriptions in the synced payload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import FakeDiscord
from bot.sandbox.limits import modal_inputs
from bot.sandbox.permissions import MANAGE_GUILD
from tests.e2e.conftest import (
    StubbedCouplet,
    body_and_footer,
    couplet_on_stub,
    ephemeral_answer,
    labels,
)

WAIT = 60.0
ZH = "zh-CN"
BAD_STOP = {"prompt": "你好", "stop": "a|b|c|d|e"}


@pytest.fixture
async def world(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[StubbedCouplet]:
    """The real bot on a stub backend. li and wang read Chinese (wang has Manage Server);
    alice and mod read English (mod has Manage Server)."""
    fake.guild.add_member("li").locale = ZH
    fake.guild.add_member("wang", permissions=MANAGE_GUILD).locale = ZH
    fake.guild.add_member("mod", permissions=MANAGE_GUILD)
    async with couplet_on_stub(fake, tmp_path / "couplet.db", text="床前明月光") as stubbed:
        yield stubbed


async def answer(rec: Any) -> str:
    return await ephemeral_answer(rec, WAIT)


async def public(rec: Any) -> dict[str, Any]:
    message = await rec.wait_final(WAIT)
    assert not int(message.get("flags") or 0) & 64, message
    return message


async def test_the_same_bad_value_is_answered_in_each_members_language(
    world: StubbedCouplet,
) -> None:
    """One bad stop value: Chinese for the zh-CN member, English for the en-US one; no request."""
    fake = world.fake
    chinese = await answer(await fake.slash("complete", BAD_STOP, member="li"))
    english = await answer(await fake.slash("complete", BAD_STOP, member="alice"))
    assert chinese == "stop 有 5 个序列：请使用 1 到 4 个。"
    assert english == "stop has 5 sequences: use 1 to 4."
    assert world.backend.requests == []


async def test_a_chinese_members_completion_has_chinese_footer_and_buttons(
    world: StubbedCouplet,
) -> None:
    """Footer, notes and buttons of li's completion are Chinese; the buttons still work."""
    fake = world.fake
    first = await public(await fake.slash("complete", member="li", prompt="静夜思", n=2))
    assert labels(first) == ["◀ 上一个", "下一个 ▶", "重新生成"]
    text, footer = body_and_footer(first["content"])
    assert text == "床前明月光"
    # Two emulated requests of 7 tokens each; the time in seconds, the note in Chinese.
    assert footer[0].startswith("候选 1/2 · stub-model · 共 14 个 token · stop · ")
    assert footer[0].endswith(" 秒")
    assert "在这个后端上由 Couplet 模拟：n。" in footer

    click = await fake.click(first, "下一个 ▶", member="li")
    second = await click.wait_final(WAIT)
    assert second["id"] == first["id"]
    assert body_and_footer(second["content"])[1][0].startswith("候选 2/2 · ")


async def test_the_prompt_form_is_in_the_members_language(world: StubbedCouplet) -> None:
    """/complete without a prompt opens the form with a Chinese title, label and placeholder;
    the completion it leads to is Chinese too."""
    fake = world.fake
    rec = await fake.slash("complete", member="li")
    modal = await rec.wait_modal(WAIT)
    assert modal["title"] == "/complete 的 prompt"
    [field] = [i for i in modal_inputs(modal["components"]) if i.get("type") == 4]
    assert (field["label"], field["placeholder"]) == ("prompt 文本", "让模型续写的文本……")
    submitted = await fake.submit_modal(rec, {"prompt 文本": "静夜思"})
    assert labels(await public(submitted)) == ["重新生成"]
    assert world.backend.requests[-1]["prompt"] == "静夜思"


async def test_settings_show_in_chinese(world: StubbedCouplet) -> None:
    """/settings show (and set) answer wang in Chinese; setting names and values stay."""
    fake = world.fake
    said = await answer(
        await fake.slash("settings set", member="wang", name="temperature", value="0.5")
    )
    assert said == "`temperature` 现在是 0.5（原为 默认）。"
    shown = await answer(await fake.slash("settings show", member="wang"))
    lines = shown.split("\n")
    assert lines[0] == "**/complete 在这里使用的值**（选项或所选预设会覆盖这些值）："
    assert "`temperature` 0.5 — 服务器设置" in lines
    assert "`top_p` 1 — API 默认" in lines
    assert "**行为和限制：**" in lines
    assert "`language` auto — 默认" in lines
    assert lines[-1] == "-# 用 /settings set 修改，用 /settings reset 撤销。"
    english = await answer(await fake.slash("settings show", member="mod"))
    assert "`temperature` 0.5 — server" in english.split("\n")


async def test_the_language_setting_forces_public_messages_only(world: StubbedCouplet) -> None:
    """language zh-CN: alice's public completion is Chinese, her own errors stay English;
    language en-US: li's public completion is English, his errors stay Chinese."""
    fake = world.fake
    said = await answer(
        await fake.slash("settings set", member="mod", name="language", value="zh_cn")
    )
    assert said == "`language` is now zh-CN (was auto)."

    message = await public(await fake.slash("complete", member="alice", prompt="Hi"))
    assert labels(message) == ["重新生成"]
    assert body_and_footer(message["content"])[1][0].endswith(" 秒")
    private = await (
        await fake.slash("complete", member="alice", prompt="Hi", private=True)
    ).wait_final(WAIT)
    assert labels(private) == ["Regenerate"]  # only alice sees it: her language
    assert await answer(await fake.slash("complete", BAD_STOP, member="alice")) == (
        "stop has 5 sequences: use 1 to 4."
    )

    await answer(await fake.slash("settings set", member="mod", name="language", value="en-US"))
    message = await public(await fake.slash("complete", member="li", prompt="Hi"))
    assert labels(message) == ["Regenerate"]
    assert " 7 tokens · stop · " in body_and_footer(message["content"])[1][0]
    assert await answer(await fake.slash("complete", BAD_STOP, member="li")) == (
        "stop 有 5 个序列：请使用 1 到 4 个。"
    )


async def test_a_bad_language_value_is_one_sentence(world: StubbedCouplet) -> None:
    """language fr is refused, naming the value and the languages Couplet speaks."""
    said = await answer(
        await world.fake.slash("settings set", member="mod", name="language", value="fr")
    )
    assert said == "language 'fr' is not a language Couplet speaks: use auto, en-US, or zh-CN."


async def test_the_servers_language_answers_a_member_couplet_cannot_speak(
    world: StubbedCouplet,
) -> None:
    """A French member in a Chinese server is answered in the server's language."""
    fake = world.fake
    fake.guild.preferred_locale = ZH
    fake.guild.add_member("pierre").locale = "fr"
    assert await answer(await fake.slash("complete", BAD_STOP, member="pierre")) == (
        "stop 有 5 个序列：请使用 1 到 4 个。"
    )
    assert await answer(await fake.slash("complete", BAD_STOP, member="alice")) == (
        "stop has 5 sequences: use 1 to 4."
    )


def _items(command: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The command and every option and subcommand below it, with a path for messages."""
    found = [(command["name"], command)]
    for option in command.get("options") or []:
        found += [(f"{command['name']} {p}", o) for p, o in _items(option)]
    return found


async def test_synced_commands_carry_chinese_descriptions_within_limits(
    world: StubbedCouplet,
) -> None:
    """Every command, subcommand and option has a zh-CN description (1–100 characters, not
    the English one), every descriptive choice a zh-CN name; names and keyword choices stay,
    but for the context menu's name."""
    commands = world.fake.commands()  # what the emulator accepted (it refuses bad bodies)
    slash = [c for c in commands if c.get("type", 1) == 1]
    assert {
        "complete",
        "settings",
        "preset",
        "models",
        "sampling",
        "limits",
        "usage",
        "moderation",
    } <= {c["name"] for c in slash}
    checked = 0
    for command in slash:
        for path, item in _items(command):
            zh = (item.get("description_localizations") or {}).get(ZH)
            assert zh and 1 <= len(zh) <= 100 and zh != item["description"], (path, zh)
            assert not item.get("name_localizations"), path
            for choice in item.get("choices") or []:
                if choice["name"] == choice["value"]:
                    continue  # a keyword shown as it is typed (hate, block): like a name, it stays
                name = (choice.get("name_localizations") or {}).get(ZH)
                assert name and len(name) <= 100 and name != choice["name"], (path, choice)
            checked += 1
    assert checked > 60
    [menu] = [c for c in commands if c.get("type") == 3]
    assert menu["name"] == "Continue with Couplet"
    assert menu["name_localizations"] == {ZH: "用 Couplet 续写"}
    settings = next(c for c in slash if c["name"] == "settings")
    set_ = next(o for o in settings["options"] if o["name"] == "set")
    name = next(o for o in set_["options"] if o["name"] == "name")
    language = next(c for c in name["choices"] if c["value"] == "language")
    assert (
        language["name_localizations"][ZH] == "language：公开回复的语言（auto：各成员自己的语言）"
    )
