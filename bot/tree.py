"""The one place app-command errors become replies.

Known errors (bad option values, backend trouble, missing permissions) become
one short ephemeral sentence that says what to do; anything else is logged
with its traceback and answered generically. Buttons and modals use the same
`report_error` so every interaction gets an answer.
"""

from __future__ import annotations

import logging
import math

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
from bot.i18n import Msg, pick_locale, render
from bot.render.text import MESSAGE_LIMIT

log = logging.getLogger(__name__)

GENERIC_ERROR = "Something went wrong on Couplet's side; it has been logged. Please try again."
# Set in interaction.extras when a public "thinking…" response was sent, so an
# error can replace it with an ephemeral sentence instead of a public one.
PUBLIC_DEFER = "couplet_public_defer"


# Discord's names for permissions where they differ from discord.py's attribute names.
PERMISSION_NAMES = {"manage_guild": "Manage Server", "administrator": "Administrator"}


def permission_names(permissions: list[str]) -> str:
    """`["manage_guild"]` → "Manage Server", as the Discord client shows it."""
    return ", ".join(
        PERMISSION_NAMES.get(name, name.replace("_", " ").title()) for name in permissions
    )


def interaction_locale(interaction: discord.Interaction) -> str:
    """The language to answer this member in: theirs, else the server's, else English."""
    return pick_locale(interaction.locale, interaction.guild_locale)


def message_for(error: BaseException, locale: str | None = None) -> str | None:
    """The sentence for a known error (in `locale`), or None for an unexpected one."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, ParameterError):
        return error.text(locale)
    if isinstance(error, UnsupportedParameter):
        return f"{error.message} Leave {error.param} out, or ask an admin about another backend."
    if isinstance(error, RateLimited):
        if error.retry_after and error.retry_after > 0:
            wait = math.ceil(error.retry_after)
            unit = "second" if wait == 1 else "seconds"
            return f"The model backend is rate-limiting requests: try again in {wait} {unit}."
        return (
            "The model backend is rate-limiting requests (or its quota is used up): "
            "try again later, or tell a server admin if it keeps happening."
        )
    if isinstance(error, BackendTimeout):
        return "The model took too long to answer: try a smaller max_tokens, or try again later."
    if isinstance(error, BackendUnavailable):
        return (
            "The model backend can't be reached right now: try again in a minute, "
            "or tell a server admin if it keeps happening."
        )
    if isinstance(error, BackendStatusError) and 400 <= error.status < 500:
        return f"The model backend refused the request: {error.message}"
    if isinstance(error, BackendError):
        return (
            f"{error.message.rstrip('.')}. Try again, or tell a server admin if it keeps happening."
        )
    if isinstance(error, app_commands.MissingPermissions):
        return f"You need the {permission_names(error.missing_permissions)} permission for this."
    if isinstance(error, app_commands.BotMissingPermissions):
        perms = permission_names(error.missing_permissions)
        return f"Couplet needs the {perms} permission in this channel."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in servers only."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {math.ceil(error.retry_after)} seconds."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(error, CoupletError):
        return error.text(locale)
    return None


async def reply_ephemeral(interaction: discord.Interaction, text: str | Msg) -> None:
    """Answer with an ephemeral sentence whether or not the interaction was answered.

    After a public "thinking…" the deferred message would carry the sentence
    publicly, so it is deleted first and the sentence sent as an ephemeral
    followup.
    """
    mentions = discord.AllowedMentions.none()
    text = render(text, interaction_locale(interaction))
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
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
    if text is None:
        command = interaction.command.qualified_name if interaction.command else "component"
        original = getattr(error, "original", error)
        log.exception("unexpected error in %s", command, exc_info=original)
        text = GENERIC_ERROR
    else:
        log.info("interaction %s answered with: %s", interaction.id, text)
    await reply_ephemeral(interaction, text)


class CoupletTree(app_commands.CommandTree):
    """A CommandTree whose on_error answers every failed command."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)
