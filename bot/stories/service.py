"""The stories use case: a channel writes one text together.

    story = await stories.start(member, thread_id, ...)        # the opening is the root
    view = await stories.next_round(member, story)              # candidates, moderated
    result = await stories.vote(member, round_id, node_id)      # closes at quorum
    state = await stories.close(member, round_id)               # moderators
    report = await stories.sweep()                              # windows, stuck rounds, pauses

Every text a member writes (the title and opening, a direction, a written
candidate, a moderator's edit) is checked by moderation before it is used;
every candidate the model writes is checked before it is shown, and a withheld
one never becomes a node. Rounds are charged to the member who asked for them
(through the `Proposer`). Who may do what is checked here, against the
server's story settings, on every call. No Discord here: the cog renders.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.errors import CoupletError, ParameterError
from bot.i18n import Msg, _
from bot.moderation import ModerationRefused, Subject
from bot.storage.stories import (
    CANCELLED,
    CANDIDATE,
    EDIT,
    ENDED,
    GENERATING,
    MEMBER,
    MODEL,
    OPEN,
    REROLLED,
    NewNode,
    NewStory,
    NodeRecord,
    RoundRecord,
    RoundState,
    StoryFull,
    StoryRecord,
    StoryStore,
    VoteChange,
)
from bot.stories.proposals import PositionCallback, Proposer
from bot.stories.rules import (
    CANDIDATES_HIGH,
    CANDIDATES_LOW,
    DIRECTION_LENGTH,
    MAX_CANDIDATES,
    MODES,
    OPENING_LENGTH,
    QUORUM_HIGH,
    QUORUM_LOW,
    TITLE_LENGTH,
    WINDOW_HIGH,
    WINDOW_LOW,
    WRITTEN_LENGTH,
    choose,
    needs_approval,
    votes_decide,
)
from bot.stories.settings import IDLE_LOW, Member, StorySettings, is_moderator, may_start
from bot.stories.tree import ExportFormat, export, export_name, path, text_of

if TYPE_CHECKING:
    from bot.moderation import ModerationService

log = logging.getLogger(__name__)

# A round still generating this long after it started belongs to a process that died
# and could not be finished by running its interaction again (bot.jobs gives that up
# after three processes, or once Discord's 15 minutes for an answer are gone).
STUCK_AFTER = timedelta(minutes=20)


class StoryError(CoupletError):
    """Something a story can't do right now, in one sentence."""


@dataclass
class RoundView:
    """A round just opened, and the notes for under it."""

    state: RoundState
    notes: list[str | Msg] = field(default_factory=list)


@dataclass
class VoteResult:
    """What a vote did, and the round as it stands (closed when the vote made quorum)."""

    change: VoteChange
    state: RoundState
    closed: bool = False


@dataclass
class Decided:
    """A moderator's decision: the round afterwards; `reroll` when it was left with no
    candidate and a new round should replace it."""

    state: RoundState

    @property
    def reroll(self) -> bool:
        return self.state.round.status == REROLLED


@dataclass
class SweepReport:
    """What one sweep did: rounds it closed, rounds it gave up on, stories it paused."""

    closed: list[RoundState] = field(default_factory=list)
    abandoned: list[RoundRecord] = field(default_factory=list)
    paused: list[StoryRecord] = field(default_factory=list)


def direction_prompt(text: str, direction: str | None) -> tuple[str, str]:
    """The prompt for a round, and what goes before each candidate in the story.

    A direction is appended to the text so far, in brackets, for this round only;
    the candidates then start a new paragraph."""
    if not direction:
        return text, ""
    return f"{text.rstrip()}\n\n[{direction}]\n\n", "\n\n"


class StoryService:
    """Stories, rounds, votes and decisions (see the module docstring)."""

    def __init__(
        self,
        store: StoryStore,
        proposer: Proposer,
        moderation: ModerationService | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.proposer = proposer
        self.moderation = moderation
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- checks ----------------------------------------------------------------------

    async def settings(self, guild_id: int) -> StorySettings:
        return await self.proposer.settings(guild_id)

    async def is_moderator(self, member: Member) -> bool:
        return is_moderator(member, await self.settings(member.guild_id))

    async def require_moderator(self, member: Member) -> None:
        settings = await self.settings(member.guild_id)
        if is_moderator(member, settings):
            return
        if settings.moderator_role is not None:
            raise StoryError(
                _(
                    "Only story moderators (<@&{role}>) can do that.",
                    role=settings.moderator_role,
                )
            )
        raise StoryError(_("Only story moderators (members with Manage Messages) can do that."))

    @staticmethod
    def _subject(member: Member, *, private: bool = False) -> Subject:
        return Subject(
            member.user_id, member.guild_id, member.channel_id, frozenset(member.role_ids), private
        )

    async def _check_written(self, member: Member, texts: Sequence[str], refused: Msg) -> None:
        """A member's text must pass moderation before anyone sees it."""
        if self.moderation is None:
            return
        try:
            await self.moderation.check_input(self._subject(member), texts)
        except ModerationRefused as err:
            if err.verdict.failed_closed:
                raise
            category = err.verdict.category or "?"
            raise StoryError(
                replace(refused, values={**refused.values, "category": category})
            ) from None

    # -- starting ---------------------------------------------------------------------

    async def prepare_start(
        self,
        member: Member,
        title: str,
        opening: str,
        *,
        preset: str | None,
        mode: str,
        candidates: int,
        window: int,
        quorum: int | None,
    ) -> list[str | Msg]:
        """Everything checked before a thread is opened: who may start, the texts, the
        options and the preset; returns notes (e.g. a limit that lowers candidates)."""
        settings = await self.settings(member.guild_id)
        if not may_start(member, settings):
            raise StoryError(
                _(
                    "Only members with <@&{role}> can start stories on this server.",
                    role=settings.starter_role,
                )
            )
        if mode not in MODES:
            raise ParameterError(
                "mode",
                mode,
                ", ".join(MODES),
                _("mode {value} is not a story mode: use vote, approve or vote+approve.",
                  value=repr(mode)),
            )  # fmt: skip
        for name, number, low, high in (
            ("candidates", candidates, CANDIDATES_LOW, CANDIDATES_HIGH),
            ("window", window, WINDOW_LOW, WINDOW_HIGH),
            ("quorum", quorum, QUORUM_LOW, QUORUM_HIGH),
        ):
            if number is not None and not low <= number <= high:
                allowed = _("a whole number from {low} to {high}", low=low, high=high)
                raise ParameterError(
                    name,
                    number,
                    allowed,
                    _(
                        "{name} {value} is out of range: use {allowed}.",
                        name=name,
                        value=number,
                        allowed=allowed,
                    ),
                )
        for name, value, limit in (
            ("title", title, TITLE_LENGTH),
            ("prompt", opening, OPENING_LENGTH),
        ):
            if not value.strip():
                raise ParameterError(
                    name, value, _("some text"), _("{name} is empty: write some text.", name=name)
                )
            if len(value) > limit:
                raise ParameterError(
                    name,
                    len(value),
                    str(limit),
                    _(
                        "{name} is {count} characters long: use at most {limit}.",
                        name=name,
                        count=len(value),
                        limit=limit,
                    ),
                )
        if self.moderation is not None:
            await self.moderation.check_input(self._subject(member), [title, opening])
        return await self.proposer.check(member, preset, candidates)

    async def start(
        self,
        member: Member,
        *,
        thread_id: int,
        channel_id: int,
        title: str,
        opening: str,
        preset: str | None,
        mode: str,
        candidates: int,
        window: int,
        quorum: int | None,
    ) -> StoryRecord:
        """Store a new story in `thread_id` (checked with `prepare_start` first)."""
        story = await self.store.create(
            NewStory(
                guild_id=member.guild_id,
                channel_id=channel_id,
                thread_id=thread_id,
                title=title.strip(),
                mode=mode,
                candidates=candidates,
                window_minutes=window,
                quorum=quorum,
                preset=preset,
                created_by=member.user_id,
                opening=opening,
            ),
            self.now(),
        )
        if story is None:
            raise StoryError(
                _("This thread already has a story: end it with /story end, or start in a channel.")
            )
        return story

    # -- finding ---------------------------------------------------------------------------

    async def in_thread(self, guild_id: int, thread_id: int) -> StoryRecord:
        story = await self.store.story_in_thread(guild_id, thread_id)
        if story is None:
            raise StoryError(
                _(
                    "There is no story in this channel: use this in a story's thread "
                    "(see /story list)."
                )
            )
        return story

    async def get(self, guild_id: int, story_id: int) -> StoryRecord:
        """A story of this server (another server's stories do not exist here)."""
        story = await self.store.story(story_id)
        if story is None or story.guild_id != guild_id:
            raise StoryError(_("There is no story #{id} on this server.", id=story_id))
        return story

    async def stories(self, guild_id: int) -> list[tuple[StoryRecord, int]]:
        """This server's stories, newest first, with how many rounds each had."""
        found = await self.store.stories(guild_id)
        counts = await self.store.round_counts([s.id for s in found])
        return [(s, counts.get(s.id, 0)) for s in found]

    async def nodes(self, story: StoryRecord) -> list[NodeRecord]:
        return await self.store.nodes(story.id)

    async def text(self, story: StoryRecord) -> str:
        """The story's text: the path from its opening to its head."""
        return text_of(path(await self.store.nodes(story.id), story.head_node_id))

    async def export(self, story: StoryRecord, fmt: ExportFormat) -> tuple[str, str]:
        """(file name, contents) of the story in `fmt`."""
        return export_name(story, fmt), export(story, await self.store.nodes(story.id), fmt)

    async def round_state(self, guild_id: int, round_id: int) -> RoundState:
        state = await self.store.round_state(round_id)
        if state is None or state.story.guild_id != guild_id:
            raise StoryError(_("That round is no longer available."))
        return state

    # -- rounds -------------------------------------------------------------------------

    async def next_round(
        self,
        member: Member,
        story: StoryRecord,
        direction: str | None = None,
        *,
        interaction_id: int | None = None,
        deadline: float | None = None,
        on_position: PositionCallback | None = None,
        request_id: str | None = None,
    ) -> RoundView:
        """One round: the model writes the story's candidates after its text (and the
        direction, for this round only); each is moderated; the round opens for votes
        (or, in `approve` mode, proposes the best for a moderator).

        `interaction_id` names the interaction asking. Asked again by the same one —
        run again by another process after its own died mid-round — it continues the
        round that interaction began (still generating: the candidates are written now;
        further on: it is returned as it stands) instead of starting another.
        `request_id` names its usage reservation, the same when run again."""
        if story.status == ENDED:
            raise StoryError(_("This story has ended: start a new one with /story start."))
        direction = (direction or "").strip() or None
        if direction is not None:
            if len(direction) > DIRECTION_LENGTH:
                raise ParameterError(
                    "direction",
                    len(direction),
                    str(DIRECTION_LENGTH),
                    _(
                        "direction is {count} characters long: use at most {limit}.",
                        count=len(direction),
                        limit=DIRECTION_LENGTH,
                    ),
                )
            await self._check_written(
                member,
                [direction],
                _("Your direction was not used: this server's moderation withholds {category}."),
            )
        started = None
        if interaction_id is not None:
            started = await self.store.round_of_interaction(story.id, interaction_id)
            if started is not None and started.status != GENERATING:
                return await self._begun_earlier(started)
        if started is None:
            started = await self.store.begin_round(
                story.id, member.user_id, direction, self.now(), interaction_id=interaction_id
            )
        if started is None:
            raise StoryError(
                _("A round is already running in this story: vote, or wait until it closes.")
            )
        try:
            nodes, notes = await self._candidates(
                member,
                story,
                started,
                deadline=deadline,
                on_position=on_position,
                request_id=request_id,
            )
        except asyncio.CancelledError:
            # The process is stopping: an interaction it leaves is run again and
            # continues this round (see above); nothing else would, so give it up.
            if interaction_id is None:
                await self.store.abandon_round(started.id, self.now())
            raise
        except BaseException:
            await self.store.abandon_round(started.id, self.now())
            raise
        now = self.now()
        window = timedelta(minutes=story.window_minutes)
        opened = await self.store.open_round(
            started.id, nodes, now + window if votes_decide(story.mode) else None, now
        )
        if opened is None:
            raise StoryError(_("The story ended while the model was writing."))
        return RoundView(await self._propose(opened), notes)

    async def _propose(self, opened: RoundState) -> RoundState:
        """In `approve` mode nothing is voted on: the model's best waits for a moderator
        at once."""
        if votes_decide(opened.story.mode) or opened.round.status != OPEN:
            return opened
        proposed = await self.store.close(
            opened.round.id,
            reason="approve",
            by=None,
            now=self.now(),
            choose=choose,
            needs_approval=True,
        )
        return proposed or opened

    async def _begun_earlier(self, begun: RoundRecord) -> RoundView:
        """A round an interaction began before its process died, past generating: as it
        stands (the caller posts it if it has no message yet)."""
        if begun.status == CANCELLED:
            raise StoryError(
                _("Round {number} was cancelled: start it again with Next round.",
                  number=begun.number)
            )  # fmt: skip
        state = await self.store.round_state(begun.id)
        assert state is not None
        return RoundView(await self._propose(state))

    async def _candidates(
        self,
        member: Member,
        story: StoryRecord,
        started: RoundRecord,
        *,
        deadline: float | None,
        on_position: PositionCallback | None,
        request_id: str | None,
    ) -> tuple[list[NewNode], list[str | Msg]]:
        """The model's candidates for a round, moderated (withheld ones dropped)."""
        so_far = text_of(path(await self.store.nodes(story.id), started.parent_node_id))
        prompt, lead = direction_prompt(so_far, started.direction)
        proposals = await self.proposer.propose(
            story_id=story.id,
            member=member,
            prompt=prompt,
            count=story.candidates,
            preset=story.preset,
            deadline=deadline,
            on_position=on_position,
            request_id=request_id,
        )
        written = [p for p in proposals.candidates if p.text.strip()]
        if not written:
            raise StoryError(_("The model wrote nothing this time: try the round again."))
        notes = list(proposals.notes)
        kept = list(range(len(written)))
        if self.moderation is not None:
            check = await self.moderation.check_output(
                # A round can't take a candidate in later: `hold` acts as `block` here.
                self._subject(member, private=True),
                [p.text for p in written],
                prompt=prompt,
            )
            if not check.kept:
                raise check.refusal()
            kept = check.kept
            notes = [*check.footer_notes(), *notes]
        nodes = [
            NewNode(
                lead + written[i].text.lstrip("\n") if lead else written[i].text,
                MODEL,
                None,
                proposals.params,
                written[i].seed,
                written[i].mean_logprob,
            )
            for i in kept
        ]
        return nodes, notes

    async def vote(self, member: Member, round_id: int, node_id: int) -> VoteResult:
        """A member's vote (or a changed one); the round closes when it makes quorum."""
        state = await self.round_state(member.guild_id, round_id)
        change = await self.store.vote(round_id, member.user_id, node_id, self.now())
        if change is None:
            raise StoryError(_("This round is closed: your vote was not counted."))
        quorum = state.round.quorum
        if change.changed and quorum is not None and change.voters >= quorum:
            closed = await self._close(state, reason="quorum", by=None)
            if closed is not None:
                return VoteResult(change, closed, closed=True)
        return VoteResult(change, await self.round_state(member.guild_id, round_id))

    async def write(self, member: Member, round_id: int, text: str) -> RoundState:
        """A member's own candidate, moderated, added to an open round."""
        state = await self.round_state(member.guild_id, round_id)
        text = text.strip()
        if not text:
            raise ParameterError("text", text, _("some text"), _("text is empty: write some text."))
        if len(text) > WRITTEN_LENGTH:
            raise ParameterError(
                "text",
                len(text),
                str(WRITTEN_LENGTH),
                _(
                    "text is {count} characters long: use at most {limit}.",
                    count=len(text),
                    limit=WRITTEN_LENGTH,
                ),
            )
        await self._check_written(
            member,
            [text],
            _("Your candidate was not added: this server's moderation withholds {category}."),
        )
        try:
            node = await self.store.add_written(
                round_id, NewNode(text, MEMBER, member.user_id), self.now(), limit=MAX_CANDIDATES
            )
        except StoryFull as full:
            if full.reason == "again":
                raise StoryError(
                    _(
                        "You already wrote a candidate in this round: vote for it, or wait "
                        "for the next."
                    )
                ) from None
            raise StoryError(
                _("This round has {count} candidates already, the most it can show.",
                  count=MAX_CANDIDATES)
            ) from None  # fmt: skip
        if node is None:
            raise StoryError(_("This round is closed: your candidate was not added."))
        return await self.round_state(member.guild_id, state.round.id)

    async def close(self, member: Member, round_id: int) -> RoundState:
        """A moderator closes a round now."""
        await self.require_moderator(member)
        state = await self.round_state(member.guild_id, round_id)
        closed = await self._close(state, reason="close", by=member.user_id)
        if closed is None:
            raise StoryError(_("This round is closed already."))
        return closed

    async def _close(self, state: RoundState, *, reason: str, by: int | None) -> RoundState | None:
        return await self.store.close(
            state.round.id,
            reason=reason,
            by=by,
            now=self.now(),
            choose=choose,
            needs_approval=needs_approval(state.story.mode),
        )

    async def reroll(self, member: Member, round_id: int) -> RoundState:
        """A moderator throws a round's candidates away; the caller starts the new round."""
        await self.require_moderator(member)
        await self.round_state(member.guild_id, round_id)
        state = await self.store.reroll(round_id, member.user_id, self.now())
        if state is None:
            raise StoryError(_("This round is decided already: it can't be rerolled."))
        return state

    async def decide(
        self, member: Member, round_id: int, node_id: int, action: str, text: str | None = None
    ) -> Decided:
        """A moderator approves, edits or rejects the winner waiting in a round, or picks
        among tied candidates (`pick`)."""
        await self.require_moderator(member)
        await self.round_state(member.guild_id, round_id)
        edited = None
        if action == "edit":
            text = (text or "").strip()
            if not text:
                raise ParameterError(
                    "text", "", _("some text"), _("text is empty: write some text.")
                )
            await self._check_written(
                member,
                [text],
                _("Your edit was not used: this server's moderation withholds {category}."),
            )
            edited = NewNode(text, EDIT, member.user_id)
        state = await self.store.decide(
            round_id,
            node_id,
            action=action,
            by=member.user_id,
            now=self.now(),
            choose=choose,
            edited=edited,
        )
        if state is None:
            raise StoryError(_("Someone already decided on this, or the round has moved on."))
        return Decided(state)

    # -- the text, for moderators -----------------------------------------------------------

    async def branch(self, member: Member, story: StoryRecord, node_id: int) -> NodeRecord:
        """Continue the story from an earlier node (of any branch)."""
        await self.require_moderator(member)
        nodes = {n.id: n for n in await self.store.nodes(story.id)}
        node = nodes.get(node_id)
        if node is None:
            raise StoryError(_("This story has no node #{id}: see /story export.", id=node_id))
        if node_id == story.head_node_id:
            raise StoryError(_("The story already continues from node #{id}.", id=node_id))
        if node.round_id is not None and node.status == CANDIDATE:
            raise StoryError(_("Node #{id} is still in a running round: vote for it.", id=node_id))
        if not await self.store.move_head(
            story.id, story.head_node_id, node_id, self.now(), undo=False
        ):
            raise self._busy()
        return node

    async def undo(self, member: Member, story: StoryRecord) -> NodeRecord:
        """Take the last piece off the text (it stays in the tree, discarded)."""
        await self.require_moderator(member)
        if story.head_node_id == story.root_node_id:
            raise StoryError(_("There is nothing to undo: the story is at its opening."))
        nodes = {n.id: n for n in await self.store.nodes(story.id)}
        head = nodes[story.head_node_id]
        assert head.parent_id is not None
        if not await self.store.move_head(
            story.id, story.head_node_id, head.parent_id, self.now(), undo=True
        ):
            raise self._busy()
        return head

    @staticmethod
    def _busy() -> StoryError:
        return StoryError(
            _(
                "A round is running or the story just changed: decide the round first, "
                "then try again."
            )
        )

    async def end(self, member: Member, story: StoryRecord) -> RoundRecord | None:
        """End the story (a running round is cancelled); returns that round."""
        await self.require_moderator(member)
        ended, cancelled = await self.store.end(story.id, self.now())
        if not ended:
            raise StoryError(_("This story has ended already."))
        return cancelled

    # -- the sweeper -------------------------------------------------------------------------

    async def sweep(self) -> SweepReport:
        """Close rounds whose window ended, give up on rounds whose process died while
        generating, pause stories idle for longer than their server allows.

        Each step is an atomic transition, so running this in several processes at
        once decides each round once; a lease (one process at a time) only saves work.
        """
        report = SweepReport()
        now = self.now()
        for due in await self.store.due_rounds(now):
            try:
                story = await self.store.story(due.story_id)
                assert story is not None
                closed = await self.store.close(
                    due.id,
                    reason="window",
                    by=None,
                    now=now,
                    choose=choose,
                    needs_approval=needs_approval(story.mode),
                )
            except Exception:
                log.exception("could not close round %s", due.id)
                continue
            if closed is not None:
                report.closed.append(closed)
        for stuck in await self.store.stuck_rounds(now - STUCK_AFTER):
            if await self.store.abandon_round(stuck.id, now):
                report.abandoned.append(stuck)
        for idle in await self.store.idle_stories(now - timedelta(minutes=IDLE_LOW)):
            settings = await self.settings(idle.guild_id)
            paused = await self.store.pause(idle.id, now - timedelta(minutes=settings.idle_minutes))
            if paused is not None:
                report.paused.append(paused)
        return report
