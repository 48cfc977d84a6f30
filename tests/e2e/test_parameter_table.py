"""Every surface offers the parameter table's parameters with the table's limits.

The surfaces: the /complete, /preset create and /preset edit options as synced
to the Discord emulator, /settings set's choices, `couplet complete`'s flags,
and the request model. Each is read from what it really exposes (the synced
payload, the argparse parser, the pydantic schema) and compared with the table.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import build_parser
from bot.cli.complete import build_request
from bot.completions import (
    GENERATION_PARAMS,
    PARAMETERS,
    SERVER_DEFAULT_PARAMS,
    CompletionRequest,
    ParamSpec,
)
from bot.errors import ParameterError
from bot.sandbox import FakeDiscord
from tests.e2e.conftest import StubbedCouplet, couplet_on_stub

INTEGER, NUMBER, STRING, BOOLEAN, SUB_COMMAND = 4, 10, 3, 5, 1
OPTION_TYPE = {"whole": INTEGER, "number": NUMBER, "flag": BOOLEAN}


@pytest.fixture
async def synced(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """The command definitions the real bot synced to the emulator, by name."""
    async with couplet_on_stub(fake, tmp_path / "couplet.db") as stubbed:
        yield _by_name(stubbed)


def _by_name(stubbed: StubbedCouplet) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in stubbed.fake.commands() if c.get("type", 1) == 1}


def _options(command: dict[str, Any], sub: str | None = None) -> dict[str, dict[str, Any]]:
    options = command.get("options") or []
    if sub is not None:
        [group] = [o for o in options if o["type"] == SUB_COMMAND and o["name"] == sub]
        options = group.get("options") or []
    return {o["name"]: o for o in options}


def _assert_option_matches(option: dict[str, Any], spec: ParamSpec) -> None:
    """One synced option has the table's type, range and description."""
    assert option["type"] == OPTION_TYPE.get(spec.kind, STRING), spec.name
    assert option["description"] == str(spec.description), spec.name
    assert len(option["description"]) <= 100
    if spec.is_numeric:
        assert (option.get("min_value"), option.get("max_value")) == (spec.low, spec.high)
    else:
        assert "min_value" not in option and "max_value" not in option, spec.name
    assert not option.get("required", False), spec.name


async def test_complete_options_are_the_tables(synced: dict[str, dict[str, Any]]) -> None:
    """/complete offers prompt, every chosen parameter and stream, each as the table says."""
    options = _options(synced["complete"])
    assert set(options) == {"prompt", *GENERATION_PARAMS, "stream", "preset", "private"}
    for name in ("prompt", *GENERATION_PARAMS, "stream"):
        _assert_option_matches(options[name], PARAMETERS[name])


@pytest.mark.parametrize("sub", ["create", "edit"])
async def test_preset_options_are_the_tables(synced: dict[str, dict[str, Any]], sub: str) -> None:
    """/preset create and /preset edit offer every chosen parameter, as /complete does."""
    options = _options(synced["preset"], sub)
    own = {"create": {"name", "description"}, "edit": {"name", "description", "clear"}}[sub]
    assert set(options) == {*own, *GENERATION_PARAMS}
    for name in GENERATION_PARAMS:
        _assert_option_matches(options[name], PARAMETERS[name])


async def test_settings_choices_are_the_tables(synced: dict[str, dict[str, Any]]) -> None:
    """/settings set and reset offer the table's server defaults, described by the table."""
    for sub in ("set", "reset"):
        choices = _options(synced["settings"], sub)["name"]["choices"]
        parameters = [c["value"] for c in choices if c["value"] in PARAMETERS]
        # stream is kept as a behaviour setting (on or off), after the defaults.
        assert parameters == [*SERVER_DEFAULT_PARAMS, "stream"]
        for choice in choices[: len(SERVER_DEFAULT_PARAMS)]:
            spec = PARAMETERS[choice["value"]]
            assert choice["name"] == f"{spec.name} — {spec.description}"  # not cut short
            assert len(choice["name"]) <= 100
        limits = {c["value"] for c in choices} - set(PARAMETERS)
        assert {"max_tokens_limit", "n_limit", "best_of_limit"} <= limits


def _cli() -> argparse.ArgumentParser:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices["complete"]


def test_cli_flags_are_the_tables() -> None:
    """`couplet complete` has one flag per parameter (all but `user`), with the table's help."""
    actions = {a.dest: a for a in _cli()._actions if a.option_strings}
    expected = [name for name, spec in PARAMETERS.items() if name != "user"]
    assert [d for d in actions if d in PARAMETERS] == expected
    for name in expected:
        spec = PARAMETERS[name]
        assert actions[name].option_strings == ["--" + name.replace("_", "-")]
        assert actions[name].help == spec.cli_help
        if spec.is_numeric:
            assert actions[name].metavar == f"{spec.low}..{spec.high}"


def _edges(spec: ParamSpec) -> tuple[list[int | float], list[int | float]]:
    """Values at the ends of the range (allowed) and just outside (refused)."""
    assert spec.low is not None and spec.high is not None
    step = 1 if spec.kind == "whole" else 0.5
    return [spec.low, spec.high], [spec.low - step, spec.high + step]


NUMERIC = [name for name, spec in PARAMETERS.items() if spec.is_numeric]


@pytest.mark.parametrize("name", NUMERIC)
def test_cli_and_request_model_take_the_tables_range(name: str) -> None:
    """The ends of the table's range pass through the CLI and the model; one step beyond fails."""
    spec = PARAMETERS[name]
    allowed, refused = _edges(spec)
    others = ["--n", "1"] if name == "best_of" else []  # best_of must be at least n
    for value in allowed:
        args = _cli().parse_args(["--prompt", "x", spec.flag, str(value), *others])
        assert getattr(build_request(args), name) == value
        assert getattr(CompletionRequest.build(prompt="x", **{name: value}), name) == value
    for value in refused:
        expected = f"{name} {value} is out of range: use {spec.allowed}."
        args = _cli().parse_args(["--prompt", "x", spec.flag, str(value), *others])
        with pytest.raises(ParameterError) as from_cli:
            build_request(args)
        with pytest.raises(ParameterError) as from_model:
            CompletionRequest.build(prompt="x", **{name: value})
        assert str(from_cli.value) == str(from_model.value) == expected


def test_request_model_fields_and_constraints_are_the_tables() -> None:
    """The model has a field per parameter (plus the word biases and the sampling mode,
    which are not sent as such) with the table's bounds."""
    schema = CompletionRequest.model_json_schema()["properties"]
    assert set(schema) == {*PARAMETERS, "logit_bias_words", "sampling"}
    for name in NUMERIC:
        spec = PARAMETERS[name]
        [bounded] = [
            s for s in schema[name].get("anyOf", [schema[name]]) if s.get("type") != "null"
        ]
        assert (bounded.get("minimum"), bounded.get("maximum")) == (spec.low, spec.high), name
