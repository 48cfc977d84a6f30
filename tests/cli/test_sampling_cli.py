"""`couplet sampling` as a subprocess, against the real local model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

from tests.cli.test_complete_cli import couplet
from tests.completions.fault_server import closed_port

PROMPT = "Monday, Tuesday, Wednesday,"


def test_json_and_png(local_model_url: str, tmp_path: Path) -> None:
    """--json prints the numbers (adding up to 1 with "other"); --png writes a real PNG."""
    png = tmp_path / "chart.png"
    proc = couplet(
        [
            "sampling",
            "--prompt",
            PROMPT,
            "--temperature",
            "0.5",
            "--top-p",
            "0.9",
            "--json",
            "--png",
            str(png),
        ],
        local_model_url,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["temperature"], data["top_p"], data["backend"]) == (0.5, 0.9, "llama-cpp-python")
    assert data["top_p_before_temperature"] is True
    tokens = data["tokens"]
    assert len(tokens) == 5
    assert tokens[0]["token"] == " Thursday"
    for key in ("probability", "at_temperature"):
        total = sum(t[key] for t in tokens) + data["other"][key]
        assert total == pytest.approx(1.0)
    assert tokens[0]["probability"] == pytest.approx(math.exp(tokens[0]["logprob"]))
    assert tokens[0]["at_temperature"] > tokens[0]["probability"]  # 0.5 sharpens
    image = Image.open(png)
    assert image.format == "PNG" and image.width >= 600
    assert f"chart written to {png}" in proc.stderr


def test_text_output_is_the_caption_and_the_table(local_model_url: str, tmp_path: Path) -> None:
    """Without --json the caption and the table are printed, tokens quoted."""
    proc = couplet(
        ["sampling", "--prompt", PROMPT, "--temperature", "0", "--top-p", "0.3"],
        local_model_url,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('top_p 0.3 keeps 1 token: " Thursday"; at temperature 0 the')
    assert lines[1].split() == ["token", "T=1", "T=0", "top_p"]
    assert lines[2].startswith('" Thursday"') and lines[2].split()[-2:] == ["100%", "kept"]
    assert "```" not in proc.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--temperature", "2.5"], "temperature 2.5 is out of range: use a number from 0 to 2."),
        (["--top-p", "much"], "top_p 'much' is not a number: use a number from 0 to 1."),
    ],
)
def test_bad_value_exits_2(tmp_path: Path, flags: list[str], message: str) -> None:
    """A bad value gets /sampling's sentence and exit 2, before any backend is asked."""
    url = f"http://127.0.0.1:{closed_port()}/v1"
    proc = couplet(["sampling", "--prompt", "hi", *flags], url, tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_backend_without_logprobs_exits_1(tmp_path: Path) -> None:
    """On a backend that gives no logprobs one sentence says why, exit 1."""
    url = f"http://127.0.0.1:{closed_port()}/v1"
    proc = couplet(["sampling", "--prompt", "hi"], url, tmp_path, COMPLETIONS_BACKEND="ollama")
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(
        "/sampling needs the next token's probabilities, which this backend can't give: "
        "Ollama's /v1/completions returns no logprobs."
    )
