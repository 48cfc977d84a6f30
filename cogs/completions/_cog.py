"""/complete: every Completions parameter as an option; the buttons' handlers.

Thin adapter: parse options, defer within Discord's 3 seconds, hand over to
`bot.generation`, render with `bot.render`, send with the buttons of
`_views`. Errors go to the tree's handler.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.command_helpers import (
    AUTOCOMPLETE_TIMEOUT,
    MAX_CHOICES,
    BestOf,
    FrequencyPenalty,
    Logprobs,
    MaxTokens,
    N,
    PresencePenalty,
    Seed,
    Temperature,
    TopP,
    describe,
    given_options,
    localized,
    member_facts,
    preset_choices,
    queue_waiting,
)
from bot.completions import GENERATION_PARAMS
from bot.completions.parameters import descriptions
from bot.i18n import _, render
from bot.render.completion import (
    MessagePlan,
    completion_messages,
    streaming_content,
    token_message,
)
from bot.services.generation import (
    OPTION_NAMES,
    GenerationOutcome,
    PreparedGeneration,
    Requester,
)
from bot.tree import (
    NO_MENTIONS,
    PUBLIC_DEFER,
    acknowledge,
    acknowledged,
    interaction_locale,
    public_locale,
    reply_ephemeral,
    report_error,
)
from cogs.completions._views import COG_NAME, view_for

if TYPE_CHECKING:
    from bot.app import CoupletBot

log = logging.getLogger(__name__)

# Discord allows about five edits per five seconds per message; stay under it.
STREAM_EDIT_INTERVAL = 1.2
PROMPT_MODAL_LIMIT = 4000
GONE = _("That completion is no longer available; run /complete again.")


class PromptModal(discord.ui.Modal):
    """Asks for a long, multi-line prompt when /complete has none (in the member's language)."""

    def __init__(
        self,
        cog: Completions,
        options: dict[str, Any],
        preset: str | None,
        private: bool,
        locale: str | None = None,
    ) -> None:
        super().__init__(title=render(_("Prompt for /complete"), locale), timeout=15 * 60)
        self.prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(
            label=render(_("Prompt"), locale),
            style=discord.TextStyle.paragraph,
            placeholder=render(_("The text the model continues…"), locale),
            max_length=PROMPT_MODAL_LIMIT,
        )
        self.add_item(self.prompt)
        self.cog, self.options, self.preset, self.private = cog, options, preset, private

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.respond(
            interaction, str(self.prompt.value), self.options, self.preset, self.private
        )

    async def on_error(  # type: ignore[override]  # Modal narrows BaseView.on_error
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_error(interaction, error)


class Completions(commands.Cog, name=COG_NAME):
    """/complete and the buttons on its replies."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        # What runs an interaction again when its process died mid-answer (bot.jobs).
        # A job whose generation was stored before its process died is answered with
        # that generation again, not a new one.
        jobs = self.bot.jobs
        jobs.register("complete", self._resume_complete, resend=self.resend)
        jobs.register(
            "regenerate", lambda i, args: self.regenerate(i, args["gid"]), resend=self.resend
        )
        jobs.register(
            "continue",
            lambda i, args: self.continue_text(i, args["gid"], args["k"]),
            resend=self.resend,
        )

    async def cog_unload(self) -> None:
        for kind in ("complete", "regenerate", "continue"):
            self.bot.jobs.unregister(kind)

    async def _resume_complete(
        self, interaction: discord.Interaction, args: dict[str, Any]
    ) -> None:
        await self.respond(
            interaction, args["prompt"], args["options"], args["preset"], args["private"]
        )

    async def resend(self, interaction: discord.Interaction, gid: int) -> None:
        """Answer a job taken over from a dead process with the generation it stored."""
        outcome = await self.bot.generation.load(gid)
        if outcome is None:
            await reply_ephemeral(interaction, GONE)
            return
        await send_outcome(interaction, outcome)

    # -- /complete ------------------------------------------------------------

    @app_commands.command(
        name="complete",
        description=localized(_("Continue a prompt with the language model.")),
    )
    @describe(
        **descriptions(("prompt", *GENERATION_PARAMS, "stream")),
        preset=_("One of this server's presets (type to search)"),
        private=_("Only you see the reply"),
    )
    async def complete(
        self,
        interaction: discord.Interaction,
        prompt: str | None = None,
        suffix: str | None = None,
        max_tokens: MaxTokens | None = None,
        temperature: Temperature | None = None,
        top_p: TopP | None = None,
        n: N | None = None,
        best_of: BestOf | None = None,
        stop: str | None = None,
        echo: bool | None = None,
        logprobs: Logprobs | None = None,
        presence_penalty: PresencePenalty | None = None,
        frequency_penalty: FrequencyPenalty | None = None,
        logit_bias: str | None = None,
        seed: Seed | None = None,
        model: str | None = None,
        preset: str | None = None,
        private: bool = False,
        stream: bool | None = None,
    ) -> None:
        options = given_options(locals(), OPTION_NAMES)
        if prompt is None:
            # A modal must be the first response, so it comes before any defer.
            modal = PromptModal(self, options, preset, private, interaction_locale(interaction))
            await interaction.response.send_modal(modal)
            return
        await self.respond(interaction, prompt, options, preset, private)

    @complete.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            names = await asyncio.wait_for(self.model_names(interaction), AUTOCOMPLETE_TIMEOUT)
        except Exception:
            log.info("model autocomplete had no answer from the backend", exc_info=True)
            return []
        return _choices(names, current)

    @complete.autocomplete("preset")
    async def preset_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await preset_choices(self.bot.presets, interaction, current)

    async def model_names(self, interaction: discord.Interaction) -> list[str]:
        """The backend's models, narrowed to the server's allowed list when it has one."""
        models = await self.bot.completions.list_models()
        if interaction.guild_id is not None:
            config = await self.bot.server_settings.get(interaction.guild_id)
            if config.allowed_models:
                allowed = list(config.allowed_models)
                return [m for m in allowed if m in models] or allowed
        return models

    # -- the flow shared by /complete, the modal and the context menu ----------

    async def respond(
        self,
        interaction: discord.Interaction,
        prompt: str,
        options: dict[str, Any],
        preset: str | None,
        private: bool,
    ) -> None:
        """Defer, generate, answer: the completion or one ephemeral sentence.

        The "thinking…" response goes out while the generation is prepared and
        the backend asked: one Discord round trip less before the answer.
        """
        acknowledge(interaction, defer(interaction, private))
        args = {"prompt": prompt, "options": options, "preset": preset, "private": private}
        # Kept until answered, so another process can answer if this one dies.
        async with self.bot.jobs.track(interaction, "complete", args):
            requester = requester_of(interaction, private)
            # Errors propagate to the one handler (the tree's on_error, or the
            # modal's), which answers with an ephemeral sentence.
            try:
                prepared = await self.bot.generation.prepare(requester, prompt, options, preset)
                outcome = await self.execute(interaction, prepared)
            finally:
                await acknowledged(interaction)
            await send_outcome(interaction, outcome)

    async def execute(
        self, interaction: discord.Interaction, prepared: PreparedGeneration
    ) -> GenerationOutcome:
        """Run the generation; streamed ones fill the deferred message as text arrives.

        Called inside the interaction's job (`bot.jobs.track`): the stored generation
        marks it, so a process taking the job over sends this answer again."""
        prepared.job_id = interaction.id
        waiting = queue_waiting(interaction, self.bot.settings.completions_timeout)
        if not prepared.stream:
            return await self.bot.generation.run(prepared, waiting)
        locale = await message_locale(interaction, prepared.requester.private)
        stream = self.bot.generation.stream(prepared, waiting)
        last_edit = 0.0
        async for text in stream:
            if not text.strip():
                continue  # leading newlines: nothing worth showing yet
            now = time.monotonic()
            if now - last_edit >= STREAM_EDIT_INTERVAL:
                last_edit = now
                await acknowledged(interaction)
                await interaction.edit_original_response(
                    content=streaming_content(text, locale=locale), allowed_mentions=NO_MENTIONS
                )
        assert stream.outcome is not None
        return stream.outcome

    # -- button clicks (the items are in _views) --------------------------------

    async def show_candidate(self, interaction: discord.Interaction, gid: int, k: int) -> None:
        """Prev/Next: show candidate k in place."""
        outcome = await self.load(interaction, gid)
        if outcome is None:
            await reply_ephemeral(interaction, GONE)
            return
        locale = await message_locale(interaction, is_ephemeral(interaction))
        plan = completion_messages(outcome, k, locale)[-1]
        await interaction.response.edit_message(
            content=plan.content,
            view=view_for(plan.buttons, locale),
            attachments=files_of(plan),
            allowed_mentions=NO_MENTIONS,
        )

    async def regenerate(self, interaction: discord.Interaction, gid: int) -> None:
        """Regenerate: the same request again, answered in a new message."""
        await self.run_again(
            interaction,
            lambda requester: self.bot.generation.prepare_regenerate(gid, requester),
            ("regenerate", {"gid": gid}),
        )

    async def continue_text(self, interaction: discord.Interaction, gid: int, k: int) -> None:
        """Continue: candidate k appended to the prompt, more generated, in a new message."""
        await self.run_again(
            interaction,
            lambda requester: self.bot.generation.prepare_continue(gid, k, requester),
            ("continue", {"gid": gid, "k": k}),
        )

    async def run_again(
        self,
        interaction: discord.Interaction,
        prepare: Callable[[Requester], Awaitable[PreparedGeneration | None]],
        job: tuple[str, dict[str, Any]],
    ) -> None:
        """Defer, prepare from a stored generation, answer in a new message (or say it's gone).

        `job` names the click and its arguments, to run it again if this process dies.
        As in `respond`, the "thinking…" response goes out while the work starts.
        """
        private = is_ephemeral(interaction)
        acknowledge(interaction, defer(interaction, private))
        kind, args = job
        async with self.bot.jobs.track(interaction, kind, {**args, "private": private}):
            try:
                prepared = await prepare(requester_of(interaction, private))
                if prepared is None or not self.same_place(interaction, prepared.requester):
                    await reply_ephemeral(interaction, GONE)
                    return
                outcome = await self.execute(interaction, prepared)
            finally:
                await acknowledged(interaction)
            await send_outcome(interaction, outcome)

    async def show_tokens(
        self, interaction: discord.Interaction, gid: int, k: int, page: int, *, new: bool
    ) -> None:
        """Tokens: an ephemeral page of token probabilities; Earlier/Later edit it."""
        outcome = await self.load(interaction, gid)
        if outcome is None:
            await reply_ephemeral(interaction, GONE)
            return
        locale = interaction_locale(interaction)  # the token view is the member's own
        plan = token_message(outcome, k, page, locale)
        if new:
            await interaction.response.send_message(
                plan.content,
                view=view_for(plan.buttons, locale) or discord.utils.MISSING,
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
        else:
            await interaction.response.edit_message(
                content=plan.content,
                view=view_for(plan.buttons, locale),
                allowed_mentions=NO_MENTIONS,
            )

    async def load(self, interaction: discord.Interaction, gid: int) -> GenerationOutcome | None:
        """A stored generation, if it exists and belongs to this server."""
        outcome = await self.bot.generation.load(gid)
        if outcome is None or not self.same_place(interaction, outcome.requester):
            return None
        return outcome

    @staticmethod
    def same_place(interaction: discord.Interaction, requester: Requester) -> bool:
        """A button only acts on generations made in the same server (or DM)."""
        return requester.guild_id == interaction.guild_id


# -- helpers ---------------------------------------------------------------


def requester_of(interaction: discord.Interaction, private: bool) -> Requester:
    return Requester(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        private=private,
        **member_facts(interaction),
    )


async def message_locale(interaction: discord.Interaction, private: bool) -> str:
    """The language of a completion message: the member's when only they see it."""
    return interaction_locale(interaction) if private else await public_locale(interaction)


def is_ephemeral(interaction: discord.Interaction) -> bool:
    """True when the clicked message is ephemeral (its follow-ups stay private too)."""
    message = interaction.message
    return bool(message and message.flags.ephemeral)


async def defer(interaction: discord.Interaction, private: bool) -> None:
    """Acknowledge within 3 seconds with a "thinking…" message (ephemeral when private)."""
    if interaction.response.is_done():
        return
    await interaction.response.defer(thinking=True, ephemeral=private)
    if not private:
        interaction.extras[PUBLIC_DEFER] = True


async def send_outcome(interaction: discord.Interaction, outcome: GenerationOutcome) -> None:
    """Replace the thinking message with the first message, then follow up with the rest."""
    private = outcome.requester.private
    locale = await message_locale(interaction, private)
    plans = completion_messages(outcome, locale=locale)
    await acknowledged(interaction)
    interaction.extras.pop(PUBLIC_DEFER, None)  # the answer is here: no error will replace it
    first, rest = plans[0], plans[1:]
    await edit_original(interaction, first, locale)
    for plan in rest:
        await interaction.followup.send(
            plan.content,
            view=view_for(plan.buttons, locale) or discord.utils.MISSING,
            files=files_of(plan) or discord.utils.MISSING,
            ephemeral=private,
            allowed_mentions=NO_MENTIONS,
        )


async def edit_original(
    interaction: discord.Interaction, plan: MessagePlan, locale: str | None = None
) -> None:
    await interaction.edit_original_response(
        content=plan.content,
        view=view_for(plan.buttons, locale),
        attachments=files_of(plan),
        allowed_mentions=NO_MENTIONS,
    )


def files_of(plan: MessagePlan) -> list[discord.File]:
    """The plan's text attachment as a file to upload (none when it has none)."""
    if plan.attachment is None:
        return []
    name, text = plan.attachment
    return [discord.File(io.BytesIO(text.encode("utf-8")), filename=name)]


def _choices(names: list[str], current: str) -> list[app_commands.Choice[str]]:
    """Names starting with `current` first, then containing it; at most 25."""
    needle = current.strip().lower()
    starts = [n for n in names if n.lower().startswith(needle)]
    contains = [n for n in names if needle in n.lower() and n not in starts]
    return [
        app_commands.Choice(name=name[:100], value=name[:100])
        for name in (starts + contains)[:MAX_CHOICES]
    ]
