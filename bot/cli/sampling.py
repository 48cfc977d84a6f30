"""`couplet sampling`: what temperature and top_p do to the next token, from the shell.

The same chart as /sampling: the configured backend (or the local model when
none is set) is asked for the next token's top logprobs; the caption and the
table are printed, `--json` prints the numbers, `--png PATH` writes the chart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.startup import load_settings
from bot.completions import CompletionRequest, CompletionsClient
from bot.completions.parameters import PARAMETERS
from bot.errors import BackendError, CoupletError, ParameterError, UnsupportedParameter
from bot.local_model import LocalModelError, LocalModelFallback
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.services.sampling import SamplingOutcome

EXIT_OK, EXIT_BACKEND, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `sampling` sub-command."""
    p = subparsers.add_parser(
        "sampling",
        help="chart what temperature and top_p do to the next token",
        description="Ask COMPLETIONS_BASE_URL (or the bundled local model when none is set) "
        "for the next token's top logprobs and show the odds at temperature 1 and at "
        "--temperature, and the tokens --top-p keeps. Values are checked like /sampling's.",
    )
    p.add_argument("--prompt", required=True)
    for name in ("temperature", "top_p"):
        spec = PARAMETERS[name]
        p.add_argument(spec.flag, dest=name, metavar=spec.metavar, help=spec.cli_help)
    p.add_argument("--model")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--png", metavar="PATH", type=Path, help="write the chart to PATH")
    p.set_defaults(func=run)


def options_of(args: argparse.Namespace) -> dict[str, Any]:
    """The options, checked now (ParameterError) so a bad one never starts a model."""
    options = {"temperature": args.temperature, "top_p": args.top_p, "model": args.model}
    CompletionRequest.build(prompt=args.prompt, **options)
    if not args.prompt.strip():
        raise ParameterError(
            "prompt", args.prompt, "some text", "prompt is empty: write some text to complete."
        )
    return options


def as_json(outcome: SamplingOutcome) -> dict[str, Any]:
    """The numbers behind the chart."""
    pic = outcome.picture
    return {
        "prompt": outcome.prompt,
        "model": outcome.model,
        "backend": outcome.backend,
        "temperature": pic.temperature,
        "top_p": pic.top_p,
        "top_p_before_temperature": pic.top_p_before_temperature,
        "tokens": [
            {
                "token": token,
                "logprob": logprob,
                "probability": pic.base.listed[i],
                "at_temperature": pic.reshaped.listed[i],
                "kept_by_top_p": pic.nucleus.kept(i),
                "sampling_probability": pic.sampling.listed[i],
            }
            for i, (token, logprob) in enumerate(
                zip(pic.tokens, pic.next_token.logprobs, strict=True)
            )
        ],
        "other": {
            "probability": pic.base.other,
            "at_temperature": pic.reshaped.other,
            "kept_by_top_p": pic.nucleus.includes_other,
        },
        "notes": [str(note) for note in outcome.notes],  # English, as the CLI is
    }


async def _chart(args: argparse.Namespace, options: dict[str, Any], settings: Settings) -> int:
    from bot.render.sampling import caption, table
    from bot.services.generation import GenerationService, Requester
    from bot.services.sampling import SamplingService

    async with CompletionsClient.from_settings(settings) as client:
        generation = GenerationService(client, default_model=settings.completions_model)
        outcome = await SamplingService(client, generation).chart(
            Requester(user_id=0), args.prompt, options
        )
    if args.png is not None:
        from bot.render.sampling_chart import chart_png

        png = await asyncio.to_thread(chart_png, outcome)
        try:
            args.png.write_bytes(png)
        except OSError as err:
            print(f"Could not write the chart to {args.png}: {err.strerror}.", file=sys.stderr)
            return EXIT_USAGE
        print(f"chart written to {args.png}", file=sys.stderr)
    if args.json:
        print(json.dumps(as_json(outcome), ensure_ascii=False, indent=2))
    else:
        print(caption(outcome))
        print(table(outcome).removeprefix("```\n").removesuffix("\n```"))
        for note in outcome.notes:
            print(note)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Handler: exit 0 on success, 2 for a bad value, 1 when the backend fails or can't."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        options = options_of(args)
    except ParameterError as err:
        print(str(err), file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings()
    if settings is None:
        return EXIT_USAGE
    try:
        with LocalModelFallback(settings, say=lambda line: print(line, file=sys.stderr)) as backend:
            return asyncio.run(_chart(args, options, backend))
    except (ParameterError, UnsupportedParameter) as err:
        print(str(err), file=sys.stderr)
        return EXIT_USAGE
    except (BackendError, LocalModelError, CoupletError) as err:
        print(str(err), file=sys.stderr)
        return EXIT_BACKEND
