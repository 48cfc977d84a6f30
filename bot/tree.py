"""The one place app-command errors become replies, and where replies get their language.

Known errors (bad option values, backend trouble, missing permissions) become
one short ephemeral sentence that says what to do; anything else is logged
with its traceback and answered generically. Buttons and modals use the same
`report_error` so every interaction gets an answer.

Ephemeral answers are in the member's language (`interaction_locale`);
messages the channel sees follow the server's `language` setting when it
forces one (`public_locale`). `CoupletTranslator` gives Discord the command
descriptions and choices in each language when commands are synced.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable

import discord
from discord import app_commands

from bot.errors import (
    BackendError,
    BackendStatusError,
    BackendTimeout,
    BackendUnavailable,
    CoupletError,
    ParameterError,
    RateLimited,
    UnsupportedParameter,
)
from bot.i18n import (
    DEFAULT_LOCALE,
    Localized,
    Msg,
    _,
    join,
    ngettext,
    normalize_locale,
    pick_locale,
    render,
)
from bot.render.text import MESSAGE_LIMIT

log = logging.getLogger(__name__)

# Every message Couplet sends pings nobody (generated text may contain @everyone).
NO_MENTIONS = discord.AllowedMentions.none()
GENERIC_ERROR = _("Something went wrong on Couplet's side; it has been logged. Please try again.")
# Set in interaction.extras when a public "thinking…" response was sent, so an
# error can replace it with an ephemeral sentence instead of a public one.
PUBLIC_DEFER = "couplet_public_defer"
# Set in interaction.extras while the first response is on its way (`acknowledge`).
ACKNOWLEDGING = "couplet_acknowledging"


def acknowledge(interaction: discord.Interaction, first_response: Awaitable[None]) -> None:
    """Send the first response (a defer) in the background so that work can start at
    once; whatever answers or edits the response calls `acknowledged` first."""
    interaction.extras[ACKNOWLEDGING] = asyncio.ensure_future(first_response)


async def acknowledged(interaction: discord.Interaction) -> None:
    """Wait until a first response begun with `acknowledge` is sent (its error raises)."""
    pending = interaction.extras.get(ACKNOWLEDGING)
    if pending is not None:
        await pending


# Discord's names for permissions where they differ from discord.py's attribute names
# (as the Discord client shows them, in the member's language).
PERMISSION_NAMES = {"manage_guild": _("Manage Server"), "administrator": _("Administrator")}


def permission_names(permissions: list[str]) -> Localized:
    """`["manage_guild"]` → "Manage Server", as the Discord client shows it."""
    return join(PERMISSION_NAMES.get(name, name.replace("_", " ").title()) for name in permissions)


def interaction_locale(interaction: discord.Interaction) -> str:
    """The language to answer this member in: theirs, else the server's, else English."""
    return pick_locale(interaction.locale, interaction.guild_locale)


async def public_locale(interaction: discord.Interaction) -> str:
    """The language of a message the whole channel sees.

    The server's `language` setting when it names one; with `auto` (the
    default) the member's own, as for their ephemeral answers.
    """
    settings = getattr(interaction.client, "server_settings", None)
    if interaction.guild_id is not None and settings is not None:
        forced = normalize_locale((await settings.get(interaction.guild_id)).language)
        if forced is not None:
            return forced
    return interaction_locale(interaction)


def error_msg(error: BaseException) -> str | Msg | None:
    """The sentence for a known error, or None for an unexpected one."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, ParameterError):
        return error.msg
    if isinstance(error, UnsupportedParameter):
        return _(
            "{reason} Leave {param} out, or ask an admin about another backend.",
            reason=error.msg,
            param=error.param,
        )
    if isinstance(error, RateLimited):
        if error.retry_after and error.retry_after > 0:
            wait = math.ceil(error.retry_after)
            return ngettext(
                "The model backend is rate-limiting requests: try again in {n} second.",
                "The model backend is rate-limiting requests: try again in {n} seconds.",
                wait,
            )
        return _(
            "The model backend is rate-limiting requests (or its quota is used up): "
            "try again later, or tell a server admin if it keeps happening."
        )
    if isinstance(error, BackendTimeout):
        return _("The model took too long to answer: try a smaller max_tokens, or try again later.")
    if isinstance(error, BackendUnavailable):
        return _(
            "The model backend can't be reached right now: try again in a minute, "
            "or tell a server admin if it keeps happening."
        )
    if isinstance(error, BackendStatusError) and 400 <= error.status < 500:
        return _("The model backend refused the request: {reason}", reason=error.msg)
    if isinstance(error, BackendError):
        return _(
            "{reason} Try again, or tell a server admin if it keeps happening.",
            reason=_as_sentence(error.msg),
        )
    if isinstance(error, app_commands.MissingPermissions):
        return _(
            "You need the {permissions} permission for this.",
            permissions=permission_names(error.missing_permissions),
        )
    if isinstance(error, app_commands.BotMissingPermissions):
        return _(
            "Couplet needs the {permissions} permission in this channel.",
            permissions=permission_names(error.missing_permissions),
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return _("This command works in servers only.")
    if isinstance(error, app_commands.CommandOnCooldown):
        return ngettext(
            "Slow down: try again in {n} second.",
            "Slow down: try again in {n} seconds.",
            math.ceil(error.retry_after),
        )
    if isinstance(error, app_commands.CheckFailure):
        return _("You can't use this command here.")
    if isinstance(error, CoupletError):
        return error.msg
    return None


def _as_sentence(text: str | Msg) -> str | Msg:
    """Backend text ends with a full stop before more is said (sentences already do)."""
    if isinstance(text, Msg):
        return text
    return text.rstrip().rstrip(".") + "."


def message_for(error: BaseException, locale: str | None = None) -> str | None:
    """The sentence for a known error (in `locale`), or None for an unexpected one."""
    msg = error_msg(error)
    return None if msg is None else render(msg, locale)


async def reply_ephemeral(interaction: discord.Interaction, text: str | Msg) -> None:
    """Answer with an ephemeral sentence whether or not the interaction was answered.

    After a public "thinking…" the deferred message would carry the sentence
    publicly, so it is deleted first and the sentence sent as an ephemeral
    followup.
    """
    mentions = NO_MENTIONS
    text = render(text, interaction_locale(interaction))
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    pending = interaction.extras.get(ACKNOWLEDGING)
    if pending is not None:
        # Answer after the first response; if it failed, is_done() says so below.
        await asyncio.wait([pending])
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=mentions)
            return
        if interaction.extras.pop(PUBLIC_DEFER, False):
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                log.debug("could not delete the thinking message", exc_info=True)
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=mentions)
    except discord.HTTPException:
        # The token may have expired (15 minutes) or Discord is down: nothing
        # more can be said to this user.
        log.warning(
            "could not send an error reply for interaction %s", interaction.id, exc_info=True
        )


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Reply to `error`: its sentence if known, else log it and say so generically."""
    text = message_for(error, interaction_locale(interaction))
    metrics = getattr(interaction.client, "metrics", None)
    if metrics is not None:
        metrics.interaction_outcome(interaction.id, "failed" if text is None else "error")
    if text is None:
        command = interaction.command.qualified_name if interaction.command else "component"
        original = getattr(error, "original", error)
        log.exception("unexpected error in %s", command, exc_info=original)
        text = GENERIC_ERROR.render(interaction_locale(interaction))
    else:
        log.info("interaction %s answered with: %s", interaction.id, text)
    await reply_ephemeral(interaction, text)


class CoupletTree(app_commands.CommandTree):
    """A CommandTree whose on_error answers every failed command."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)


# Discord's limits for what the translator returns (descriptions, choice names,
# a context menu's name).
DESCRIPTION_LIMIT = 100
CHOICE_NAME_LIMIT = 100
MENU_NAME_LIMIT = 32


class CoupletTranslator(app_commands.Translator):
    """Command descriptions, choice names and the context menu's name in each supported
    language, from the same catalogs as the replies.

    Command and option names stay as they are (they are the API's parameter
    names). A `locale_str` made by `bot.command_helpers.localized` carries its
    `Msg` (with its values); any other is looked up by its English text.
    """

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        where = context.location
        names = (
            app_commands.TranslationContextLocation.command_name,
            app_commands.TranslationContextLocation.group_name,
            app_commands.TranslationContextLocation.parameter_name,
        )
        menu = isinstance(context.data, app_commands.ContextMenu)
        if where in names and not (menu and where is names[0]):
            return None
        code = normalize_locale(locale)
        # Only the exact locale: en-GB readers get the English default, zh-TW no Simplified.
        if code is None or code == DEFAULT_LOCALE or code != locale.value:
            return None
        msg = string.extras.get("msg")
        text = render(msg if isinstance(msg, Localized) else Msg(string.message), code)
        if text == string.message:
            return None
        limit = MENU_NAME_LIMIT if menu else DESCRIPTION_LIMIT
        if where is app_commands.TranslationContextLocation.choice_name:
            limit = CHOICE_NAME_LIMIT
        if len(text) > limit:
            log.warning("%s translation of %r is too long; cut", code, string.message)
            text = text[: limit - 1] + "…"
        return text
