"""The parameter table: every Completions parameter, defined once.

Each `ParamSpec` says how the parameter is typed, its range, the API's default,
the bot's default (where it has one), the description Discord shows and the
CLI flag. Every surface is derived from this table: the request model's
constraints, the /complete and /preset options, /settings' keys, and
`couplet complete`'s flags (tests/e2e/test_parameter_table.py holds them to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

Kind = Literal["text", "whole", "number", "flag", "stop", "bias"]

MAX_STOPS = 4
# The widest logprobs any backend allows (vLLM's default --max-logprobs); each
# backend profile narrows it (OpenAI 5).
MAX_LOGPROBS_ANY_BACKEND = 20
MAX_BEST_OF = 20
MAX_N = 128
# No server may let anyone ask for more tokens than this (max_tokens_limit's
# top too): far beyond any context window Couplet talks to, yet a real bound.
MAX_TOKENS_CEILING = 65_536
# llama.cpp and llama-cpp-python keep the seed in a uint32, and llama.cpp reads
# 0xFFFFFFFF (LLAMA_DEFAULT_SEED) as "pick a random seed". OpenAI takes any
# int64, so 0 to 2^32 - 2 is the one range that repeats a sample everywhere.
MAX_SEED = 2**32 - 2
# logit_bias values, per the API ("-100 to 100", added to the logits).
BIAS_LOW, BIAS_HIGH = -100, 100


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of `POST /v1/completions` and how Couplet offers it."""

    name: str
    kind: Kind
    about: str
    """What it does, for people; `description` adds the range and default."""
    low: int | None = None
    high: int | None = None
    api_default: Any = None
    """What the API does when the parameter is left out (None: nothing)."""
    bot_default: Any = None
    """What Couplet uses when nobody set it (None: the API's default applies)."""
    chosen: bool = True
    """A person chooses it per generation: /complete option, preset, CLI flag."""
    server_default: bool = False
    """A server can keep a default for it with /settings set."""
    cli: bool = True
    """`couplet complete` has a flag for it."""
    hint: str | None = None
    """What is allowed, where the kind alone says too little."""
    cli_note: str | None = None
    """The flag's help, where the Discord description does not fit a command line."""

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("whole", "number")

    @property
    def python_type(self) -> type:
        """The type of its slash-command option."""
        return {"whole": int, "number": float, "flag": bool}.get(self.kind, str)

    @property
    def allowed(self) -> str:
        """What values are allowed, as the end of a sentence ("use ...")."""
        if self.hint is not None:
            return self.hint
        if self.kind == "flag":
            return "true or false"
        if self.kind == "stop":
            return rf"1 to {MAX_STOPS} sequences separated by | or a JSON array"
        if self.kind == "bias":
            return (
                f"token ids or words with a bias from {BIAS_LOW} to {BIAS_HIGH}, "
                'such as {"50256": -100} or hello=-100'
            )
        if self.kind == "text":
            return "text"
        noun = "a whole number" if self.kind == "whole" else "a number"
        return f"{noun} from {self.low} to {self.high}"

    @property
    def description(self) -> str:
        """The option description Discord shows (at most 100 characters)."""
        facts = []
        if self.is_numeric and self.low is not None and self.high is not None:
            facts.append(f"{self.low} to {self.high}")
        if self.api_default is not None and self.kind != "flag":
            facts.append(f"API default {self.api_default}")
        if self.bot_default is not None:
            facts.append(f"bot default {self.bot_default}")
        return f"{self.about} ({', '.join(facts)})" if facts else self.about

    @property
    def flag(self) -> str:
        """Its `couplet complete` flag."""
        return "--" + self.name.replace("_", "-")

    @property
    def cli_help(self) -> str:
        """The flag's help text."""
        return self.cli_note or self.description

    @property
    def metavar(self) -> str | None:
        """How the flag's value is shown in usage: the range for numbers."""
        if self.is_numeric and self.low is not None and self.high is not None:
            return f"{self.low}..{self.high}"
        return {"bias": "JSON|word=bias,...", "stop": "S", "text": "TEXT"}.get(self.kind)


# Table order is the order in which messages list parameters.
PARAMETERS: MappingProxyType[str, ParamSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ParamSpec(
                "prompt",
                "text",
                "The text the model continues (leave it out to type a long prompt in a form)",
                chosen=False,
                cli_note="The text the model continues",
            ),
            ParamSpec(
                "model", "text", "The model to use", server_default=True, hint="a model name"
            ),
            ParamSpec(
                "suffix", "text", "Text that comes after the completion (only some backends)"
            ),
            ParamSpec(
                "max_tokens",
                "whole",
                "Most tokens to generate",
                low=0,
                high=MAX_TOKENS_CEILING,
                api_default=16,
                # The API's 16 tokens is a sentence fragment in a chat.
                bot_default=256,
                server_default=True,
            ),
            ParamSpec(
                "temperature",
                "number",
                "Randomness: 0 always picks the likeliest token",
                low=0,
                high=2,
                api_default=1,
                server_default=True,
            ),
            ParamSpec(
                "top_p",
                "number",
                "Sample only from the likeliest tokens adding up to this",
                low=0,
                high=1,
                api_default=1,
                server_default=True,
            ),
            ParamSpec(
                "n",
                "whole",
                "How many completions to generate, to page through",
                low=1,
                high=MAX_N,
                api_default=1,
            ),
            ParamSpec(
                "best_of",
                "whole",
                "Generate this many, keep the n with the best mean logprob",
                low=1,
                high=MAX_BEST_OF,
                api_default=1,
            ),
            ParamSpec(
                "stop",
                "stop",
                rf"Up to {MAX_STOPS} stop sequences: a|b|c (escapes \n \t \|) or a JSON array",
                server_default=True,
                cli_note=rf"Up to {MAX_STOPS} stop sequences in all; each value a|b|c "
                r"(escapes \n \t \| \\) or a JSON array",
            ),
            ParamSpec(
                "echo",
                "flag",
                "Show the prompt before the completion",
                api_default=False,
                server_default=True,
            ),
            ParamSpec(
                "logprobs",
                "whole",
                "Alternatives per token for a Tokens view; most backends allow up to 5",
                low=0,
                high=MAX_LOGPROBS_ANY_BACKEND,
                server_default=True,
            ),
            ParamSpec(
                "presence_penalty",
                "number",
                "Positive values push toward new topics",
                low=-2,
                high=2,
                api_default=0,
                server_default=True,
            ),
            ParamSpec(
                "frequency_penalty",
                "number",
                "Positive values reduce repetition",
                low=-2,
                high=2,
                api_default=0,
                server_default=True,
            ),
            ParamSpec(
                "logit_bias",
                "bias",
                f'Token biases {BIAS_LOW}..{BIAS_HIGH}: {{"50256": -100}} (token ids) '
                "or word=bias, word2=bias",
            ),
            ParamSpec(
                "seed",
                "whole",
                "Same seed and parameters give the same sample where the backend can",
                low=0,
                high=MAX_SEED,
            ),
            # Server behaviour rather than a choice of text: /settings keeps it
            # as the `stream` behaviour setting, and presets do not hold it.
            ParamSpec(
                "stream", "flag", "Show the text as it is written", api_default=False, chosen=False
            ),
            # Set by the bot for abuse monitoring, never by a person.
            ParamSpec("user", "text", "Who asked (set by the bot)", chosen=False, cli=False),
        )
    }
)

# The parameters a person chooses for a generation: a /complete option, a
# preset or a CLI flag each (not `prompt`, the request itself; not `stream`,
# server behaviour; not `user`, set by the bot).
GENERATION_PARAMS: tuple[str, ...] = tuple(n for n, s in PARAMETERS.items() if s.chosen)
# What a preset may hold (logit_bias typed as `word=bias` is stored apart from
# token ids, as `logit_bias_words`; the two always travel together).
PRESET_PARAMS: tuple[str, ...] = GENERATION_PARAMS
# The parameters a server can keep a default for with /settings set.
SERVER_DEFAULT_PARAMS: tuple[str, ...] = tuple(n for n, s in PARAMETERS.items() if s.server_default)
# Parameters whose value is a number (checked against the table's ranges).
NUMERIC_PARAMS: tuple[str, ...] = tuple(n for n, s in PARAMETERS.items() if s.is_numeric)
# What the bot uses when neither the server nor a preset says otherwise.
BOT_DEFAULTS: MappingProxyType[str, Any] = MappingProxyType(
    {n: s.bot_default for n, s in PARAMETERS.items() if s.bot_default is not None}
)


def descriptions(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """name → Discord description, for `app_commands.describe(**...)`."""
    return {name: PARAMETERS[name].description for name in names}
