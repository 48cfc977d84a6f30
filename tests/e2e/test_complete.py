"""/complete end to end: emulator + real bot + real local model (through a recording proxy);
the seed's two examples on a stub backend whose text the cleaner must change."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from bot.app import GC_YOUNG_THRESHOLD
from bot.sandbox import FakeDiscord, OptionError
from tests.e2e.conftest import MODEL, RecordingProxy, body_and_footer, couplet_on_stub, labels
from tests.support.discord_env import BotRun

WAIT = 120.0  # generous: the one model server is shared with other tests on 2 cores


# The seed's two examples, answered by a stub backend with text the cleaner must
# change (the real model rarely writes control characters on demand). The
# expected strings are written out by the preserve rule: control characters
# other than newline and tab go, \r\n becomes \n, trailing spaces go, and
# three or more blank lines become one.
DIRTY_COUPLET = "上联：\t春风送暖入屋来\x01  \r\n\n\n\n下联：瑞雪迎春到福门\x1f \x7f"
CLEAN_COUPLET = "上联：\t春风送暖入屋来\n\n下联：瑞雪迎春到福门"

DIRTY_INTRODUCTION = (
    "\n\n大家好，我叫小明。\x1b[0m  \r\n"
    "我喜欢读书\x00和跑步。\t \n"
    "\n \n\t\n\n\n"
    "  谢谢大家！\x08\r\n"
)
CLEAN_INTRODUCTION = "大家好，我叫小明。[0m\n我喜欢读书和跑步。\n\n  谢谢大家！"


async def test_couplet_prompt_answers_with_cleaned_text(fake: FakeDiscord, db_path: Path) -> None:
    """The seed's `/complete prompt:请随机生成一副对联` answers publicly with the text cleaned."""
    async with couplet_on_stub(fake, db_path, DIRTY_COUPLET) as stubbed:
        rec = await fake.slash("complete", prompt="请随机生成一副对联", max_tokens=24)
        message = await rec.wait_final(WAIT)
    sent = stubbed.backend.requests[-1]
    assert sent["prompt"] == "请随机生成一副对联"
    assert sent["max_tokens"] == 24
    assert not rec.ephemeral
    text, footer = body_and_footer(message["content"])
    assert text == CLEAN_COUPLET
    assert footer[0].startswith("stub-model · 7 tokens · stop · ")
    assert "Regenerate" in labels(message)


async def test_self_introduction_with_top_p_answers_in_full(
    fake: FakeDiscord, db_path: Path
) -> None:
    """`prompt:帮我随机生成一篇自我介绍 max_tokens:200 top_p:0.9` sends both, shows clean text."""
    async with couplet_on_stub(fake, db_path, DIRTY_INTRODUCTION) as stubbed:
        rec = await fake.slash(
            "complete", prompt="帮我随机生成一篇自我介绍", max_tokens=200, top_p=0.9
        )
        await rec.wait_final(WAIT)
    sent = stubbed.backend.requests[-1]
    assert sent["prompt"] == "帮我随机生成一篇自我介绍"
    assert sent["max_tokens"] == 200
    assert sent["top_p"] == 0.9
    text, footer = body_and_footer("\n".join(m["content"] for m in rec.messages))
    assert text == CLEAN_INTRODUCTION
    assert footer[0].startswith("stub-model · 7 tokens · stop · ")


async def test_every_native_option_reaches_the_backend(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """Each option the backend takes natively arrives in the request body with its value."""
    rec = await fake.slash(
        "complete",
        prompt="List three colours:",
        max_tokens=5,
        temperature=0.7,
        top_p=0.8,
        stop=r"\n\n|END",
        echo=True,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias='{"1234": -100, "99": 5}',
        seed=42,
        model=MODEL,
    )
    message = await rec.wait_final(WAIT)
    sent = recorder.completions()[-1]
    assert sent["prompt"] == "List three colours:"
    assert sent["max_tokens"] == 5
    assert sent["temperature"] == 0.7
    assert sent["top_p"] == 0.8
    assert sent["stop"] == ["\n\n", "END"]
    assert sent["echo"] is True
    assert sent["presence_penalty"] == 0.5
    assert sent["frequency_penalty"] == -0.5
    assert sent["logit_bias"] == {"1234": -100, "99": 5}
    assert sent["seed"] == 42
    assert sent["model"] == MODEL
    # echo: the prompt is shown first, as a quote.
    assert message["content"].startswith("> List three colours:")


async def test_logit_bias_words_are_tokenized_by_the_backend(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """`logit_bias:Paris=-100` reaches the backend as token ids from its tokenizer."""
    rec = await fake.slash(
        "complete", prompt="The capital of France is", max_tokens=3, logit_bias="Paris=-100"
    )
    await rec.wait_final(WAIT)
    sent = recorder.completions()[-1]
    assert sent["logit_bias"]
    assert all(value == -100 for value in sent["logit_bias"].values())
    assert all(key.isdigit() for key in sent["logit_bias"])
    assert any(path.endswith("/tokenize") for path, _ in recorder.requests)


async def test_n_and_best_of_are_emulated_and_said_so(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """n:2 best_of:3 on llama-cpp-python makes three requests; the footer says it was emulated."""
    before = len(recorder.completions())
    rec = await fake.slash("complete", prompt="Hi", max_tokens=2, n=2, best_of=3)
    message = await rec.wait_final(WAIT)
    assert len(recorder.completions()) - before == 3
    _, footer = body_and_footer(message["content"])
    assert footer[0].startswith("candidate 1/2 · rank 1 · mean logprob ")
    assert any(line.startswith("Emulated by Couplet") and "best_of" in line for line in footer)
    assert labels(message)[:2] == ["◀ Prev", "Next ▶"]


async def test_suffix_is_refused_on_this_backend_with_a_reason(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """suffix on llama-cpp-python gets one ephemeral sentence naming suffix; nothing is sent."""
    before = len(recorder.completions())
    rec = await fake.slash("complete", prompt="def f(", suffix="return x", max_tokens=4)
    message = await rec.wait_final(WAIT)
    assert int(message.get("flags") or 0) & 64
    assert message["content"].startswith("suffix is not available on llama-cpp-python:")
    assert len(recorder.completions()) == before
    # The public "thinking…" message was removed, not left behind in the channel.
    assert rec.original is None


async def test_private_reply_is_ephemeral(fake: FakeDiscord, couplet: BotRun) -> None:
    """private:true answers with an ephemeral message."""
    rec = await fake.slash("complete", prompt="Hello", max_tokens=3, private=True)
    await rec.wait_final(WAIT)
    assert rec.ephemeral


async def test_missing_prompt_opens_a_modal_and_answers_after_submit(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """/complete without prompt opens a paragraph modal; submitting it runs the same flow."""
    rec = await fake.slash("complete", max_tokens=3, temperature=0)
    modal = await rec.wait_modal(10)
    assert modal["title"] == "Prompt for /complete"
    submitted = await fake.submit_modal(rec, {"Prompt": "Line one\nLine two"})
    message = await submitted.wait_final(WAIT)
    sent = recorder.completions()[-1]
    assert sent["prompt"] == "Line one\nLine two"
    assert sent["temperature"] == 0
    assert message["content"].strip()


async def test_stream_fills_the_message_then_finishes(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """stream:true sends stream to the backend and ends with the full text, footer and buttons."""
    rec = await fake.slash(
        "complete", prompt="Count: 1, 2, 3,", max_tokens=24, stream=True, temperature=0
    )
    message = await rec.wait_final(WAIT)
    await rec.wait_for(lambda r: "Regenerate" in labels(r.original or {}), WAIT)
    message = rec.original
    assert message is not None
    assert recorder.completions()[-1]["stream"] is True
    text, footer = body_and_footer(message["content"])
    assert text.strip() and "▌" not in text
    assert footer and "stream" not in footer[0]
    assert footer[0].startswith(f"{MODEL} · ")  # the default model, though none was asked for
    # Before the end the message showed partial text with a cursor.
    partial = [h.message["content"] for h in rec.history if h.action == "edit"]
    assert any(content.endswith("▌") for content in partial)


async def test_out_of_range_numbers_are_refused_by_discord(
    fake: FakeDiscord, couplet: BotRun
) -> None:
    """The command carries the API's ranges, so Discord itself refuses e.g. temperature 3."""
    definition = next(c for c in fake.commands() if c["name"] == "complete")
    ranges = {o["name"]: (o.get("min_value"), o.get("max_value")) for o in definition["options"]}
    assert ranges["temperature"] == (0, 2)
    assert ranges["top_p"] == (0, 1)
    assert ranges["n"] == (1, 128)
    assert ranges["best_of"] == (1, 20)
    assert ranges["presence_penalty"] == (-2, 2)
    assert ranges["frequency_penalty"] == (-2, 2)
    assert ranges["logprobs"] == (0, 20)
    assert ranges["max_tokens"] == (0, 65536)
    assert ranges["seed"] == (0, 2**32 - 2)
    with pytest.raises(OptionError):
        await fake.slash("complete", prompt="x", temperature=3.5)
    assert all(len(o["description"]) <= 100 for o in definition["options"])


async def test_model_autocomplete_lists_the_backends_models(
    fake: FakeDiscord, couplet: BotRun
) -> None:
    """Typing in model offers the models the backend lists."""
    choices = await fake.autocomplete("complete", focused="model", value="gem")
    assert [c["value"] for c in choices] == [MODEL]


async def test_models_command_lists_models(fake: FakeDiscord, couplet: BotRun) -> None:
    """/models answers ephemerally with the backend's model."""
    rec = await fake.slash("models")
    message = await rec.wait_final(WAIT)
    assert rec.ephemeral
    assert f"`{MODEL}`" in message["content"]


async def test_context_menu_continues_a_message(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """ "Continue with Couplet" on a message sends its text as the prompt."""
    # The menu has no options: a short server default keeps the real model quick.
    await couplet.bot.server_settings.set(fake.guild.id, "max_tokens", "8", 1)
    posted = await fake.post_message("general", "alice", "The quick brown fox")
    rec = await fake.context_menu("Continue with Couplet", posted, member="alice")
    message = await rec.wait_final(WAIT)
    assert recorder.completions()[-1]["prompt"] == "The quick brown fox"
    assert recorder.completions()[-1]["max_tokens"] == 8
    assert message["content"].strip()


async def test_start_up_freezes_what_it_made_and_collects_young_objects_less_often(
    fake: FakeDiscord, db_path: Path
) -> None:
    """Once started, what start-up made is frozen (full collections do not walk it) and
    the youngest generation is collected every GC_YOUNG_THRESHOLD new objects, not
    Python's 700."""
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, *before[1:])
    try:
        async with couplet_on_stub(fake, db_path):
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.set_threshold(*before)
