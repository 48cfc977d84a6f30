"""Helpers the command cogs share: the Manage Server check, options, preset autocomplete,
the option types of the parameter table's numbers, and translatable command texts.

Command texts are written with `_()` like every other sentence and handed to
discord.py through `localized` / `describe` / `choice`; the tree's translator
(bot/tree.py) turns them into `description_localizations` and choice
`name_localizations` when commands are synced:

    @app_commands.command(name="models", description=localized(_("List the models.")))
    @describe(count=_("How many to show"))
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.completions import PARAMETERS as _P
from bot.completions import ParamSpec
from bot.i18n import Localized, _, ngettext, render
from bot.services.metering import Waiting
from bot.tree import NO_MENTIONS, acknowledged, interaction_locale
from bot.usage import Subject

if TYPE_CHECKING:
    from bot.services.presets import PresetService

log = logging.getLogger(__name__)

# Discord accepts an interaction's answer for 15 minutes.
INTERACTION_LIFETIME = 15 * 60.0
# Discord drops an autocomplete answer that comes after 3 seconds.
AUTOCOMPLETE_TIMEOUT = 2.0
MAX_CHOICES = 25

# Slash-command option types with the parameter table's ranges, so Discord
# refuses a number out of range before the bot sees it. (discord.py needs each
# option as a parameter of the callback: these keep the ranges in the table.)
MaxTokens = app_commands.Range[int, _P["max_tokens"].low, _P["max_tokens"].high]
Temperature = app_commands.Range[float, _P["temperature"].low, _P["temperature"].high]
TopP = app_commands.Range[float, _P["top_p"].low, _P["top_p"].high]
N = app_commands.Range[int, _P["n"].low, _P["n"].high]
BestOf = app_commands.Range[int, _P["best_of"].low, _P["best_of"].high]
Logprobs = app_commands.Range[int, _P["logprobs"].low, _P["logprobs"].high]
PresencePenalty = app_commands.Range[float, _P["presence_penalty"].low, _P["presence_penalty"].high]
FrequencyPenalty = app_commands.Range[
    float, _P["frequency_penalty"].low, _P["frequency_penalty"].high
]
Seed = app_commands.Range[int, _P["seed"].low, _P["seed"].high]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T", str, int, float)

# Discord's limit for a description or a choice name, in the default (English) text.
TEXT_LIMIT = 100


def localized(text: Localized | str, limit: int = TEXT_LIMIT) -> app_commands.locale_str:
    """A command text for discord.py: English by default, translated by the tree's translator."""
    english = str(text)
    if len(english) > limit:
        english = english[: limit - 1] + "…"
    return app_commands.locale_str(english, msg=text)


def describe(**descriptions: Localized | str) -> Callable[[F], F]:
    """`app_commands.describe` for translatable option descriptions."""
    return app_commands.describe(**{name: localized(text) for name, text in descriptions.items()})


def choice(name: Localized | str, value: T) -> app_commands.Choice[T]:
    """A fixed choice whose shown name is translated (the value is what the command gets)."""
    return app_commands.Choice(name=localized(name), value=value)


def option_type(spec: ParamSpec) -> Any:
    """A parameter's slash-command option type: optional, with the table's range."""
    if spec.is_numeric:
        return app_commands.Range[spec.python_type, spec.low, spec.high] | None
    return spec.python_type | None


def parameter_options(names: Iterable[str]) -> Callable[[F], F]:
    """Give a command callback that takes `**params` one option per parameter in `names`.

    discord.py reads a command's options from its callback's signature; this
    writes them into the signature from the table (type and range), in order,
    each optional. Apply it below `app_commands.command`.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)
        fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=option_type(_P[name])
            )
            for name in names
        ]
        func.__signature__ = signature.replace(parameters=[*fixed, *added])  # type: ignore[attr-defined]
        return func

    return decorate


# Enforced at run time; MissingPermissions becomes an ephemeral sentence in
# the tree's error handler (bot/tree.py).
manage_guild_check = app_commands.checks.has_permissions(manage_guild=True)


def given_options(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The options among `names` that the user gave (not None), in `values`' order.

    Commands pass `locals()`: discord.py needs every option as a parameter of
    its own, and this keeps the list of names in one place.
    """
    wanted = set(names)
    return {k: v for k, v in values.items() if k in wanted and v is not None}


async def preset_choices(
    presets: PresetService, interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete: this server's preset names matching what was typed."""
    if interaction.guild_id is None:
        return []
    try:
        names = await asyncio.wait_for(
            presets.names(interaction.guild_id, current), AUTOCOMPLETE_TIMEOUT
        )
    except Exception:
        log.warning("preset autocomplete failed", exc_info=True)
        return []
    return [app_commands.Choice(name=name, value=name) for name in names[:MAX_CHOICES]]


def member_facts(interaction: discord.Interaction) -> dict[str, Any]:
    """What usage limits need to know of the member: name, roles, Manage Server."""
    user = interaction.user
    return {
        "name": str(user.name),
        "role_ids": tuple(role.id for role in getattr(user, "roles", ())),
        "manages_server": bool(interaction.guild_id and interaction.permissions.manage_guild),
    }


def usage_subject(interaction: discord.Interaction) -> Subject:
    """Who an interaction's usage is charged to (for /usage me)."""
    facts = member_facts(interaction)
    return Subject(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        user_name=facts["name"],
        role_ids=facts["role_ids"],
        manages_server=facts["manages_server"],
    )


def queue_waiting(interaction: discord.Interaction, backend_timeout: float) -> Waiting:
    """While the request waits for the backend, the "thinking…" message shows its place;
    it waits no longer than leaves time to answer before the interaction expires."""
    locale = interaction_locale(interaction)

    async def show(ahead: int) -> None:
        await acknowledged(interaction)  # the "thinking…" message may still be on its way
        text = (
            _("⏳ Waiting for the model: you are next.")
            if ahead == 0
            else ngettext(
                "⏳ Waiting for the model: {n} request ahead of you.",
                "⏳ Waiting for the model: {n} requests ahead of you.",
                ahead,
            )
        )
        await interaction.edit_original_response(
            content=render(text, locale), allowed_mentions=NO_MENTIONS
        )

    room = max(INTERACTION_LIFETIME - backend_timeout, INTERACTION_LIFETIME / 2)
    return Waiting(
        deadline=interaction.created_at.timestamp() + room,
        on_position=show,
        # The same reservation if the interaction is run again after a crash.
        request_id=f"interaction:{interaction.id}",
    )
