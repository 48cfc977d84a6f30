"""`couplet complete` as a subprocess, against the real local model."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.completions.fault_server import FaultServer, closed_port

REPO = Path(__file__).resolve().parents[2]


def couplet(
    args: list[str], base_url: str, cwd: Path, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Run `couplet ARGS` with only COMPLETIONS_BASE_URL (and `settings`) configured."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COMPLETIONS_", "OPENAI_", "DISCORD_", "DATABASE_"))
    }
    env["COMPLETIONS_BASE_URL"] = base_url
    env.update(settings)
    env["PYTHONPATH"] = str(REPO)
    script = Path(sys.executable).with_name("couplet")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
    )
    # cwd is a temporary directory so a developer's .env cannot leak in.
    return subprocess.run(
        [*command, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_json_output(local_model_url: str, tmp_path: Path) -> None:
    """--json prints the normalised response object and exits 0."""
    proc = couplet(
        [
            "complete",
            "--prompt",
            "Monday, Tuesday,",
            "--max-tokens",
            "4",
            "--temperature",
            "0",
            "--json",
        ],
        local_model_url,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["object"] == "text_completion"
    assert data["backend"] == "llama-cpp-python"
    assert data["choices"][0]["text"]
    assert 1 <= data["usage"]["completion_tokens"] <= 4


def test_text_output_separates_choices(local_model_url: str, tmp_path: Path) -> None:
    """Without --json each choice's cleaned text is printed under its own header."""
    proc = couplet(
        [
            "complete",
            "--prompt",
            "Once upon a time",
            "--max-tokens",
            "4",
            "--n",
            "2",
            "--seed",
            "5",
        ],
        local_model_url,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--- choice 1 of 2 ---" in proc.stdout
    assert "--- choice 2 of 2 ---" in proc.stdout
    assert "emulated by Couplet: n" in proc.stderr


def test_stream_with_stop(local_model_url: str, tmp_path: Path) -> None:
    """--stream prints the text as it arrives and honours --stop."""
    args = ["complete", "--prompt", "Monday, Tuesday, Wednesday,", "--max-tokens", "10"]
    args += ["--temperature", "0"]
    # Same prompt-cache state for both runs (see tests/completions/test_local_backend.py::warm).
    couplet([*args[:3], "--max-tokens", "2", "--temperature", "0"], local_model_url, tmp_path)
    whole = couplet([*args, "--json"], local_model_url, tmp_path)
    text = json.loads(whole.stdout)["choices"][0]["text"]
    stop = text[8:12]
    proc = couplet([*args, "--stream", "--stop", stop], local_model_url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == text[: text.find(stop)].rstrip() + "\n"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--temperature", "3.5"], "temperature 3.5 is out of range: use a number from 0 to 2."),
        (["--n", "many"], "n 'many' is not a whole number: use a whole number from 1 to 128."),
        (["--logit-bias", "hello"], "logit_bias part 'hello' is not word=bias"),
        (["--stop", "a|b|c|d|e"], "stop has 5 sequences: use 1 to 4."),
        (["--best-of", "1", "--n", "2"], "best_of 1 is less than n 2"),
    ],
)
def test_bad_value_exits_2(tmp_path: Path, flags: list[str], message: str) -> None:
    """A bad value prints the request model's sentence and exits 2 without calling a backend."""
    proc = couplet(
        ["complete", "--prompt", "hi", *flags], f"http://127.0.0.1:{closed_port()}/v1", tmp_path
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_refused_parameter_exits_2(local_model_url: str, tmp_path: Path) -> None:
    """A parameter the backend cannot honour is refused with its reason and exit code 2."""
    proc = couplet(["complete", "--prompt", "hi", "--suffix", "end"], local_model_url, tmp_path)
    assert proc.returncode == 2
    assert "suffix is not available on llama-cpp-python" in proc.stderr


def test_unreachable_backend_exits_1(tmp_path: Path) -> None:
    """A backend that cannot be reached gives its message and exit code 1."""
    proc = couplet(["complete", "--prompt", "hi"], f"http://127.0.0.1:{closed_port()}/v1", tmp_path)
    assert proc.returncode == 1
    assert "could not be reached" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_every_flag_reaches_the_backend(fault: FaultServer, tmp_path: Path) -> None:
    """Each API flag arrives in the request body with its value (OpenAI profile: all native)."""
    flags = [
        "complete", "--prompt", "Tab\there", "--suffix", "END", "--max-tokens", "7",
        "--temperature", "0.5", "--top-p", "0.25", "--n", "2", "--best-of", "3",
        "--stop", "x|y", "--stop", "z", "--echo", "--logprobs", "2",
        "--presence-penalty", "0.5", "--frequency-penalty", "-1", "--logit-bias", '{"42": -7}',
        "--seed", "7", "--model", "fault-model", "--clean", "seed",
    ]  # fmt: skip
    proc = await asyncio.to_thread(
        couplet, flags, fault.base_url, tmp_path, COMPLETIONS_BACKEND="openai"
    )
    assert proc.returncode == 0, proc.stderr
    [seen] = fault.requests()
    body = seen.body
    assert body["prompt"] == "Tab\there"
    expected = {
        "suffix": "END",
        "max_tokens": 7,
        "temperature": 0.5,
        "top_p": 0.25,
        "n": 2,
        "best_of": 3,
        "stop": ["x", "y", "z"],
        "logprobs": 2,
        "presence_penalty": 0.5,
        "frequency_penalty": -1.0,
        "logit_bias": {"42": -7},
        "seed": 7,
        "model": "fault-model",
    }
    assert {k: body.get(k) for k in expected} == expected
    # With best_of, echo is added by Couplet (after ranking), so the server is not asked to.
    assert "echo" not in body
    assert "emulated by Couplet: echo" in proc.stderr
    # --clean seed: the echoed tab becomes a space and each choice is one line.
    assert "Tab here sample 7.0" in proc.stdout.splitlines()
    assert "Tab here sample 7.1" in proc.stdout.splitlines()


async def test_stream_flag_streams_from_the_backend(fault: FaultServer, tmp_path: Path) -> None:
    """--stream sends stream true and prints the streamed pieces as one text."""
    proc = await asyncio.to_thread(
        couplet,
        ["complete", "--prompt", "Hi", "--stream", "--max-tokens", "3"],
        fault.base_url,
        tmp_path,
        COMPLETIONS_BACKEND="vllm",
    )
    assert proc.returncode == 0, proc.stderr
    assert fault.requests()[0].body["stream"] is True
    assert proc.stdout == " sample text\n"


@pytest.mark.parametrize("mode", ["api", "server"])
async def test_sampling_flag_chooses_whose_samplers_apply(
    fault: FaultServer, tmp_path: Path, mode: str
) -> None:
    """--sampling api (the default) sends llama.cpp's samplers switched off; server does not,
    and says so."""
    flags = ["complete", "--prompt", "Hi"] + (["--sampling", mode] if mode == "server" else [])
    proc = await asyncio.to_thread(
        couplet, flags, fault.base_url, tmp_path, COMPLETIONS_BACKEND="llamacpp"
    )
    assert proc.returncode == 0, proc.stderr
    body = fault.requests()[0].body
    if mode == "api":
        assert (body["top_k"], body["min_p"]) == (0, 0.0)
        assert "sampling is server" not in proc.stderr
    else:
        assert "top_k" not in body and "min_p" not in body
        assert "warning: sampling is server: llamacpp's own samplers apply as well" in proc.stderr
