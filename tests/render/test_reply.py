"""Laying out a completion: body, footer, pieces and the attached file."""

from __future__ import annotations

from bot.render.reply import (
    EMPTY_COMPLETION,
    FooterInfo,
    compose_body,
    footer_text,
    layout_reply,
)
from bot.render.text import ulen


def test_footer_shows_model_tokens_finish_reason_and_time() -> None:
    """The footer is Discord subtext with model · tokens · finish reason · seconds."""
    footer = footer_text(
        FooterInfo(model="gemma-3-270m", completion_tokens=48, finish_reason="length", elapsed=1.23)
    )
    assert footer == "-# gemma-3-270m · 48 tokens · length · 1.2 s"


def test_footer_lists_notes_and_candidate_rank() -> None:
    """Clamps and warnings become their own subtext lines; candidates show k/n, rank, logprob."""
    footer = footer_text(
        FooterInfo(
            model="m",
            completion_tokens=1,
            candidate=(2, 3),
            rank=1,
            mean_logprob=-0.8412,
            notes=["max_tokens 900 was lowered to the server limit of 512.", "n is emulated."],
        )
    )
    lines = footer.split("\n")
    assert lines[0] == "-# candidate 2/3 · rank 1 · mean logprob -0.84 · m · 1 token"
    assert lines[1] == "-# max_tokens 900 was lowered to the server limit of 512."
    assert lines[2] == "-# n is emulated."


def test_footer_caps_the_number_of_notes() -> None:
    """Twenty notes become five lines plus one summary line."""
    footer = footer_text(FooterInfo(notes=[f"note {i}" for i in range(20)]))
    assert footer.split("\n")[-1] == "-# …and 15 more notes."
    assert len(footer.split("\n")) == 6


def test_echo_quotes_the_prompt_before_the_completion() -> None:
    """With echo the prompt is a quote block, then a blank line, then the completion."""
    body = compose_body(" and the rest.", prompt="First line\nsecond line")
    assert body == "> First line\n> second line\n\n and the rest."


def test_empty_completion_is_said_not_sent_empty() -> None:
    """An empty completion is shown as a note, never as an empty message."""
    assert compose_body("  \n") == str(EMPTY_COMPLETION)


def test_short_reply_is_one_message_with_footer() -> None:
    """A short completion is one message: the text, then the footer line."""
    layout = layout_reply("Hello there.", "-# m · 3 tokens")
    assert layout.contents == ["Hello there.\n-# m · 3 tokens"]
    assert layout.attachment is None


def test_3000_characters_arrive_whole_in_two_messages() -> None:
    """A 3,000-character completion is two messages, the footer in the last, nothing lost."""
    text = "\n".join(f"{i:03d} " + "lorem ipsum " * 5 for i in range(46))
    assert 2900 < len(text) < 3100
    layout = layout_reply(text, "-# footer")
    assert layout.attachment is None
    assert len(layout.contents) == 2
    assert all(ulen(c) <= 2000 for c in layout.contents)
    assert layout.contents[-1].endswith("\n-# footer")
    joined = "\n".join(layout.contents).removesuffix("\n-# footer")
    assert joined.split() == text.split()


def test_past_three_messages_the_whole_text_is_attached() -> None:
    """Text needing more than three messages becomes one preview message and a .txt file."""
    text = "\n\n".join(f"Paragraph {i}: " + "text " * 80 for i in range(30))
    assert len(text) > 6000
    layout = layout_reply(text, "-# footer", file_text="PROMPT" + text)
    assert len(layout.contents) == 1
    content = layout.contents[0]
    assert ulen(content) <= 2000
    assert content.startswith("Paragraph 0: ")
    assert "is in the attached file" in content
    assert content.endswith("-# footer")
    assert layout.attachment == ("completion.txt", "PROMPT" + text)


def test_footer_that_does_not_fit_goes_to_its_own_message() -> None:
    """When the last piece is full the footer still arrives, as its own message."""
    text = "a" * 1999
    layout = layout_reply(text, "-# footer")
    assert layout.contents == ["a" * 1999, "-# footer"]
