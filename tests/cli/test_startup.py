"""What the sub-commands do first: refuse a bad setting with one sentence, set up logging."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.cli import db, run, sandbox
from bot.cli.startup import CHATTY_LOGGERS, configure_logging

# Every option any of the handlers reads.
ARGS = argparse.Namespace(
    verbose=False,
    member=None,
    channel=None,
    database_url=None,
    timeout=1.0,
    require_token=False,
    db_command="current",
)
HANDLERS = [run.handle, sandbox.handle, db.handle]


@pytest.mark.parametrize("handle", HANDLERS, ids=["run", "sandbox", "db"])
def test_bad_setting_is_named_and_exits_2(
    handle: Callable[[argparse.Namespace], int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad COMPLETIONS_BACKEND exits 2 with a sentence naming the setting."""
    monkeypatch.chdir(tmp_path)  # no .env from the work tree
    monkeypatch.setenv("COMPLETIONS_BACKEND", "bogus")
    assert handle(ARGS) == 2
    err = capsys.readouterr().err
    assert err.startswith("COMPLETIONS_BACKEND is not valid: ")
    assert "'ollama'" in err


@pytest.mark.parametrize("handle", HANDLERS, ids=["run", "sandbox", "db"])
def test_bad_log_level_is_named_and_exits_2(
    handle: Callable[[argparse.Namespace], int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A LOG_LEVEL logging does not know exits 2 with one sentence listing the levels."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOG_LEVEL", "loud")
    assert handle(ARGS) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "LOG_LEVEL is not valid: 'loud' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL.\n"
    )


@pytest.fixture
def restore_logging() -> Iterator[None]:
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in CHATTY_LOGGERS)]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_chatty_loggers_are_quiet_unless_debug() -> None:
    """At INFO, discord.http, discord.gateway and httpx log only warnings; at DEBUG, everything."""
    configure_logging("info")
    assert logging.getLogger().level == logging.INFO
    for name in CHATTY_LOGGERS:
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
    configure_logging("DEBUG")
    for name in CHATTY_LOGGERS:
        assert logging.getLogger(name).isEnabledFor(logging.DEBUG), name
