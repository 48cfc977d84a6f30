"""`couplet run` and `couplet sandbox` refuse a bad setting with one sentence."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import run, sandbox


@pytest.mark.parametrize("handle", [run.handle, sandbox.handle], ids=["run", "sandbox"])
def test_bad_setting_is_named_and_exits_2(
    handle: Callable[[argparse.Namespace], int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad COMPLETIONS_BACKEND exits 2 with a sentence naming the setting."""
    monkeypatch.chdir(tmp_path)  # no .env from the work tree
    monkeypatch.setenv("COMPLETIONS_BACKEND", "bogus")
    args = argparse.Namespace(
        verbose=False, member=None, channel=None, database_url=None, timeout=1.0
    )
    assert handle(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("COMPLETIONS_BACKEND is not valid: ")
    assert "'ollama'" in err
