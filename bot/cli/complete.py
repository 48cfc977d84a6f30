"""`couplet complete`: one completion from the configured backend, for checking
a backend before inviting the bot (or the local model when none is configured)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from bot.cli.startup import load_settings
from bot.completions import (
    BOT_DEFAULTS,
    DEFAULT_SAMPLING,
    GENERATION_PARAMS,
    PARAMETERS,
    SAMPLING_MODES,
    CompletionRequest,
    CompletionResult,
    CompletionsClient,
    StreamCleaner,
    clean_text,
    parse_logit_bias,
    parse_stop,
)
from bot.errors import BackendError, ParameterError, UnsupportedParameter
from bot.local_model import LocalModelError, LocalModelFallback
from bot.settings import Settings

EXIT_OK, EXIT_BACKEND, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `complete` sub-command."""
    p = subparsers.add_parser(
        "complete",
        help="run one completion against the configured backend",
        description="Run one completion against COMPLETIONS_BASE_URL, or the bundled "
        "local model when none is set. Values are checked like /complete's options, "
        "and the bot's defaults apply ("
        + ", ".join(f"{name} {value}" for name, value in BOT_DEFAULTS.items())
        + ").",
    )
    # One flag per parameter of the table. Values are read as text and
    # validated by CompletionRequest, so a bad one gets the sentence the bot
    # would show.
    for spec in PARAMETERS.values():
        if not spec.cli:
            continue
        if spec.kind == "flag":
            p.add_argument(spec.flag, dest=spec.name, action="store_true", help=spec.cli_help)
            continue
        extra: dict[str, Any] = {"nargs": "+", "action": "extend"} if spec.kind == "stop" else {}
        p.add_argument(
            spec.flag,
            dest=spec.name,
            required=spec.name == "prompt",
            metavar=spec.metavar,
            help=spec.cli_help,
            **extra,
        )
    p.add_argument("--clean", choices=("seed", "preserve"), default="preserve")
    p.add_argument(
        "--sampling",
        choices=SAMPLING_MODES,
        default=DEFAULT_SAMPLING,
        help="api: switch the backend's own samplers off (as /complete does by default); "
        "server: leave them on",
    )
    p.add_argument("--json", action="store_true", help="print the normalised response object")
    p.set_defaults(func=run)


def build_request(args: argparse.Namespace) -> CompletionRequest:
    """A validated request from the parsed flags (raises ParameterError)."""
    fields: dict[str, Any] = {
        "prompt": args.prompt,
        "stream": args.stream,
        "sampling": args.sampling,
    }
    # Every other parameter has a flag of its own name; stop and logit_bias
    # are typed as text and parsed below. The bot's defaults apply, as in /complete.
    for name in GENERATION_PARAMS:
        if name not in ("stop", "logit_bias"):
            given = getattr(args, name)
            fields[name] = BOT_DEFAULTS.get(name) if given is None else given
    if args.stop:
        fields["stop"] = [s for value in args.stop for s in parse_stop(value)]
    if args.logit_bias is not None:
        ids, words = parse_logit_bias(args.logit_bias)
        fields["logit_bias"] = ids or None
        fields["logit_bias_words"] = words or None
    return CompletionRequest.build(**fields)


def print_result(result: CompletionResult, mode: str) -> None:
    several = len(result.choices) > 1
    for choice in result.choices:
        if several:
            score = (
                f", mean logprob {choice.mean_logprob:.3f}"
                if choice.mean_logprob is not None
                else ""
            )
            print(f"--- choice {choice.index + 1} of {len(result.choices)}{score} ---")
        print(clean_text(choice.text, mode))  # type: ignore[arg-type]
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.emulated:
        print(f"emulated by Couplet: {', '.join(result.emulated)}", file=sys.stderr)


async def _complete(args: argparse.Namespace, req: CompletionRequest, settings: Settings) -> int:
    client = CompletionsClient.from_settings(settings)
    try:
        if args.stream:
            cleaner = StreamCleaner(args.clean)
            async for delta in client.stream(req):
                sys.stdout.write(cleaner.feed(delta))
                sys.stdout.flush()
            sys.stdout.write(cleaner.flush() + "\n")
            return EXIT_OK
        result = await client.complete(req)
        if args.json:
            print(json.dumps(result.to_api_dict(), ensure_ascii=False, indent=2))
        else:
            print_result(result, args.clean)
        return EXIT_OK
    finally:
        await client.aclose()


def run(args: argparse.Namespace) -> int:
    """Handler: exit 0 on success, 2 for a bad value, 1 when the backend fails."""
    # One line per HTTP request drowns the answer; retries are still logged.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        req = build_request(args)
        if args.json and args.stream:
            raise ParameterError(
                "stream",
                True,
                "--json or --stream",
                "--json cannot be combined with --stream: choose one.",
            )
    except ParameterError as err:
        print(str(err), file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings()
    if settings is None:
        return EXIT_USAGE
    try:
        with LocalModelFallback(settings, say=lambda line: print(line, file=sys.stderr)) as backend:
            return asyncio.run(_complete(args, req, backend))
    except LocalModelError as err:
        print(str(err), file=sys.stderr)
        return EXIT_BACKEND
    except (ParameterError, UnsupportedParameter) as err:
        print(str(err), file=sys.stderr)
        return EXIT_USAGE
    except BackendError as err:
        print(err.message, file=sys.stderr)
        return EXIT_BACKEND
