"""The moderation service on a real database, the real classifier and a loopback
OpenAI-shaped moderation server: verdicts under a policy, failure modes, held texts,
recorded events and what a stream may show."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.moderation import ModerationRefused, ModerationService, Report, Subject, Verdict
from bot.moderation.automod import NO_RULES, AutoModRule, AutoModRules
from bot.moderation.policy import DEFAULT_POLICY
from bot.moderation.providers import OpenAIModeration, ProfanityClassifier
from bot.moderation.service import StreamGuard
from bot.storage import Database
from bot.storage.moderation import HeldText, ModerationStore, WordEntry
from tests.support.migrated import migrated_sqlite
from tests.support.moderation_server import ModerationServer, running_moderation_server

GUILD, CHANNEL, MOD_CHANNEL, ADMIN = 10, 20, 30, 1
ALICE = Subject(user_id=5, guild_id=GUILD, channel_id=CHANNEL)


class RecordingNotifier:
    """Stands in for the Discord side (the e2e tests use the real one)."""

    def __init__(self, *, can_post: bool = True) -> None:
        self.reports: list[Report] = []
        self.reviews: list[tuple[HeldText, Verdict, int]] = []
        self.can_post = can_post

    async def report(self, report: Report) -> None:
        self.reports.append(report)

    async def review(self, item: HeldText, verdict: Verdict, channel_id: int) -> bool:
        self.reviews.append((item, verdict, channel_id))
        return self.can_post


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'm.db')}")
    yield database
    await database.dispose()


@pytest.fixture
async def openai_server() -> AsyncIterator[ModerationServer]:
    async with running_moderation_server() as server:
        yield server


@pytest.fixture
async def service(
    db: Database, openai_server: ModerationServer
) -> AsyncIterator[ModerationService]:
    async with httpx.AsyncClient() as client:
        openai = OpenAIModeration(openai_server.base_url, None, timeout=2, client=client)
        yield ModerationService(
            ModerationStore(db), openai=openai, classifier=ProfanityClassifier()
        )


async def test_input_blocked_by_the_word_list_names_the_category_and_is_kept(
    service: ModerationService,
) -> None:
    """A prompt with a listed word is refused naming `wordlist`; the verdict is recorded."""
    await service.change_words(GUILD, ADMIN, [WordEntry("keyword", "zorblax")], [])
    with pytest.raises(ModerationRefused) as caught:
        await service.check_input(ALICE, ["tell me about Zorblax please"])
    assert "wordlist" in caught.value.message
    assert "zorblax" not in caught.value.message.lower()
    (event,) = await service.history(GUILD)
    assert (event.stage, event.action, event.provider, event.categories) == (
        "input",
        "block",
        "wordlist",
        {"wordlist": 1.0},
    )


async def test_defaults_flag_hate_and_block_graphic_violence(
    service: ModerationService, openai_server: ModerationServer
) -> None:
    """One call checks all candidates: hate is flagged (shown), graphic violence blocked."""
    notifier = RecordingNotifier()
    service.notifier = notifier
    await service.set_channel(GUILD, MOD_CHANNEL, ADMIN)
    check = await service.check_output(ALICE, ["a calm text", "a hateful text", "gory text"])
    assert len(openai_server.requests) == 1
    assert [v.action for v in check.verdicts] == ["allow", "flag", "block"]
    assert check.kept == [0, 1]
    assert [str(n) for n in check.footer_notes()] == ["1 of 3 withheld."]
    assert [r.verdict.category for r in notifier.reports] == ["hate"]
    actions = sorted(e.action for e in await service.history(GUILD))
    assert actions == ["block", "flag"]


async def test_hold_needs_a_channel_and_a_posted_review(service: ModerationService) -> None:
    """hold acts as block without a channel; with one the text is stored and posted; a
    review that can't be posted makes it a block."""
    await service.set_action(GUILD, "hate", "hold", ADMIN)
    (verdict,) = (await service.check_output(ALICE, ["hateful words"])).verdicts
    assert verdict.action == "block"

    await service.set_channel(GUILD, MOD_CHANNEL, ADMIN)
    service.notifier = notifier = RecordingNotifier()
    check = await service.check_output(ALICE, ["hateful words"], prompt="say it")
    assert check.verdicts[0].action == "hold" and check.held_ids[0] is not None
    item, _, channel = notifier.reviews[0]
    assert (item.prompt, item.text, channel) == ("say it", "hateful words", MOD_CHANNEL)
    assert str(check.refusal()).startswith("The completion was held for a moderator's review")

    service.notifier = RecordingNotifier(can_post=False)
    check = await service.check_output(ALICE, ["hateful words"])
    assert check.verdicts[0].action == "block" and check.held_ids == [None]


async def test_private_replies_cannot_be_held(service: ModerationService) -> None:
    """A private reply can't be posted later, so hold acts as block for it."""
    await service.set_action(GUILD, "hate", "hold", ADMIN)
    await service.set_channel(GUILD, MOD_CHANNEL, ADMIN)
    service.notifier = RecordingNotifier()
    private = Subject(5, GUILD, CHANNEL, private=True)
    (verdict,) = (await service.check_output(private, ["hateful"])).verdicts
    assert verdict.action == "block"


async def test_provider_down_closed_by_default_and_open_when_set(
    service: ModerationService, openai_server: ModerationServer
) -> None:
    """With OpenAI down, closed (the default) blocks and says why; open shows with a note."""
    openai_server.mode = "down"
    (verdict,) = (await service.check_output(ALICE, ["a calm text"])).verdicts
    assert verdict.failed_closed and verdict.action == "block"
    assert "openai unavailable" in str(ModerationRefused(verdict, stage="output"))

    await service.set_failure_mode(GUILD, "open", ADMIN)
    check = await service.check_output(ALICE, ["a calm text"])
    assert check.kept == [0]
    assert "The openai check was unavailable" in str(check.footer_notes()[0])
    events = await service.history(GUILD)
    assert [(e.action, e.provider) for e in events] == [("allow", "openai"), ("block", "openai")]


async def test_a_provider_whose_categories_only_flag_fails_open(
    service: ModerationService, openai_server: ModerationServer
) -> None:
    """When every OpenAI category is allow or flag, its failure withholds nothing."""
    from bot.moderation.categories import OPENAI_CATEGORIES

    for category in OPENAI_CATEGORIES:
        await service.set_action(GUILD, category, "flag", ADMIN)
    openai_server.mode = "down"
    (verdict,) = (await service.check_output(ALICE, ["a calm text"])).verdicts
    assert verdict.action == "allow" and verdict.unavailable == ()


async def test_automod_rules_apply_with_their_exemptions(service: ModerationService) -> None:
    """A keyword rule blocks for members and channels it covers, not exempt ones."""
    rule = AutoModRule(
        id=1,
        name="No spoilers",
        trigger_type=1,
        keyword_filter=("snape kills*",),
        regex_patterns=(r"ending\s+is",),
        allow_list=("the ending is near",),
        exempt_roles=frozenset({77}),
        exempt_channels=frozenset({99}),
    )
    loads = []

    async def loader(guild_id: int) -> AutoModRules:
        loads.append(guild_id)
        return AutoModRules.build([rule])

    service.automod_loader = loader
    texts = ["Snape killsss Dumbledore", "the ending is here", "the ending is near", "fine"]
    verdicts = (await service.check_output(ALICE, texts)).verdicts
    assert [v.action for v in verdicts] == ["block", "block", "allow", "allow"]
    assert verdicts[0].findings[0].rule == "No spoilers"
    exempt_role = Subject(5, GUILD, CHANNEL, role_ids=frozenset({77}))
    exempt_channel = Subject(5, GUILD, 99)
    for subject in (exempt_role, exempt_channel):
        (verdict,) = (await service.check_output(subject, texts[:1])).verdicts
        assert verdict.action == "allow"
    assert loads == [GUILD]  # read once, then kept
    await service.refresh_automod(GUILD)
    assert loads == [GUILD, GUILD]


async def test_stream_guard_never_shows_a_listed_word(service: ModerationService) -> None:
    """Fed a stream a character at a time, the guard's text never holds any part of a
    listed word, and stops before it."""
    await service.change_words(GUILD, ADMIN, [WordEntry("keyword", "zorblax*")], [])
    guard = StreamGuard(service, ALICE)
    text = ("The old story goes on and on about the harbour and its ships. " * 3) + (
        "Then came Zorblaxian ships, and more words followed for a long while after that. " * 2
    )
    shown = []
    for end in range(1, len(text) + 1):
        guard._checked_at = float("-inf")  # check every step (the interval is about time)
        shown.append(await guard.visible(text[:end]))
    assert all("zor" not in s.lower() for s in shown)
    assert shown[-1] == text[: text.index("Zorblax")].rstrip()
    assert len(shown[-1]) > 100


async def test_test_shows_every_providers_view(
    service: ModerationService,
) -> None:
    """/moderation test's report has the OpenAI and classifier results and list matches."""
    await service.set_action(GUILD, "profanity", "allow", ADMIN)  # still shown by test
    await service.change_words(GUILD, ADMIN, [WordEntry("keyword", "*blax")], [])
    report = await service.test(ALICE, "hateful zorblax, you fucking idiot")
    assert set(report.results) == {"openai", "classifier"}
    assert report.results["openai"].found == ("hate",)  # type: ignore[union-attr]
    assert report.results["classifier"].found == ("profanity",)  # type: ignore[union-attr]
    assert report.wordlist == ["blax"]
    assert report.verdict.action == "block" and report.verdict.category == "wordlist"


def test_hold_back_keeps_the_newest_characters() -> None:
    """Nothing of the newest 60 characters is offered; a cut falls on a nearby space, and
    text without spaces (Chinese, one long word) is cut by count."""
    from bot.moderation.service import HOLD_BACK, hold_back

    assert hold_back("short text") == 0
    assert hold_back("x" * 100) == 100 - HOLD_BACK
    assert hold_back("春" * 100) == 100 - HOLD_BACK
    text = "word " * 30  # 150 characters, spaces every 5
    cut = hold_back(text)
    assert text[cut] == " " and 150 - HOLD_BACK - 5 <= cut <= 150 - HOLD_BACK
    far = "a " + "b" * 120
    assert hold_back(far) == len(far) - HOLD_BACK
    # With no list to match, only the word being written waits.
    assert hold_back("the cat sa", 0) == len("the cat")
    assert hold_back("春风送暖", 0) == 4


async def test_stream_guard_without_lists_holds_back_only_the_word_being_written(
    service: ModerationService,
) -> None:
    """No word list or AutoMod rule: the checked text is shown up to the last whole word."""
    guard = StreamGuard(service, ALICE)
    assert await guard.visible("Once upon a time there wa") == "Once upon a time there"


async def test_servers_without_a_policy_share_the_default_and_one_with_words_has_its_own(
    service: ModerationService,
) -> None:
    """The policy cache holds one shared value for every server that set nothing (the
    default), and a value of its own for a server with a word list, which it applies."""
    other = GUILD + 1
    assert await service.policy(GUILD) is DEFAULT_POLICY
    assert await service.policy(other) is DEFAULT_POLICY
    await service.change_words(GUILD, ADMIN, [WordEntry("keyword", "zorblax")], [])
    own = await service.policy(GUILD)
    assert own is not DEFAULT_POLICY
    assert [(hit.start, hit.end) for hit in own.matcher.hits("a zorblax here")] == [(2, 9)]
    assert await service.policy(other) is DEFAULT_POLICY


def test_servers_without_automod_rules_share_one_value() -> None:
    """No rules that apply: the one shared value; a keyword rule: its own, compiled."""
    assert AutoModRules.build([]) is NO_RULES
    rule = AutoModRule(
        id=1, name="words", enabled=True, trigger_type=1, keyword_filter=("zorblax",)
    )
    built = AutoModRules.build([rule])
    assert built is not NO_RULES
    assert [r.name for r, _ in built.hits("a zorblax here")] == ["words"]
