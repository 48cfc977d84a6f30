"""The moderation use case: check texts for a member in a channel, decide under the
server's policy, keep every verdict, hold texts for review, report flags.

The calls any feature uses (/complete, its buttons, the context menu, group
stories):

    notes = await moderation.check_input(subject, [prompt, suffix])  # raises ModerationRefused
    check = await moderation.check_output(subject, candidates, prompt=prompt)
    guard = moderation.stream_guard(subject)        # what may be shown of a stream so far

Posting to Discord (reports, review messages) is done by a `Notifier` the
Discord side registers; without one, `hold` acts as `block`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, Protocol

import httpx

from bot.errors import ParameterError
from bot.i18n import Msg, _
from bot.moderation.automod import NO_RULES, AutoModRules
from bot.moderation.categories import (
    AUTOMOD,
    CLASSIFIER,
    OPENAI,
    PROVIDER_CATEGORIES,
    WORDLIST,
    Action,
    FailureMode,
    strictest,
    strictness,
    withheld,
)
from bot.moderation.matching import KEYWORD_LENGTH
from bot.moderation.policy import DEFAULT_POLICY, LIMITS, Policy
from bot.moderation.providers import (
    OpenAIModeration,
    ProfanityClassifier,
    ProviderResult,
    ProviderUnavailable,
)
from bot.moderation.verdicts import (
    Finding,
    ModerationRefused,
    OutputCheck,
    Subject,
    Verdict,
    unavailable_note,
)
from bot.storage.cache import GuildCache
from bot.storage.moderation import (
    EventRecord,
    HeldText,
    ListFull,
    ModerationStore,
    PolicyRecord,
    WordEntry,
)

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.storage.database import Database

log = logging.getLogger(__name__)

Decision = Literal["approve", "reject", "timeout_1h", "timeout_24h"]
DECISIONS: tuple[Decision, ...] = ("approve", "reject", "timeout_1h", "timeout_24h")

# While streaming, the newest characters are held back when a word list or
# AutoMod rule applies: a keyword (at most KEYWORD_LENGTH characters) still
# being written could turn into a match. Otherwise only the word being written.
HOLD_BACK = KEYWORD_LENGTH
# A stream's text is re-checked at most this often (each check may call OpenAI).
STREAM_CHECK_INTERVAL = 1.0


@dataclass(frozen=True)
class Report:
    """A flagged text for the moderation channel."""

    subject: Subject
    stage: str
    verdict: Verdict
    text: str
    channel_id: int


class Notifier(Protocol):
    """Posts to a server's moderation channel (implemented on the Discord side)."""

    async def report(self, report: Report) -> None:
        """Post a report of a flagged text."""

    async def review(self, item: HeldText, verdict: Verdict, channel_id: int) -> bool:
        """Post a held text with its decision buttons; False when it could not be posted."""


@dataclass
class TestReport:
    """Every provider's view of one text, and the verdict under the server's policy."""

    verdict: Verdict
    results: dict[str, ProviderResult | str] = field(default_factory=dict)
    wordlist: list[str] = field(default_factory=list)  # the matched parts of the text
    automod: list[tuple[str, str]] = field(default_factory=list)  # (rule, matched part)
    rules: AutoModRules = field(default_factory=AutoModRules)


AutoModLoader = Callable[[int], Awaitable[AutoModRules]]


class ModerationService:
    """Checks, policies, verdicts and the review queue."""

    def __init__(
        self,
        store: ModerationStore,
        *,
        openai: OpenAIModeration | None = None,
        classifier: ProfanityClassifier | None = None,
    ) -> None:
        self.store = store
        self.openai = openai
        self.classifier = classifier
        self.policies: GuildCache[Policy] = GuildCache(self._load_policy)
        self.automod: GuildCache[AutoModRules] = GuildCache(self._load_automod)
        # Set by the Discord side: reads a server's AutoMod rules, posts to channels.
        self.automod_loader: AutoModLoader | None = None
        self.notifier: Notifier | None = None
        self._client: httpx.AsyncClient | None = None
        # Verdicts given, by stage and action (for /metrics).
        self.verdicts: Counter[tuple[str, str]] = Counter()

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> ModerationService:
        """The providers the settings turn on; the OpenAI client is owned (see `aclose`)."""
        openai = None
        client = None
        endpoint = settings.moderation_endpoint()
        if endpoint is not None:
            base_url, key = endpoint
            client = httpx.AsyncClient(timeout=settings.moderation_timeout)
            openai = OpenAIModeration(
                base_url,
                key.get_secret_value() if key else None,
                timeout=settings.moderation_timeout,
                client=client,
            )
        classifier = ProfanityClassifier() if settings.moderation_classifier else None
        service = cls(ModerationStore(db), openai=openai, classifier=classifier)
        service._client = client
        return service

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    @property
    def providers(self) -> list[str]:
        """The providers that are on (the server's lists and rules are always on)."""
        on = [OPENAI] if self.openai else []
        on += [CLASSIFIER] if self.classifier else []
        return [*on, WORDLIST, AUTOMOD]

    # -- policies and AutoMod rules ------------------------------------------------

    async def policy(self, guild_id: int | None) -> Policy:
        """The server's effective policy (the defaults outside servers)."""
        if guild_id is None:
            return DEFAULT_POLICY
        return await self.policies.get(guild_id)

    async def _load_policy(self, guild_id: int) -> Policy:
        record = await self.store.policy(guild_id)
        return Policy.from_record(record, await self.store.words(guild_id))

    async def automod_rules(self, guild_id: int) -> AutoModRules:
        """The server's AutoMod rules (read once, then kept until refreshed)."""
        rules = await self.automod.get(guild_id)
        if rules.error:
            self.automod.invalidate(guild_id)  # try again next time
        return rules

    async def _load_automod(self, guild_id: int) -> AutoModRules:
        if self.automod_loader is None:
            return NO_RULES
        return await self.automod_loader(guild_id)

    async def refresh_automod(self, guild_id: int) -> AutoModRules:
        """Read the server's rules again (after a rule was created, changed or deleted)."""
        await self.automod.changed(guild_id)
        return await self.automod_rules(guild_id)

    # -- checking ------------------------------------------------------------------

    async def evaluate(
        self, subject: Subject, texts: Sequence[str], *, policy: Policy | None = None
    ) -> list[Verdict]:
        """Every text through the providers the policy needs; a verdict per text. Nothing
        is recorded (see `check_input` and `check_output`)."""
        policy = policy or await self.policy(subject.guild_id)
        findings: list[list[Finding]] = [[] for _ in texts]
        unavailable: list[str] = []
        remote = {
            name: provider
            for name, provider in ((OPENAI, self.openai), (CLASSIFIER, self.classifier))
            if provider is not None and policy.needs(name)
        }
        answers = await _ask_all([provider.check(texts) for provider in remote.values()])
        for name, answer in zip(remote, answers, strict=True):
            if isinstance(answer, ProviderUnavailable):
                log.warning("moderation provider unavailable: %s", answer)
                unavailable.append(name)
                continue
            if isinstance(answer, BaseException):
                raise answer
            for found, result in zip(findings, answer, strict=True):
                found.extend(Finding(c, result.scores.get(c, 1.0), name) for c in result.found)
        if policy.needs(WORDLIST) and not policy.matcher.empty:
            for found, text in zip(findings, texts, strict=True):
                if policy.matcher.hits(text):
                    found.append(Finding(WORDLIST, 1.0, WORDLIST))
        if subject.guild_id is not None and policy.needs(AUTOMOD):
            rules = await self.automod_rules(subject.guild_id)
            if rules.error:
                unavailable.append(AUTOMOD)
            for found, text in zip(findings, texts, strict=True):
                hit_rules = {
                    r.name: r for r, _ in rules.hits(text, subject.role_ids, subject.channel_id)
                }
                found.extend(Finding(AUTOMOD, 1.0, AUTOMOD, name) for name in hit_rules)
        return [decide(policy, f, unavailable, private=subject.private) for f in findings]

    async def check_input(self, subject: Subject, texts: Sequence[str]) -> list[Msg]:
        """Check what a member wrote before anything is sent to a backend.

        Raises ModerationRefused when a text is withheld (`hold` acts as `block`
        here: there is nothing to approve yet; the text is reported instead).
        Returns footer notes (a provider was unavailable and the server is open).
        """
        texts = [t for t in texts if t and t.strip()]
        if not texts:
            return []
        policy = await self.policy(subject.guild_id)
        verdicts = [
            replace(v, action="block") if v.action == "hold" else v
            for v in await self.evaluate(subject, texts, policy=policy)
        ]
        await self._keep(subject, "input", texts, verdicts, policy, [None] * len(texts))
        refused = next((v for v in verdicts if v.withheld), None)
        if refused is not None:
            raise ModerationRefused(refused, stage="input")
        return _open_notes(verdicts)

    async def check_output(
        self, subject: Subject, texts: Sequence[str], *, prompt: str = ""
    ) -> OutputCheck:
        """Check generated texts before they are shown; held ones go to the review queue."""
        policy = await self.policy(subject.guild_id)
        verdicts = await self.evaluate(subject, texts, policy=policy)
        held_ids: list[int | None] = []
        for index, (text, verdict) in enumerate(zip(texts, verdicts, strict=True)):
            held_id = None
            if verdict.action == "hold":
                held_id = await self._hold(subject, policy, prompt, text, verdict)
                if held_id is None:
                    verdicts[index] = replace(verdict, action="block")
            held_ids.append(held_id)
        await self._keep(subject, "output", texts, verdicts, policy, held_ids)
        return OutputCheck(verdicts, held_ids, _open_notes(verdicts))

    async def _hold(
        self, subject: Subject, policy: Policy, prompt: str, text: str, verdict: Verdict
    ) -> int | None:
        """Store a held text and post it for review; None when it could not be posted."""
        assert subject.guild_id is not None and policy.channel_id is not None  # see Policy.action
        item = HeldText(
            guild_id=subject.guild_id,
            channel_id=subject.channel_id or 0,
            user_id=subject.user_id,
            prompt=prompt,
            text=text,
            categories=verdict.scores,
        )
        held_id = await self.store.hold(item)
        posted = False
        if self.notifier is not None:
            try:
                posted = await self.notifier.review(item, verdict, policy.channel_id)
            except Exception:
                log.exception("could not post held text %s for review", held_id)
        if not posted:
            # Nobody could approve it: it stays withheld, and the record says why.
            await self.store.decide(held_id, "rejected", 0, "unposted")
            return None
        return held_id

    async def _keep(
        self,
        subject: Subject,
        stage: str,
        texts: Sequence[str],
        verdicts: Sequence[Verdict],
        policy: Policy,
        held_ids: Sequence[int | None],
    ) -> None:
        """Record the verdicts that did something, and report flags to the channel.

        Clean texts leave no record: a log of every text checked would be a log
        of everything members write.
        """
        for verdict in verdicts:
            self.verdicts[(stage, verdict.action)] += 1
        events = [
            EventRecord(
                user_id=subject.user_id,
                stage=stage,
                provider=",".join(v.providers) or "policy",
                action=v.action,
                guild_id=subject.guild_id,
                channel_id=subject.channel_id,
                categories=v.scores,
                held_id=held_id,
            )
            for v, held_id in zip(verdicts, held_ids, strict=True)
            if v.action != "allow" or v.unavailable
        ]
        await self.store.record(events)
        channel = policy.channel_id
        if channel is None or self.notifier is None:
            return
        for text, verdict in zip(texts, verdicts, strict=True):
            # Flags are reported; so are inputs held (they were blocked above).
            held_input = (
                stage == "input"
                and verdict.category is not None
                and (policy.action(verdict.category, private=subject.private) == "hold")
            )
            if verdict.action == "flag" or held_input:
                try:
                    await self.notifier.report(Report(subject, stage, verdict, text, channel))
                except Exception:
                    log.exception("could not report a flagged text to channel %s", channel)

    def stream_guard(self, subject: Subject) -> StreamGuard:
        """What may be shown of a text still being generated (see StreamGuard)."""
        return StreamGuard(self, subject)

    async def _withholding_lists(
        self, subject: Subject, policy: Policy
    ) -> tuple[bool, AutoModRules | None]:
        """Whether the word list withholds, and the AutoMod rules when they withhold."""
        words = withheld(policy.action(WORDLIST, private=subject.private))
        rules = None
        if subject.guild_id is not None and withheld(
            policy.action(AUTOMOD, private=subject.private)
        ):
            rules = await self.automod_rules(subject.guild_id)
        return words and not policy.matcher.empty, rules if rules and rules.rules else None

    async def first_withheld_hit(self, subject: Subject, policy: Policy, text: str) -> int | None:
        """Where the earliest list or AutoMod match that would withhold `text` starts."""
        words, rules = await self._withholding_lists(subject, policy)
        starts = [h.start for h in policy.matcher.hits(text)] if words else []
        if rules is not None:
            starts += [h.start for _, h in rules.hits(text, subject.role_ids, subject.channel_id)]
        return min(starts, default=None)

    async def hold_back_for(self, subject: Subject, policy: Policy) -> int:
        """How many of a stream's newest characters to hold back (see HOLD_BACK)."""
        words, rules = await self._withholding_lists(subject, policy)
        return HOLD_BACK if words or rules is not None else 0

    async def test(self, subject: Subject, text: str) -> TestReport:
        """Every provider's verdict on `text` (whether the policy needs it or not)."""
        policy = await self.policy(subject.guild_id)
        report = TestReport(verdict=(await self.evaluate(subject, [text], policy=policy))[0])
        for name, provider in ((OPENAI, self.openai), (CLASSIFIER, self.classifier)):
            if provider is None:
                continue
            try:
                report.results[name] = (await provider.check([text]))[0]
            except ProviderUnavailable as err:
                report.results[name] = err.reason
        report.wordlist = [text[h.start : h.end] for h in policy.matcher.hits(text)]
        if subject.guild_id is not None:
            report.rules = await self.automod_rules(subject.guild_id)
            report.automod = [
                (rule.name, text[h.start : h.end])
                for rule, h in report.rules.hits(text, subject.role_ids, subject.channel_id)
            ]
        return report

    # -- changing the policy (callers check Manage Server) -------------------------

    async def set_action(
        self, guild_id: int, category: str, action: Action | None, actor_id: int
    ) -> tuple[PolicyRecord, PolicyRecord]:
        """Set a category's action (None: back to the default)."""
        changed = await self.store.update_policy(
            guild_id, actor_id, category, actions={category: action}
        )
        await self.policies.changed(guild_id)
        return changed

    async def set_failure_mode(
        self, guild_id: int, mode: FailureMode | None, actor_id: int
    ) -> tuple[PolicyRecord, PolicyRecord]:
        changed = await self.store.update_policy(guild_id, actor_id, "on_failure", on_failure=mode)
        await self.policies.changed(guild_id)
        return changed

    async def set_channel(
        self, guild_id: int, channel_id: int | None, actor_id: int
    ) -> tuple[PolicyRecord, PolicyRecord]:
        changed = await self.store.update_policy(
            guild_id, actor_id, "channel", channel_id=channel_id
        )
        await self.policies.changed(guild_id)
        return changed

    async def change_words(
        self, guild_id: int, actor_id: int, add: Sequence[WordEntry], remove: Sequence[str]
    ) -> tuple[list[WordEntry], list[WordEntry]]:
        """Add checked entries and remove entries by value; a full list is refused."""
        try:
            changed = await self.store.change_words(guild_id, actor_id, add, remove, limits=LIMITS)
        except ListFull as full:
            raise ParameterError(
                full.kind,
                len(add),
                str(full.limit),
                _(
                    "The word list can hold at most {limit} {kind} entries: remove some first.",
                    limit=full.limit,
                    kind=full.kind,
                ),
            ) from None
        await self.policies.changed(guild_id)
        return changed

    async def history(self, guild_id: int, limit: int = 10) -> list[EventRecord]:
        return await self.store.recent_events(guild_id, limit)

    # -- the review queue -------------------------------------------------------------

    async def held(self, held_id: int) -> HeldText | None:
        return await self.store.held(held_id)

    async def reviewed(self, held_id: int, channel_id: int, message_id: int) -> None:
        """Remember the review message of a held text."""
        await self.store.set_review_message(held_id, channel_id, message_id)

    async def decide(self, held_id: int, decision: Decision, reviewer_id: int) -> HeldText | None:
        """Take a moderator's decision if the text is still held: the item, or None when
        another decision came first."""
        status = "approved" if decision == "approve" else "rejected"
        if not await self.store.decide(held_id, status, reviewer_id, decision):
            return None
        return await self.store.held(held_id)


def decide(
    policy: Policy, findings: Sequence[Finding], unavailable: Sequence[str], *, private: bool
) -> Verdict:
    """The verdict on one text: the strictest action among its findings, and what the
    failure mode says about providers that could not answer."""
    action: Action = "allow"
    category = None
    for finding in findings:
        candidate = policy.action(finding.category, private=private)
        if strictness(candidate) > strictness(action):
            action, category = candidate, finding.category
    mattered = []
    failed_closed = False
    for provider in unavailable:
        worst = strictest(
            [policy.action(c, private=private) for c in PROVIDER_CATEGORIES[provider]]
        )
        if not withheld(worst):
            continue  # it could only have flagged
        mattered.append(provider)
        if policy.on_failure == "closed" and action != "block":
            action, category, failed_closed = "block", None, True
    return Verdict(action, category, tuple(findings), tuple(mattered), failed_closed)


def _open_notes(verdicts: Sequence[Verdict]) -> list[Msg]:
    missing = sorted({p for v in verdicts if not v.withheld for p in v.unavailable})
    return [unavailable_note(missing)] if missing else []


def hold_back(text: str, keep: int = HOLD_BACK) -> int:
    """How much of a stream's text may be checked for showing: all but the newest
    `keep` characters and the word being written, cut at a space when one is near
    (text without spaces, such as Chinese, is cut by count)."""
    limit = len(text) - keep
    if limit <= 0:
        return 0
    space = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
    return space if space >= 0 and space >= limit - 20 else limit


class StreamGuard:
    """What may be shown of a streamed text so far.

    `visible(text)` is given the whole text so far and answers the longest
    prefix that has been checked: the word being written is held back, and the
    newest HOLD_BACK characters when a word list or AutoMod rule applies (a
    keyword being written could still become a match); the text stops before the
    first list or AutoMod match that would withhold it, and the prefix itself
    passes every provider. The text shown only grows; it is re-checked at most
    every STREAM_CHECK_INTERVAL seconds. The finished text is checked again
    by `check_output` before it is shown whole.
    """

    def __init__(self, service: ModerationService, subject: Subject) -> None:
        self.service = service
        self.subject = subject
        self.shown = ""
        self._checked_at = -math.inf

    async def visible(self, text: str) -> str:
        policy = await self.service.policy(self.subject.guild_id)
        cut = hold_back(text, await self.service.hold_back_for(self.subject, policy))
        if cut <= len(self.shown):
            return self.shown
        now = time.monotonic()
        if now - self._checked_at < STREAM_CHECK_INTERVAL:
            return self.shown
        self._checked_at = now
        first = await self.service.first_withheld_hit(self.subject, policy, text)
        if first is not None:
            cut = min(cut, first)
        candidate = text[:cut].rstrip()
        if len(candidate) <= len(self.shown):
            return self.shown
        (verdict,) = await self.service.evaluate(self.subject, [candidate], policy=policy)
        if not verdict.withheld:
            self.shown = candidate
        return self.shown


async def _ask_all(
    checks: list[Awaitable[list[ProviderResult]]],
) -> list[list[ProviderResult] | BaseException]:
    """Each provider's answer, or the exception it raised, in order; several at once,
    one (the usual: the classifier) without the tasks `gather` would make for it."""
    if len(checks) != 1:
        return await asyncio.gather(*checks, return_exceptions=True)
    try:
        return [await checks[0]]
    except Exception as error:  # as gather returns it; a cancellation still propagates
        return [error]
