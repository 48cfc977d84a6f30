"""/story start|next|show|export|list|branch|undo|end, the round buttons' handlers and
the sweeper that closes rounds when their window ends.

Thin adapter over `bot.stories`: it checks nothing itself (the service checks
who may do what, on every call), answers within Discord's 3 seconds, posts and
edits the story's messages in its thread, and renders with `bot.render.story`.
A round's message is edited only through the `EditThrottle`, so its tally stays
current within Discord's edit budget however fast members vote.
"""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.background import Iteration, stop_loop
from bot.command_helpers import (
    MAX_CHOICES,
    describe,
    localized,
    member_facts,
    preset_choices,
    queue_waiting,
)
from bot.i18n import Msg, _, normalize_locale, pick_locale, render
from bot.render.reply import layout_reply
from bot.render.story import (
    chosen_messages,
    node_choice,
    opening_messages,
    round_message,
    short,
    stories_text,
)
from bot.stories import EXPORT_FORMATS, MODES, EditThrottle, Member, StoryError
from bot.stories.rules import (
    CANDIDATES_HIGH,
    CANDIDATES_LOW,
    DEFAULT_CANDIDATES,
    DEFAULT_WINDOW,
    DIRECTION_LENGTH,
    OPENING_LENGTH,
    QUORUM_HIGH,
    QUORUM_LOW,
    TITLE_LENGTH,
    WINDOW_HIGH,
    WINDOW_LOW,
    leaders,
)
from bot.stories.tree import path
from bot.tree import NO_MENTIONS, PUBLIC_DEFER, interaction_locale, public_locale, reply_ephemeral
from cogs.stories._views import COG_NAME, TextForm, next_view, round_view

if TYPE_CHECKING:
    from bot.app import CoupletBot
    from bot.storage.stories import RoundRecord, RoundState, StoryRecord
    from bot.stories import RoundView

log = logging.getLogger(__name__)

# How often the sweeper looks for rounds whose window ended (and stuck or idle stories).
SWEEP_SECONDS = 5.0
# One process of the bot sweeps (bot.cluster leases). The holder renews the lease each
# pass; when it dies (kill -9) another takes over once the lease lapses.
SWEEP_LEASE = "story-sweep"
SWEEP_LEASE_TTL = SWEEP_SECONDS * 4
# The kind of job (bot.jobs) a round's interaction is kept as until it is answered.
ROUND_JOB = "story-round"
# The most of a story's end an undo or a branch quotes.
TAIL_WIDTH = 300
EDIT_LENGTH = 4000

MODE_CHOICES = [app_commands.Choice(name=m, value=m) for m in MODES]
FORMAT_CHOICES = [app_commands.Choice(name=f, value=f) for f in EXPORT_FORMATS]


def member_of(interaction: discord.Interaction) -> Member:
    """Who clicked or typed, as the stories see them."""
    facts = member_facts(interaction)
    assert interaction.guild_id is not None and interaction.channel_id is not None
    return Member(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        name=facts["name"],
        role_ids=facts["role_ids"],
        manages_server=facts["manages_server"],
        manages_messages=bool(interaction.permissions.manage_messages),
    )


def tail(text: str) -> str:
    """The end of a text, for a note about where the story now stops."""
    text = text.strip()
    return text if len(text) <= TAIL_WIDTH else "…" + text[-TAIL_WIDTH:]


@app_commands.guild_only()
class Stories(
    commands.GroupCog,
    name=COG_NAME,
    group_name="story",
    group_description=localized(
        _("Write one text together: the model proposes, members vote, moderators approve.")
    ),
):
    """Write one text together: the model proposes, members vote, moderators approve."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        self.service = bot.stories
        self.throttle = EditThrottle()
        self.sweeping = Iteration()
        super().__init__()

    async def cog_load(self) -> None:
        self.sweeper.start()
        # A round whose process died while the model wrote is finished by another
        # process (or this one, restarted): bot.jobs runs its interaction again.
        self.bot.jobs.register(ROUND_JOB, self._resume_round)

    async def cog_unload(self) -> None:
        # A sweep under way finishes: a round it closed is also announced.
        await stop_loop(self.sweeper, self.sweeping)
        self.throttle.cancel()
        self.bot.jobs.unregister(ROUND_JOB)

    async def _resume_round(self, interaction: discord.Interaction, args: dict[str, Any]) -> None:
        story = await self.story_here(interaction, args["story"])
        await self.run_round(interaction, story, args["direction"])

    # -- the sweeper ------------------------------------------------------------------

    @tasks.loop(seconds=SWEEP_SECONDS)
    async def sweeper(self) -> None:
        try:
            with self.sweeping:
                if await self.bot.cluster.leases.claim(SWEEP_LEASE, ttl=SWEEP_LEASE_TTL):
                    await self.sweep()
        except Exception:
            log.exception("the story sweep failed; it runs again in %s s", SWEEP_SECONDS)

    @sweeper.before_loop
    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()

    async def sweep(self) -> None:
        """One pass: close the rounds whose window ended (a round due while Couplet was
        down closes on the first pass), give up on rounds whose process died while the
        model wrote, pause idle stories — and say so in their threads.

        With several processes only the lease's holder sweeps (see `sweeper`), for
        every server, posting through Discord's HTTP API (no gateway cache needed). Two
        sweeps at once — a holder stalled past its lease — still decide each round once:
        each change is one conditional UPDATE, announced only by the process that made it.
        """
        report = await self.service.sweep()
        for state in report.closed:
            await self.after_close(state)
        for round_ in report.abandoned:
            await self.post_abandoned(round_)
        for story in report.paused:
            await self.post_paused(story)

    # -- posting and editing in a story's thread ------------------------------------------

    async def server_locale(self, guild_id: int) -> str:
        """The language of a story's messages: the server's `language` setting when it
        names one, else the server's own (everyone reads the same thread)."""
        forced = normalize_locale((await self.bot.server_settings.get(guild_id)).language)
        if forced is not None:
            return forced
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            # The sweeping process may not run this server's shard: ask Discord.
            try:
                guild = await self.bot.fetch_guild(guild_id)
            except discord.HTTPException:
                log.warning("could not read server %s's language", guild_id, exc_info=True)
        return pick_locale(guild.preferred_locale if guild is not None else None)

    def thread_of(self, guild_id: int, thread_id: int) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(
            thread_id, guild_id=guild_id, type=discord.ChannelType.public_thread
        )

    async def post(
        self, story: StoryRecord, content: str, view: discord.ui.View | None = None
    ) -> discord.Message:
        thread = self.thread_of(story.guild_id, story.thread_id)
        return await thread.send(
            content, view=view or discord.utils.MISSING, allowed_mentions=NO_MENTIONS
        )

    async def render_round(self, state: RoundState) -> tuple[str, discord.ui.View | None]:
        locale = await self.server_locale(state.story.guild_id)
        tied = leaders(state.live) if state.round.status == "tied" else []
        content = round_message(state, tied, state.round.notes, locale)
        return content, round_view(state, tied, locale)

    async def post_round(self, view: RoundView) -> None:
        """A new round's message, with its notes kept for the edits that follow."""
        state = view.state
        locale = await self.server_locale(state.story.guild_id)
        notes = "\n".join(f"-# {render(note, locale)}" for note in view.notes) or None
        content, buttons = await self.render_round(
            replace(state, round=replace(state.round, notes=notes))
        )
        message = await self.post(state.story, content, buttons)
        await self.service.store.set_message(state.round.id, message.id, notes)

    def refresh(self, round_id: int) -> None:
        """Bring a round's message up to date (throttled: see the module docstring)."""
        self.throttle.request(round_id, lambda: self._edit_round(round_id))

    async def _edit_round(self, round_id: int) -> None:
        state = await self.service.store.round_state(round_id)
        if state is None or state.round.message_id is None:
            return
        content, buttons = await self.render_round(state)
        thread = self.thread_of(state.story.guild_id, state.round.channel_id)
        await thread.get_partial_message(state.round.message_id).edit(
            content=content, view=buttons, allowed_mentions=NO_MENTIONS
        )

    async def after_close(self, state: RoundState) -> None:
        """A round closed or was decided: its message shows it; a chosen text goes on."""
        self.refresh(state.round.id)
        if state.round.status == "closed" and state.round.winner_node_id is not None:
            locale = await self.server_locale(state.story.guild_id)
            pieces = chosen_messages(state, locale)
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                await self.post(
                    state.story, piece, next_view(state.story.id, locale) if last else None
                )

    async def post_abandoned(self, round_: RoundRecord) -> None:
        story = await self.service.store.story(round_.story_id)
        if story is None:
            return
        locale = await self.server_locale(story.guild_id)
        text = _(
            "Round {number} could not finish (Couplet stopped while the model was writing): "
            "start it again with Next round.",
            number=round_.number,
        )
        await self.post(story, render(text, locale), next_view(story.id, locale))

    async def post_paused(self, story: StoryRecord) -> None:
        locale = await self.server_locale(story.guild_id)
        text = _(
            "⏸️ This story is paused: nothing happened here for a while. "
            "/story next or Next round resumes it."
        )
        await self.post(story, render(text, locale), next_view(story.id, locale))

    # -- finding the story ------------------------------------------------------------------

    async def story_here(
        self, interaction: discord.Interaction, story_id: int | None = None
    ) -> StoryRecord:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        if story_id is not None:
            return await self.service.get(interaction.guild_id, story_id)
        return await self.service.in_thread(interaction.guild_id, interaction.channel_id)

    # -- /story start -----------------------------------------------------------------------

    @app_commands.command(
        name="start",
        description=localized(
            _("Start a story in a new thread (or this one): the model continues, members vote.")
        ),
    )
    @describe(
        title=_("The story's title (also its thread's name)"),
        prompt=_("The opening text the model continues"),
        preset=_("One of this server's presets for the model's parameters (type to search)"),
        mode=_("vote: members vote; approve: a moderator approves; vote+approve: both"),
        candidates=_("How many continuations the model writes each round"),
        window=_("Minutes a round stays open for votes"),
        quorum=_("Close a round as soon as this many members voted"),
    )
    @app_commands.choices(mode=MODE_CHOICES)
    async def start(
        self,
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, TITLE_LENGTH],
        prompt: app_commands.Range[str, 1, OPENING_LENGTH],
        preset: str | None = None,
        mode: str = "vote",
        candidates: app_commands.Range[int, CANDIDATES_LOW, CANDIDATES_HIGH] = DEFAULT_CANDIDATES,
        window: app_commands.Range[int, WINDOW_LOW, WINDOW_HIGH] = DEFAULT_WINDOW,
        quorum: app_commands.Range[int, QUORUM_LOW, QUORUM_HIGH] | None = None,
    ) -> None:
        """Start a story in a new thread (or this one): the model continues, members vote."""
        member = member_of(interaction)
        options: dict[str, Any] = {
            "preset": preset,
            "mode": mode,
            "candidates": candidates,
            "window": window,
            "quorum": quorum,
        }
        # The checks may read the backend and run the moderation classifier: past 3 s.
        # A refusal replaces this "thinking…" with a sentence only the member sees.
        await interaction.response.defer(thinking=True)
        interaction.extras[PUBLIC_DEFER] = True
        notes = await self.service.prepare_start(member, title, prompt, **options)
        locale = await public_locale(interaction)
        channel = interaction.channel
        announce = render(
            _("📖 <@{user}> started a story: **{title}**.", user=member.user_id, title=title),
            locale,
        )
        if isinstance(channel, discord.Thread):
            thread: discord.abc.Messageable = channel
            thread_id, parent_id = channel.id, channel.parent_id
        elif isinstance(channel, discord.TextChannel):
            await interaction.edit_original_response(content=announce, allowed_mentions=NO_MENTIONS)
            message = await interaction.original_response()
            try:
                created = await message.create_thread(name=title)
            except discord.Forbidden:
                raise StoryError(
                    _(
                        "Couplet can't open a thread here: it needs the Create Public Threads "
                        "and Send Messages in Threads permissions."
                    )
                ) from None
            thread, thread_id, parent_id = created, created.id, channel.id
        else:
            raise StoryError(_("Stories are written in text channels and their threads."))
        story = await self.service.start(
            member,
            thread_id=thread_id,
            channel_id=parent_id,
            title=title,
            opening=prompt,
            **options,
        )
        pieces = opening_messages(story, prompt, await self.server_locale(story.guild_id))
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            await thread.send(
                piece,
                view=next_view(story.id, await self.server_locale(story.guild_id))
                if last
                else discord.utils.MISSING,
                allowed_mentions=NO_MENTIONS,
            )
        interaction.extras.pop(PUBLIC_DEFER, None)
        lines = [
            announce,
            render(
                _("-# Story #{id}: start the first round with Next round.", id=story.id), locale
            ),
        ]
        lines += [f"-# {render(note, locale)}" for note in notes]
        await interaction.edit_original_response(
            content="\n".join(lines), allowed_mentions=NO_MENTIONS
        )

    @start.autocomplete("preset")
    async def preset_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await preset_choices(self.bot.presets, interaction, current)

    # -- rounds ---------------------------------------------------------------------------

    @app_commands.command(
        name="next",
        description=localized(
            _("Run the next round of this thread's story: the model writes the candidates.")
        ),
    )
    @describe(direction=_("An instruction for this round only (e.g. 'a storm arrives')"))
    async def next_(
        self,
        interaction: discord.Interaction,
        direction: app_commands.Range[str, 1, DIRECTION_LENGTH] | None = None,
    ) -> None:
        """Run the next round of this thread's story: the model writes the candidates."""
        await self.run_round(interaction, await self.story_here(interaction), direction)

    async def next_from_button(self, interaction: discord.Interaction, story_id: int) -> None:
        await self.run_round(interaction, await self.story_here(interaction, story_id), None)

    async def run_round(
        self, interaction: discord.Interaction, story: StoryRecord, direction: str | None
    ) -> None:
        """Defer (the asker sees their place in the queue), run the round, post it.

        Kept as a job until answered: if this process dies meanwhile, another runs the
        interaction again, which continues the same round and posts it once."""
        member = member_of(interaction)
        if not interaction.response.is_done():  # run again: acknowledged already
            await interaction.response.defer(ephemeral=True, thinking=True)
        args = {"story": story.id, "direction": direction, "private": True}
        async with self.bot.jobs.track(interaction, ROUND_JOB, args):
            waiting = queue_waiting(interaction, self.bot.settings.completions_timeout)
            view = await self.service.next_round(
                member,
                story,
                direction,
                interaction_id=interaction.id,
                deadline=waiting.deadline,
                on_position=waiting.on_position,
                request_id=waiting.request_id,
            )
            if view.state.round.message_id is None:
                await self.post_round(view)
            await reply_ephemeral(interaction, self.opened_text(view.state))

    @staticmethod
    def opened_text(state: RoundState) -> Msg:
        if state.round.status == "open":
            return _("Round {number} is open: vote below.", number=state.round.number)
        if state.round.status in ("pending", "tied"):
            return _("Round {number} is ready for a moderator below.", number=state.round.number)
        # Run again after its process died, the round had moved on meanwhile.
        return _("Round {number} is in the thread.", number=state.round.number)

    async def vote(self, interaction: discord.Interaction, round_id: int, node_id: int) -> None:
        result = await self.service.vote(member_of(interaction), round_id, node_id)
        numbers = {n.id: n.position for n in result.state.nodes}
        change = result.change
        number = numbers.get(change.node_id, "?")
        if change.before is None:
            text = _("Your vote: {number}.", number=number)
        elif not change.changed:
            text = _("You already voted for {number}: nothing changed.", number=number)
        else:
            text = _(
                "Your vote moved from {old} to {number}.",
                old=numbers.get(change.before, "?"),
                number=number,
            )
        await reply_ephemeral(interaction, text)
        if result.closed:
            await self.after_close(result.state)
        else:
            self.refresh(round_id)

    async def open_write_form(self, interaction: discord.Interaction, round_id: int) -> None:
        assert interaction.guild_id is not None
        state = await self.service.round_state(interaction.guild_id, round_id)
        if state.round.status != "open":
            await reply_ephemeral(
                interaction, _("This round is closed: your candidate was not added.")
            )
            return

        async def submit(done: discord.Interaction, text: str) -> None:
            after = await self.service.write(member_of(done), round_id, text)
            mine = max(
                (n for n in after.nodes if n.author_id == done.user.id and n.source == "member"),
                key=lambda n: n.id,
            )
            await reply_ephemeral(
                done,
                _("Your candidate is number {number}: it is up for votes.", number=mine.position),
            )
            self.refresh(round_id)

        form = TextForm(
            _("Your own candidate"),
            _("What comes next"),
            submit,
            interaction_locale(interaction),
        )
        await interaction.response.send_modal(form)

    async def close(self, interaction: discord.Interaction, round_id: int) -> None:
        state = await self.service.close(member_of(interaction), round_id)
        await reply_ephemeral(
            interaction, _("Round {number} is closed.", number=state.round.number)
        )
        await self.after_close(state)

    async def reroll(self, interaction: discord.Interaction, round_id: int) -> None:
        member = member_of(interaction)
        old = await self.service.reroll(member, round_id)
        self.refresh(round_id)
        await self.run_round(interaction, old.story, old.round.direction)

    async def decide(
        self,
        interaction: discord.Interaction,
        round_id: int,
        node_id: int,
        action: str,
        text: str | None = None,
    ) -> None:
        decided = await self.service.decide(member_of(interaction), round_id, node_id, action, text)
        state = decided.state
        if decided.reroll:
            self.refresh(round_id)
            await self.run_round(interaction, state.story, state.round.direction)
            return
        said = {
            "approve": _("Approved: it is in the story."),
            "edit": _("Edited: your version is in the story."),
            "pick": _("Picked: it is in the story."),
        }.get(action, _("Rejected: the next best waits for a decision."))
        await reply_ephemeral(interaction, said)
        await self.after_close(state)

    async def open_edit_form(
        self, interaction: discord.Interaction, round_id: int, node_id: int
    ) -> None:
        assert interaction.guild_id is not None
        await self.service.require_moderator(member_of(interaction))
        state = await self.service.round_state(interaction.guild_id, round_id)
        node = next((n for n in state.nodes if n.id == node_id), None)
        if node is None or state.round.proposed_node_id != node_id:
            await reply_ephemeral(
                interaction, _("Someone already decided on this, or the round has moved on.")
            )
            return

        async def submit(done: discord.Interaction, text: str) -> None:
            await self.decide(done, round_id, node_id, "edit", text)

        form = TextForm(
            _("Edit the winner"),
            _("The text that goes into the story"),
            submit,
            interaction_locale(interaction),
            default=node.text.strip()[:EDIT_LENGTH],
            max_length=EDIT_LENGTH,
        )
        await interaction.response.send_modal(form)

    # -- reading ---------------------------------------------------------------------------

    @app_commands.command(name="show", description=localized(_("Show a story's text so far.")))
    @describe(
        story=_("A story of this server (default: this thread's)"), private=_("Only you see it")
    )
    async def show(
        self, interaction: discord.Interaction, story: int | None = None, private: bool = False
    ) -> None:
        """Show a story's text so far."""
        found = await self.story_here(interaction, story)
        text = await self.service.text(found)
        locale = interaction_locale(interaction)
        head = render(_("📖 **{title}**", title=found.title), locale)
        layout = layout_reply(f"{head}\n\n{text}", file_text=text, filename=f"story-{found.id}.txt")
        files = []
        if layout.attachment is not None:
            name, body = layout.attachment
            files = [discord.File(io.BytesIO(body.encode("utf-8")), filename=name)]
        first, rest = layout.contents[0], layout.contents[1:]
        await interaction.response.send_message(
            first,
            ephemeral=private,
            files=files or discord.utils.MISSING,
            allowed_mentions=NO_MENTIONS,
        )
        for piece in rest:
            await interaction.followup.send(piece, ephemeral=private, allowed_mentions=NO_MENTIONS)

    @app_commands.command(
        name="export",
        description=localized(
            _("Download a story: its text, or its whole tree with every candidate.")
        ),
    )
    @describe(
        format=_("md: the text; json: the whole tree; jsonl: one node per line"),
        story=_("A story of this server (default: this thread's)"),
    )
    @app_commands.choices(format=FORMAT_CHOICES)
    async def export(
        self, interaction: discord.Interaction, format: str, story: int | None = None
    ) -> None:
        """Download a story: its text, or its whole tree with every candidate."""
        found = await self.story_here(interaction, story)
        name, body = await self.service.export(found, format)  # type: ignore[arg-type]
        file = discord.File(io.BytesIO(body.encode("utf-8")), filename=name)
        text = render(
            _("Story #{id}, {title}, as {format}.", id=found.id, title=found.title, format=format),
            interaction_locale(interaction),
        )
        await interaction.response.send_message(
            text, file=file, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="list", description=localized(_("List this server's stories.")))
    async def list_(self, interaction: discord.Interaction) -> None:
        """List this server's stories."""
        assert interaction.guild_id is not None
        found = await self.service.stories(interaction.guild_id)
        await reply_ephemeral(interaction, stories_text(found, interaction_locale(interaction)))

    @show.autocomplete("story")
    @export.autocomplete("story")
    async def story_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None:
            return []
        found = await self.service.stories(interaction.guild_id)
        needle = current.strip().lower().lstrip("#")
        return [
            app_commands.Choice(name=short(f"#{s.id} {s.title}", 100), value=s.id)
            for s, _rounds in found
            if needle in f"{s.id} {s.title}".lower()
        ][:MAX_CHOICES]

    # -- moderators: the text --------------------------------------------------------------

    @app_commands.command(
        name="branch",
        description=localized(
            _("Continue this story from an earlier point (moderators); nothing is lost.")
        ),
    )
    @describe(node=_("The node to continue from (type to search; ids are in /story export)"))
    async def branch(self, interaction: discord.Interaction, node: int) -> None:
        """Continue this story from an earlier point (moderators); nothing is lost."""
        story = await self.story_here(interaction)
        member = member_of(interaction)
        chosen = await self.service.branch(member, story, node)
        await self.announce_change(
            interaction,
            story,
            _(
                "🌿 <@{user}> continued the story from node #{id}. It now ends:",
                user=member.user_id,
                id=chosen.id,
            ),
        )

    @branch.autocomplete("node")
    async def node_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        story = await self.service.store.story_in_thread(
            interaction.guild_id, interaction.channel_id
        )
        if story is None:
            return []
        nodes = await self.service.nodes(story)
        on_path = {n.id for n in path(nodes, story.head_node_id)}
        needle = current.strip().lower().lstrip("#")
        shown = [n for n in reversed(nodes) if needle in f"{n.id} {n.text}".lower()]
        return [
            app_commands.Choice(name=node_choice(n, n.id in on_path), value=n.id) for n in shown
        ][:MAX_CHOICES]

    @app_commands.command(
        name="undo",
        description=localized(
            _("Take the last part off this story (moderators); it stays in the tree.")
        ),
    )
    async def undo(self, interaction: discord.Interaction) -> None:
        """Take the last part off this story (moderators); it stays in the tree."""
        story = await self.story_here(interaction)
        member = member_of(interaction)
        await self.service.undo(member, story)
        await self.announce_change(
            interaction,
            story,
            _("↩️ <@{user}> took back the last part. The story now ends:", user=member.user_id),
        )

    async def announce_change(
        self, interaction: discord.Interaction, story: StoryRecord, what: Msg
    ) -> None:
        """Say in the thread what a moderator changed, quoting the end of the text now."""
        fresh = await self.service.get(story.guild_id, story.id)
        text = await self.service.text(fresh)
        locale = await self.server_locale(story.guild_id)
        quote = "\n".join("> " + line for line in tail(text).split("\n"))
        await self.post(fresh, f"{render(what, locale)}\n{quote}", next_view(story.id, locale))
        await reply_ephemeral(interaction, _("Done."))

    @app_commands.command(
        name="end",
        description=localized(
            _("End this story (moderators): no more rounds; it can still be shown and exported.")
        ),
    )
    async def end(self, interaction: discord.Interaction) -> None:
        """End this story (moderators): no more rounds; it can still be shown and exported."""
        story = await self.story_here(interaction)
        member = member_of(interaction)
        cancelled = await self.service.end(member, story)
        if cancelled is not None:
            self.refresh(cancelled.id)
        locale = await self.server_locale(story.guild_id)
        text = _(
            "🏁 <@{user}> ended *{title}*. /story show and /story export still work.",
            user=member.user_id,
            title=story.title,
        )
        await self.post(story, render(text, locale))
        await reply_ephemeral(interaction, _("The story has ended."))
