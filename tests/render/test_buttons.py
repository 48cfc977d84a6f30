"""Which buttons a completion message carries, as data (no discord.py involved)."""

from __future__ import annotations

from bot.completions import Choice, CompletionRequest, CompletionResult, LogProbs
from bot.render.buttons import (
    ContinueButton,
    PageButton,
    RegenerateButton,
    Style,
    TokenPageButton,
    TokensButton,
    completion_buttons,
    token_buttons,
)
from bot.render.completion import completion_messages, token_message
from bot.services.generation import Candidate, Display, GenerationOutcome, Requester


def outcome(texts: list[str], *, gid: int | None = 7, finish: str = "stop") -> GenerationOutcome:
    logprobs = LogProbs(
        tokens=[f" t{i}" for i in range(40)],
        token_logprobs=[-0.5] * 40,
        top_logprobs=[{f" t{i}": -0.5, " x": -1.5} for i in range(40)],
        text_offset=list(range(40)),
    )
    choices = [Choice(index=i, text=t, finish_reason=finish) for i, t in enumerate(texts)]
    return GenerationOutcome(
        generation_id=gid,
        request=CompletionRequest.build(prompt="p", n=len(texts)),
        result=CompletionResult(id="c", created=0, model="m", choices=choices),
        candidates=[
            Candidate(index=i, text=t, finish_reason=finish, logprobs=logprobs)
            for i, t in enumerate(texts)
        ],
        requester=Requester(user_id=1),
        display=Display(),
        clean_mode="preserve",
    )


def test_one_candidate_cut_by_length_offers_regenerate_continue_and_tokens() -> None:
    """A single candidate that hit max_tokens gets Regenerate, Continue and Tokens, no paging."""
    buttons = completion_buttons(7, 0, 1, can_continue=True, has_tokens=True)
    assert buttons == (RegenerateButton(7), ContinueButton(7, 0), TokensButton(7, 0))
    assert [(str(b.label), b.style) for b in buttons] == [
        ("Regenerate", Style.PRIMARY),
        ("Continue", Style.SUCCESS),
        ("Tokens", Style.SECONDARY),
    ]


def test_paging_buttons_point_at_the_neighbours_and_are_disabled_at_the_ends() -> None:
    """Prev/Next carry the candidate they show; the first has Prev disabled, the last Next."""
    first = completion_buttons(7, 0, 3, can_continue=False, has_tokens=False)
    assert first[:2] == (
        PageButton("prev", 7, 0, disabled=True),
        PageButton("next", 7, 1, disabled=False),
    )
    middle = completion_buttons(7, 1, 3, can_continue=False, has_tokens=False)
    assert middle[:2] == (PageButton("prev", 7, 0), PageButton("next", 7, 2))
    last = completion_buttons(7, 2, 3, can_continue=False, has_tokens=False)
    assert last[:2] == (PageButton("prev", 7, 1), PageButton("next", 7, 2, disabled=True))
    assert [str(b.label) for b in last] == ["◀ Prev", "Next ▶", "Regenerate"]


def test_an_unsaved_generation_has_no_buttons() -> None:
    """Without a stored id no button could find the generation again, so there are none."""
    assert completion_buttons(None, 0, 2, can_continue=True, has_tokens=True) == ()
    assert token_buttons(None, 0, 0, 3) == ()


def test_token_pages_get_earlier_and_later_only_when_there_are_several() -> None:
    """Earlier/Later appear for two or more pages and carry the page each click shows."""
    assert token_buttons(7, 1, 0, 1) == ()
    assert token_buttons(7, 1, 1, 3) == (
        TokenPageButton("prev", 7, 1, 0),
        TokenPageButton("next", 7, 1, 2),
    )
    assert [str(b.label) for b in token_buttons(7, 1, 2, 3)] == ["◀ Earlier", "Later ▶"]
    assert token_buttons(7, 1, 2, 3)[1].disabled


def test_completion_messages_put_the_buttons_on_the_last_message() -> None:
    """A reply split into several messages carries its buttons on the last one only."""
    long_text = "\n\n".join(f"Paragraph {i}: " + "word " * 60 for i in range(12))
    plans = completion_messages(outcome([long_text], finish="length"))
    assert len(plans) > 1
    assert all(plan.buttons == () for plan in plans[:-1])
    assert plans[-1].buttons == (RegenerateButton(7), ContinueButton(7, 0), TokensButton(7, 0))


def test_candidate_k_is_shown_with_its_own_paging_buttons() -> None:
    """Showing candidate 2 of 2 renders its text and points Prev back at candidate 1."""
    plan = completion_messages(outcome(["first", "second"]), 1)[-1]
    assert plan.content.startswith("second")
    assert plan.buttons[:2] == (PageButton("prev", 7, 0), PageButton("next", 7, 1, disabled=True))


def test_token_message_pages_carry_earlier_and_later() -> None:
    """A token view longer than one page gets Earlier/Later pointing at the next page."""
    plan = token_message(outcome(["text"]), 0, 0)
    assert plan.buttons == (
        TokenPageButton("prev", 7, 0, 0, disabled=True),
        TokenPageButton("next", 7, 0, 1),
    )
