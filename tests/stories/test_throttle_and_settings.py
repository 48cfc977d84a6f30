"""The edit throttle keeps one message within its budget and always ends current; the
story settings parse roles and durations or answer with one sentence."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from bot.errors import ParameterError
from bot.stories.settings import (
    Member,
    StorySettings,
    is_moderator,
    may_start,
    parse_idle_minutes,
    parse_role,
)
from bot.stories.throttle import EditThrottle


async def test_a_burst_of_edits_is_spaced_and_ends_with_the_latest() -> None:
    """Forty requests for one message: few edits, spaced by the interval, the last one
    the latest asked for; another message is not held up by the first."""
    throttle = EditThrottle(interval=0.05)
    ran: list[tuple[str, int, float]] = []

    def edit(key: str, n: int):  # type: ignore[no-untyped-def]
        async def run() -> None:
            ran.append((key, n, time.monotonic()))

        return run

    for n in range(40):
        throttle.request("round", edit("round", n))
        if n % 10 == 0:
            await asyncio.sleep(0.02)
    throttle.request("other", edit("other", 0))
    await throttle.drain()
    mine = [(n, at) for key, n, at in ran if key == "round"]
    assert mine[-1][0] == 39
    assert len(mine) < 10
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(mine)]
    assert all(gap >= 0.05 - 1e-3 for gap in gaps), gaps
    assert ("other", 0) in [(k, n) for k, n, _ in ran]


async def test_a_failing_edit_is_logged_and_the_next_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An edit that raises does not stop the edits after it."""
    throttle = EditThrottle(interval=0.01)
    done: list[int] = []

    async def broken() -> None:
        raise RuntimeError("gone")

    async def fine() -> None:
        done.append(1)

    throttle.request("m", broken)
    await throttle.drain()
    throttle.request("m", fine)
    await throttle.drain()
    assert done == [1]
    assert "throttled edit" in caplog.text


@pytest.mark.parametrize(("raw", "role"), [("<@&123456789>", 123456789), (" 42 ", 42)])
def test_roles_are_mentions_or_ids(raw: str, role: int) -> None:
    """A role mention (what Discord sends for @Role) or an id."""
    assert parse_role("story_moderator_role")(raw, None) == role


def test_a_bad_role_names_the_setting() -> None:
    """Anything else is one sentence naming the setting and the value."""
    with pytest.raises(ParameterError) as bad:
        parse_role("story_starter_role")("moderators", None)
    assert "story_starter_role 'moderators' is not a role" in str(bad.value)


@pytest.mark.parametrize(
    ("raw", "minutes"), [("90", 90), ("90m", 90), ("12h", 720), ("2 days", 2880), ("5", 5)]
)
def test_idle_time_takes_units(raw: str, minutes: int) -> None:
    assert parse_idle_minutes(raw, None) == minutes


@pytest.mark.parametrize("raw", ["4", "31d", "soon", "-3"])
def test_idle_time_out_of_range_or_unreadable(raw: str) -> None:
    with pytest.raises(ParameterError) as bad:
        parse_idle_minutes(raw, None)
    assert "story_idle_minutes" in str(bad.value) and "5 minutes to 30 days" in str(bad.value)


def test_who_may_start_and_moderate() -> None:
    """Unset: anyone starts, Manage Messages moderates; set: the role (Manage Server always)."""
    alice = Member(1, 10, 20, role_ids=(7,))
    mod = Member(2, 10, 20, manages_messages=True)
    admin = Member(3, 10, 20, manages_server=True)
    default = StorySettings()
    assert may_start(alice, default) and not is_moderator(alice, default)
    assert is_moderator(mod, default)
    strict = StorySettings(starter_role=8, moderator_role=7)
    assert not may_start(alice, strict) and may_start(admin, strict)
    assert is_moderator(alice, strict) and not is_moderator(mod, strict)
    assert is_moderator(admin, strict)
