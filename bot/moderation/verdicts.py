"""What a check finds and decides, and the sentences the requester is given."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.errors import CoupletError
from bot.i18n import Msg, _, ngettext
from bot.moderation.categories import Action, withheld


@dataclass(frozen=True)
class Subject:
    """Who a text is checked for, and where (ids only). `/complete`, the buttons and
    group stories all describe the member and channel this way."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    role_ids: frozenset[int] = frozenset()
    # A private (ephemeral) reply cannot be posted later, so `hold` acts as `block`.
    private: bool = False


@dataclass(frozen=True)
class Finding:
    """A category one provider found in one text, with its score (1.0 for list matches)."""

    category: str
    score: float
    provider: str
    rule: str | None = None  # the AutoMod rule's name


@dataclass(frozen=True)
class Verdict:
    """One text under the server's policy: the action and why."""

    action: Action = "allow"
    category: str | None = None  # the category behind the action
    findings: tuple[Finding, ...] = ()
    # Providers that could not answer although the policy needed them.
    unavailable: tuple[str, ...] = ()
    # True when the text is blocked only because a provider was unavailable.
    failed_closed: bool = False

    @property
    def withheld(self) -> bool:
        return withheld(self.action)

    @property
    def scores(self) -> dict[str, float]:
        """The highest score per category found."""
        best: dict[str, float] = {}
        for f in self.findings:
            best[f.category] = max(f.score, best.get(f.category, 0.0))
        return best

    @property
    def providers(self) -> list[str]:
        names = [f.provider for f in self.findings] + list(self.unavailable)
        return list(dict.fromkeys(names))


def unavailable_note(providers: tuple[str, ...] | list[str]) -> Msg:
    """Footer note when the server lets text through unchecked (failure mode open)."""
    return _(
        "The {providers} check was unavailable, so this was shown without it "
        "(this server's moderation is open on failure).",
        providers=", ".join(providers),
    )


def withheld_note(count: int, total: int, held: int) -> Msg:
    """Footer note: some of several candidates are not shown."""
    if held:
        return ngettext(
            "{n} of {total} withheld ({held} held for a moderator's review).",
            "{n} of {total} withheld ({held} held for a moderator's review).",
            count,
            total=total,
            held=held,
        )
    return ngettext("{n} of {total} withheld.", "{n} of {total} withheld.", count, total=total)


class ModerationRefused(CoupletError):
    """A text was withheld; the sentence names the category, never the text."""

    def __init__(self, verdict: Verdict, *, stage: str) -> None:
        super().__init__(refusal_sentence(verdict, stage))
        self.verdict = verdict
        self.stage = stage


def refusal_sentence(verdict: Verdict, stage: str) -> Msg:
    """What the requester is told when a text is withheld."""
    if verdict.failed_closed:
        return _(
            "Couplet couldn't check this text just now ({providers} unavailable), and this "
            "server doesn't show unchecked text: try again in a minute.",
            providers=", ".join(verdict.unavailable),
        )
    category = verdict.category or "?"
    if stage == "input":
        return _(
            "Your text was not sent to the model: this server's moderation withholds {category}.",
            category=category,
        )
    if verdict.action == "hold":
        return _(
            "The completion was held for a moderator's review ({category}): it will be "
            "posted here if approved.",
            category=category,
        )
    return _(
        "The completion was withheld: this server's moderation blocks {category}.",
        category=category,
    )


@dataclass
class OutputCheck:
    """The verdicts on the candidates of one generation, in order."""

    verdicts: list[Verdict]
    held_ids: list[int | None] = field(default_factory=list)
    notes: list[Msg] = field(default_factory=list)

    @property
    def kept(self) -> list[int]:
        """Indices of the texts that may be shown."""
        return [i for i, v in enumerate(self.verdicts) if not v.withheld]

    def refusal(self) -> ModerationRefused:
        """The one sentence for when every text is withheld (the strictest verdict speaks)."""
        held = [v for v in self.verdicts if v.action == "hold"]
        blocked = [v for v in self.verdicts if v.action == "block"]
        return ModerationRefused((blocked or held)[0], stage="output")

    def footer_notes(self) -> list[Msg]:
        """The notes for the footer: withheld counts, open-on-failure."""
        notes = list(self.notes)
        withheld_count = len(self.verdicts) - len(self.kept)
        if withheld_count and self.kept:
            held = sum(1 for v in self.verdicts if v.action == "hold")
            notes.insert(0, withheld_note(withheld_count, len(self.verdicts), held))
        return notes
