"""The central error handler's sentences (bot/tree.py)."""

from __future__ import annotations

from discord import app_commands

from bot.errors import (
    AlreadyExists,
    BackendStatusError,
    BackendTimeout,
    BackendUnavailable,
    Conflict,
    NotFound,
    ParameterError,
    RateLimited,
    UnsupportedParameter,
)
from bot.tree import message_for


def test_known_errors_become_one_sentence() -> None:
    """Each known error maps to a sentence that says what to do."""
    cases = {
        ParameterError("temperature", 3, "0 to 2"): "temperature 3 is not allowed: use 0 to 2.",
        RateLimited("slow down", retry_after=1): "try again in 1 second.",
        RateLimited("slow down", retry_after=30.2): "try again in 31 seconds.",
        BackendTimeout("late"): "try a smaller max_tokens",
        BackendUnavailable("down"): "can't be reached right now",
        BackendStatusError("Unknown model.", status=404): "refused the request: Unknown model.",
        BackendStatusError("Overloaded.", status=500): "Overloaded. Try again",
        UnsupportedParameter("suffix", "ollama", "no FIM."): "Leave suffix out",
        app_commands.MissingPermissions(["manage_guild"]): "You need the Manage Server permission",
        NotFound("There is no preset named 'x'.", kind="preset", name="x"): "no preset named 'x'",
        AlreadyExists("A preset named 'x' already exists."): "already exists",
        Conflict("preset 'x' kept changing while saving: try again."): "kept changing",
    }
    for error, expected in cases.items():
        text = message_for(error)
        assert text is not None and expected in text, (error, text)
        assert "\n" not in text


def test_wrapped_errors_are_unwrapped_and_unknown_ones_are_not_named() -> None:
    """CommandInvokeError is unwrapped; an unexpected error has no sentence (it is logged)."""
    command = app_commands.Command(name="x", description="x", callback=_noop)
    wrapped = app_commands.CommandInvokeError(command, ParameterError("n", 0, "1 to 128"))
    assert message_for(wrapped) == "n 0 is not allowed: use 1 to 128."
    assert message_for(RuntimeError("bug")) is None


async def _noop(interaction) -> None:  # type: ignore[no-untyped-def]
    return None
