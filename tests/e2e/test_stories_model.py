"""/story on the bundled model: a round is one request per candidate there (n emulated),
with the story's text as the prompt, logprobs for the tie rule and the server's limits;
the candidates are the model's own text, and the chosen one continues the story exactly."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox import FakeDiscord
from bot.stories.tree import path, text_of
from tests.e2e.conftest import RecordingProxy, make_settings
from tests.e2e.story_support import add_members, buttons, story_bot
from tests.e2e.test_stories import OPENING, answer, next_round, start_story, stored_story, until

TIMEOUT = 180.0


async def test_a_round_on_the_real_model(
    fake: FakeDiscord, recorder: RecordingProxy, db_path: Path
) -> None:
    """Two candidates from two requests continuing the opening (max_tokens from the server's
    settings, temperature and seed from the story's preset, logprobs 1); each candidate has
    its mean logprob and seed; the winner is appended as written; a direction is appended to
    the prompt for its round only."""
    add_members(fake)
    settings = make_settings(fake, db_path, recorder.base_url)
    async with story_bot(fake, settings) as run:
        await answer(await fake.slash("settings set", name="max_tokens", value="8", member="admin"))
        tale = await fake.slash(
            "preset create", name="tale", temperature=0.8, seed=7, member="admin"
        )
        await tale.wait_final(TIMEOUT)
        thread = await start_story(fake, candidates=2, preset="tale")
        one = await next_round(fake, thread, 1, "bob")
        sent = recorder.completions()
        assert len(sent) == 2
        assert [b["prompt"] for b in sent] == [OPENING, OPENING]
        assert {(b["max_tokens"], b["logprobs"], b.get("n", 1)) for b in sent} == {(8, 1, 1)}
        assert {b["temperature"] for b in sent} == {0.8}
        assert sorted(b["seed"] for b in sent) == [7, 8]
        assert not any(b.get("stream") or b.get("echo") for b in sent)
        story, nodes = await stored_story(run, thread.id)
        model = [n for n in nodes if n.source == "model"]
        assert len(model) == 2 and all(n.text.strip() for n in model)
        assert all(n.mean_logprob is not None and n.mean_logprob < 0 for n in model)
        assert sorted(n.seed for n in model) == [7, 8]
        assert all(n.params and n.params["max_tokens"] == 8 for n in model)
        for node in model:
            assert node.text.strip()[:40] in one["content"]
        await answer(await fake.click(one, "2", member="carol"))
        await answer(await fake.click(one, "Close", member="mod"))
        await until(lambda: "was chosen" in one["content"], "the winner")
        story, nodes = await stored_story(run, thread.id)
        winner = next(n for n in nodes if n.id == story.head_node_id)
        assert text_of(path(nodes, story.head_node_id)) == OPENING + winner.text

        steered = await fake.slash(
            "story next", direction="a storm arrives", member="dave", channel=thread
        )
        await steered.wait_final(TIMEOUT)
        prompts = [b["prompt"] for b in recorder.completions()[2:]]
        assert prompts == [OPENING + winner.text.rstrip() + "\n\n[a storm arrives]\n\n"] * 2
        two = thread.messages[-1]
        assert (
            two["content"].startswith("**Round 2**")
            and "Direction: a storm arrives" in (two["content"])
        )
        assert "1" in buttons(two)
