"""A generation outcome as Discord messages: text, footer, file and buttons (as data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.i18n import _, render
from bot.render.buttons import Button, completion_buttons, token_buttons
from bot.render.logprobs import rows_from_logprobs, token_pages
from bot.render.reply import (
    MAX_MESSAGES,
    FooterInfo,
    compose_body,
    footer_text,
    layout_reply,
)
from bot.render.text import MESSAGE_LIMIT, cut_units, ulen

if TYPE_CHECKING:
    from bot.services.generation import Candidate, GenerationOutcome

STREAM_CURSOR = " ▌"


@dataclass
class MessagePlan:
    """One message to send or edit: its text, its buttons and an optional text file."""

    content: str
    buttons: tuple[Button, ...] = ()
    attachment: tuple[str, str] | None = None  # (filename, text)


def can_continue(outcome: GenerationOutcome, candidate: Candidate) -> bool:
    """Offer Continue when the text was cut by max_tokens (or, streamed, when unknown)."""
    if candidate.finish_reason == "length":
        return True
    return outcome.streamed and candidate.finish_reason is None


def candidate_footer(outcome: GenerationOutcome, k: int, locale: str | None = None) -> str:
    """The footer for candidate k: k/n, rank, model, tokens, finish reason, time, notes."""
    candidate = outcome.candidates[k]
    n = len(outcome.candidates)
    tokens = outcome.result.usage.completion_tokens or None
    return footer_text(
        FooterInfo(
            model=outcome.result.model or outcome.request.model,
            completion_tokens=tokens,
            tokens_in_all=n > 1,
            finish_reason=candidate.finish_reason,
            elapsed=outcome.elapsed,
            candidate=(k + 1, n) if n > 1 else None,
            rank=candidate.rank,
            mean_logprob=candidate.mean_logprob,
            notes=outcome.footer_notes(),
        ),
        locale,
    )


def completion_messages(
    outcome: GenerationOutcome, k: int = 0, locale: str | None = None
) -> list[MessagePlan]:
    """Messages showing candidate k: up to three for one candidate, one page for several.

    Buttons go on the last message; past the limit the whole text is attached. Footer
    and notes are in `locale` (the buttons' labels are rendered with the view).
    """
    n = len(outcome.candidates)
    k = min(max(k, 0), n - 1)
    candidate = outcome.candidates[k]
    prompt = outcome.shown_prompt
    body = compose_body(candidate.text, prompt=prompt, locale=locale)
    full_text = (prompt or "") + candidate.text
    layout = layout_reply(
        body,
        candidate_footer(outcome, k, locale),
        file_text=full_text,
        filename=f"completion-{k + 1}.txt" if n > 1 else "completion.txt",
        max_messages=MAX_MESSAGES if n == 1 else 1,
        locale=locale,
    )
    has_tokens = bool(candidate.logprobs and candidate.logprobs.tokens)
    plans = [MessagePlan(content) for content in layout.contents]
    plans[-1].buttons = completion_buttons(
        outcome.generation_id,
        k,
        n,
        can_continue=can_continue(outcome, candidate),
        has_tokens=has_tokens,
    )
    plans[-1].attachment = layout.attachment
    return plans


def streaming_content(text: str, limit: int = MESSAGE_LIMIT, locale: str | None = None) -> str:
    """What a message shows while text streams in: the text so far and a cursor."""
    if not text.strip():
        return "…"
    if ulen(text) + ulen(STREAM_CURSOR) <= limit:
        return text + STREAM_CURSOR
    still = _("…still writing; the whole text follows when it is done.")
    note = "\n-# " + render(still, locale)
    return cut_units(text, limit - ulen(note)) + note


def token_message(
    outcome: GenerationOutcome, k: int, page: int, locale: str | None = None
) -> MessagePlan:
    """Page `page` of the token view of candidate k, with Earlier/Later buttons."""
    candidate = outcome.candidates[min(max(k, 0), len(outcome.candidates) - 1)]
    logprobs = candidate.logprobs
    rows = (
        rows_from_logprobs(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs)
        if logprobs
        else []
    )
    pages = token_pages(rows, locale=locale)
    page = min(max(page, 0), len(pages) - 1)
    return MessagePlan(pages[page], token_buttons(outcome.generation_id, k, page, len(pages)))
