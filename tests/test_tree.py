"""The central error handler's sentences (bot/tree.py)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.command_helpers import localized
from bot.completions import PARAMETERS
from bot.errors import (
    AlreadyExists,
    BackendStatusError,
    BackendTimeout,
    BackendUnavailable,
    Conflict,
    NotFound,
    ParameterError,
    RateLimited,
    UnsupportedParameter,
)
from bot.i18n import _
from bot.tree import CoupletTranslator, message_for


def test_known_errors_become_one_sentence() -> None:
    """Each known error maps to a sentence that says what to do."""
    cases = {
        ParameterError("temperature", 3, "0 to 2"): "temperature 3 is not allowed: use 0 to 2.",
        RateLimited("slow down", retry_after=1): "try again in 1 second.",
        RateLimited("slow down", retry_after=30.2): "try again in 31 seconds.",
        BackendTimeout("late"): "try a smaller max_tokens",
        BackendUnavailable("down"): "can't be reached right now",
        BackendStatusError("Unknown model.", status=404): "refused the request: Unknown model.",
        BackendStatusError("Overloaded.", status=500): "Overloaded. Try again",
        UnsupportedParameter("suffix", "ollama", "no FIM."): "Leave suffix out",
        app_commands.MissingPermissions(["manage_guild"]): "You need the Manage Server permission",
        NotFound("There is no preset named 'x'.", kind="preset", name="x"): "no preset named 'x'",
        AlreadyExists("A preset named 'x' already exists."): "already exists",
        Conflict("preset 'x' kept changing while saving: try again."): "kept changing",
    }
    for error, expected in cases.items():
        text = message_for(error)
        assert text is not None and expected in text, (error, text)
        assert "\n" not in text


def test_wrapped_errors_are_unwrapped_and_unknown_ones_are_not_named() -> None:
    """CommandInvokeError is unwrapped; an unexpected error has no sentence (it is logged)."""
    command = app_commands.Command(name="x", description="x", callback=_noop)
    wrapped = app_commands.CommandInvokeError(command, ParameterError("n", 0, "1 to 128"))
    assert message_for(wrapped) == "n 0 is not allowed: use 1 to 128."
    assert message_for(RuntimeError("bug")) is None


async def _noop(interaction) -> None:  # type: ignore[no-untyped-def]
    return None


def test_known_errors_are_said_in_the_members_language() -> None:
    """The same errors in Chinese: the catalog's sentence, numbers and names kept."""
    cases = {
        ParameterError("temperature", 3, PARAMETERS["temperature"].allowed): (
            "temperature 的值 3 不允许：请使用0 到 2 之间的数。"
        ),
        RateLimited("slow", retry_after=30.2): "模型后端正在限制请求频率：请在 31 秒后重试。",
        UnsupportedParameter("suffix", "ollama", "no FIM."): (
            "suffix 在 ollama 上不可用：no FIM.请去掉 suffix，或请管理员换一个后端。"
        ),
        app_commands.MissingPermissions(["manage_guild"]): "你需要“管理服务器”权限才能这样做。",
    }
    for error, expected in cases.items():
        assert message_for(error, "zh-CN") == expected
    assert message_for(RateLimited("slow", retry_after=1)) == (
        "The model backend is rate-limiting requests: try again in 1 second."
    )


async def _translate(text: app_commands.locale_str, locale: discord.Locale, where: Any) -> Any:
    data = app_commands.ContextMenu(name="Continue with Couplet", callback=_menu)
    context = app_commands.TranslationContext(location=where, data=data if where is _NAME else None)
    return await CoupletTranslator().translate(text, locale, context)


_NAME = app_commands.TranslationContextLocation.command_name
_DESCRIPTION = app_commands.TranslationContextLocation.command_description


async def test_translator_gives_descriptions_and_keeps_names() -> None:
    """Descriptions come from the catalog (with their values); slash and option names stay;
    other locales (English, Traditional Chinese) get none; too long is cut to Discord's 100."""
    chinese = discord.Locale.chinese
    about = localized(_("Most tokens to generate"))
    assert await _translate(about, chinese, _DESCRIPTION) == "最多生成的 token 数"
    with_values = localized(_("{param} is not a Completions parameter.", param="foo"))
    assert await _translate(with_values, chinese, _DESCRIPTION) == "foo 不是 Completions 参数。"
    assert await _translate(about, discord.Locale.american_english, _DESCRIPTION) is None
    assert await _translate(about, discord.Locale.taiwan_chinese, _DESCRIPTION) is None
    assert await _translate(localized("untranslated words"), chinese, _DESCRIPTION) is None
    option_name = app_commands.TranslationContextLocation.parameter_name
    assert await _translate(app_commands.locale_str("prompt"), chinese, option_name) is None
    menu = localized(_("Continue with Couplet"), limit=32)
    assert await _translate(menu, chinese, _NAME) == "用 Couplet 续写"
    long = localized(_("{about} ({facts})", about="长" * 90, facts="长" * 20))
    cut = await _translate(long, chinese, _DESCRIPTION)
    assert cut is not None and len(cut) == 100 and cut.endswith("…")


async def _menu(interaction: discord.Interaction, message: discord.Message) -> None:
    return None
