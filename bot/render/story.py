"""Group stories as message text: a round with its candidates and tally, what was chosen,
the opening, the list of stories. Pure functions; every sentence is rendered in the
locale given. Each message fits Discord's 2,000 characters: a round's candidates share
the room left by its header and footer (the whole text of each is in the export).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.i18n import Msg, _, ngettext, render
from bot.render.text import MESSAGE_LIMIT, cut_units, split_text, ulen

if TYPE_CHECKING:
    from bot.storage.stories import NodeRecord, RoundState, StoryRecord

# Round and node states (bot.storage.stories), compared as text: rendering imports
# no storage at run time.
OPEN, PENDING, TIED, CLOSED, REROLLED = "open", "pending", "tied", "closed", "rerolled"
# The least room a candidate gets in a round message, and the most its line shows.
CANDIDATE_MIN_WIDTH = 80
CANDIDATE_MAX_WIDTH = 900


def short(text: str, width: int) -> str:
    """At most `width` UTF-16 units, with an ellipsis when cut."""
    return text if ulen(text) <= width else cut_units(text, max(width - 1, 0)) + "…"


def quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.split("\n"))


def timestamp(at: datetime, style: str = "R") -> str:
    """Discord's timestamp markup: every reader sees it in their own time zone."""
    return f"<t:{int(at.timestamp())}:{style}>"


def _votes(count: int) -> Msg:
    return ngettext("{n} vote", "{n} votes", count)


def candidate_label(node: NodeRecord, locale: str | None) -> str:
    """Who wrote a candidate: nobody named for the model, the member otherwise."""
    if node.source == "member":
        return render(_("written by <@{user}>", user=node.author_id), locale)
    if node.source == "edit":
        return render(_("edited by <@{user}>", user=node.author_id), locale)
    return ""


def round_header(state: RoundState, locale: str | None) -> str:
    story, round_ = state.story, state.round
    head = render(
        _("**Round {number}** of *{title}*", number=round_.number, title=story.title), locale
    )
    if round_.direction:
        head += "\n" + render(
            _("-# Direction: {text}", text=short(round_.direction.replace("\n", " "), 200)),
            locale,
        )
    return head


def round_status(state: RoundState, tied: Sequence[NodeRecord], locale: str | None) -> str:
    """The line under the candidates: how to vote and when it closes, or what happened."""
    round_ = state.round
    by_id = {n.id: n for n in state.nodes}
    if round_.status == OPEN:
        text = _("Vote with the buttons: one vote each, and you can change it.")
        closing = _("Closes {when}.", when=timestamp(round_.deadline)) if round_.deadline else None
        lines = [render(text, locale)]
        voters = sum(n.votes for n in state.nodes)
        if round_.quorum:
            lines.append(
                render(
                    ngettext(
                        "Closes at {n} vote ({count} so far).",
                        "Closes at {n} votes ({count} so far).",
                        round_.quorum,
                        count=voters,
                    ),
                    locale,
                )
            )
        if closing is not None:
            lines.append(render(closing, locale))
        return "-# " + " ".join(lines)
    if round_.status == PENDING and round_.proposed_node_id in by_id:
        node = by_id[round_.proposed_node_id]
        return render(
            _(
                "⏳ **{number}** won ({votes}): a moderator approves it, edits it or rejects it.",
                number=node.position,
                votes=_votes(node.votes),
            ),
            locale,
        )
    if round_.status == TIED:
        numbers = ", ".join(str(n.position) for n in tied)
        return render(
            _("⚖️ A tie between {numbers}: a moderator picks one.", numbers=numbers), locale
        )
    if round_.status == CLOSED and round_.winner_node_id in by_id:
        node = by_id[round_.winner_node_id]
        if node.source == "edit":
            return render(_("✅ Chosen as edited by <@{user}>.", user=round_.closed_by), locale)
        return render(
            _("✅ **{number}** was chosen ({votes}).", number=node.position,
              votes=_votes(node.votes)),
            locale,
        )  # fmt: skip
    if round_.status == REROLLED:
        return render(_("🔄 Rerolled: new candidates follow."), locale)
    return render(_("This round was cancelled."), locale)


def round_message(
    state: RoundState, tied: Sequence[NodeRecord], notes: str | None, locale: str | None
) -> str:
    """A round: its header, each candidate (numbered, who wrote it, its votes), the
    status line and the notes posted with it."""
    header = round_header(state, locale)
    status = round_status(state, tied, locale)
    footer = f"\n{notes}" if notes else ""
    shown = [n for n in state.nodes if n.source != "edit"]
    fixed = ulen(header) + ulen(status) + ulen(footer) + 4
    lines = []
    decided = state.round.status not in (OPEN, PENDING, TIED)
    for node in shown:
        label = candidate_label(node, locale)
        tally = render(_votes(node.votes), locale)
        mark = "✅ " if node.id == state.round.winner_node_id else ""
        lead = f"**{node.position}.** {mark}" + (f"*{label}* · " if label else "") + tally
        lines.append((node, lead))
    overhead = sum(ulen(lead) + 4 for _, lead in lines)
    room = (MESSAGE_LIMIT - fixed - overhead) // max(len(lines), 1)
    width = max(CANDIDATE_MIN_WIDTH, min(CANDIDATE_MAX_WIDTH, room))
    body = []
    for node, lead in lines:
        text = short(node.text.strip(), width)
        if decided and node.status == "discarded":
            text = f"~~{text}~~" if "~~" not in text else text
        body.append(f"{lead}\n{quoted(text)}")
    content = "\n".join([header, *body, status]) + footer
    return content if ulen(content) <= MESSAGE_LIMIT else short(content, MESSAGE_LIMIT)


def chosen_messages(state: RoundState, locale: str | None) -> list[str]:
    """What a decided round added to the story, as the story goes on."""
    winner = next(n for n in state.nodes if n.id == state.round.winner_node_id)
    head = render(
        _("📖 *{title}*, after round {number}:", title=state.story.title,
          number=state.round.number),
        locale,
    )  # fmt: skip
    return split_text(f"{head}\n{winner.text.strip()}")


def opening_messages(story: StoryRecord, opening: str, locale: str | None) -> list[str]:
    """The story's first post in its thread: the title, how it works, the opening."""
    how = _how_it_works(story)
    head = render(_("📖 **{title}**", title=story.title), locale)
    return split_text(f"{head}\n-# {render(how, locale)}\n\n{opening}")


def _how_it_works(story: StoryRecord) -> Msg:
    if story.mode == "approve":
        return _(
            "Each round the model writes {count} continuations and a moderator approves "
            "the likeliest (or edits or rejects it).",
            count=story.candidates,
        )
    closing = (
        ngettext(
            "A round closes after {n} minute or at {quorum} votes.",
            "A round closes after {n} minutes or at {quorum} votes.",
            story.window_minutes,
            quorum=story.quorum,
        )
        if story.quorum
        else ngettext(
            "A round closes after {n} minute.",
            "A round closes after {n} minutes.",
            story.window_minutes,
        )
    )
    if story.mode == "vote+approve":
        return _(
            "Each round the model writes {count} continuations, everyone votes and a "
            "moderator approves the winner. {closing}",
            count=story.candidates,
            closing=closing,
        )
    return _(
        "Each round the model writes {count} continuations and everyone votes. {closing}",
        count=story.candidates,
        closing=closing,
    )


def story_line(story: StoryRecord, rounds: int, locale: str | None) -> str:
    """One story in /story list."""
    status = {
        "active": _("active"),
        "paused": _("paused"),
        "ended": _("ended"),
    }.get(story.status, _("active"))
    return render(
        _(
            "**#{id}** {title} — {status} · {rounds} · <#{thread}>",
            id=story.id,
            title=short(story.title, 80),
            status=status,
            rounds=ngettext("{n} round", "{n} rounds", rounds),
            thread=story.thread_id,
        ),
        locale,
    )


def stories_text(found: Sequence[tuple[StoryRecord, int]], locale: str | None) -> str:
    if not found:
        return render(_("No stories on this server yet: start one with /story start."), locale)
    lines = [render(_("**Stories on this server** (newest first):"), locale)]
    lines += [story_line(story, rounds, locale) for story, rounds in found]
    text = "\n".join(lines)
    return text if ulen(text) <= MESSAGE_LIMIT else short(text, MESSAGE_LIMIT)


def node_choice(node: NodeRecord, on_path: bool) -> str:
    """A node as /story branch's autocomplete offers it (at most 100 characters)."""
    mark = "✓" if on_path else "·"
    text = " ".join(node.text.split())
    return short(f"#{node.id} {mark} {text}", 100)
