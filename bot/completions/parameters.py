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

from bot.i18n import Msg, _, join

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
    about: Msg
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
    hint: Msg | None = None
    """What is allowed, where the kind alone says too little."""
    cli_note: str | None = None
    """The flag's help (English, as the CLI is), where the Discord description does not fit
    a command line."""

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("whole", "number")

    @property
    def python_type(self) -> type:
        """The type of its slash-command option."""
        return {"whole": int, "number": float, "flag": bool}.get(self.kind, str)

    @property
    def allowed(self) -> Msg:
        """What values are allowed, as the end of a sentence ("use ...")."""
        if self.hint is not None:
            return self.hint
        if self.kind == "flag":
            return _("true or false")
        if self.kind == "stop":
            return _("1 to {count} sequences separated by | or a JSON array", count=MAX_STOPS)
        if self.kind == "bias":
            return _(
                "token ids or words with a bias from {low} to {high}, "
                'such as {"50256": -100} or hello=-100',
                low=BIAS_LOW,
                high=BIAS_HIGH,
            )
        if self.kind == "text":
            return _("text")
        if self.kind == "whole":
            return _("a whole number from {low} to {high}", low=self.low, high=self.high)
        return _("a number from {low} to {high}", low=self.low, high=self.high)

    @property
    def description(self) -> Msg:
        """The option description Discord shows (at most 100 characters in each language)."""
        facts: list[Msg] = []
        if self.is_numeric and self.low is not None and self.high is not None:
            facts.append(_("{low} to {high}", low=self.low, high=self.high))
        if self.api_default is not None and self.kind != "flag":
            facts.append(_("API default {value}", value=self.api_default))
        if self.bot_default is not None:
            facts.append(_("bot default {value}", value=self.bot_default))
        if not facts:
            return self.about
        return _("{about} ({facts})", about=self.about, facts=join(facts, "clauses"))

    @property
    def flag(self) -> str:
        """Its `couplet complete` flag."""
        return "--" + self.name.replace("_", "-")

    @property
    def cli_help(self) -> str:
        """The flag's help text."""
        return self.cli_note or str(self.description)

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
                _("The text the model continues (leave it out to type a long prompt in a form)"),
                chosen=False,
                cli_note="The text the model continues",
            ),
            ParamSpec(
                "model",
                "text",
                _("The model to use"),
                server_default=True,
                hint=_("a model name"),
            ),
            ParamSpec(
                "suffix", "text", _("Text that comes after the completion (only some backends)")
            ),
            ParamSpec(
                "max_tokens",
                "whole",
                _("Most tokens to generate"),
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
                _("Randomness: 0 always picks the likeliest token"),
                low=0,
                high=2,
                api_default=1,
                server_default=True,
            ),
            ParamSpec(
                "top_p",
                "number",
                _("Sample only from the likeliest tokens adding up to this"),
                low=0,
                high=1,
                api_default=1,
                server_default=True,
            ),
            ParamSpec(
                "n",
                "whole",
                _("How many completions to generate, to page through"),
                low=1,
                high=MAX_N,
                api_default=1,
            ),
            ParamSpec(
                "best_of",
                "whole",
                _("Generate this many, keep the n with the best mean logprob"),
                low=1,
                high=MAX_BEST_OF,
                api_default=1,
            ),
            ParamSpec(
                "stop",
                "stop",
                _(
                    r"Up to {count} stop sequences: a|b|c (escapes \n \t \|) or a JSON array",
                    count=MAX_STOPS,
                ),
                server_default=True,
                cli_note=rf"Up to {MAX_STOPS} stop sequences in all; each value a|b|c "
                r"(escapes \n \t \| \\) or a JSON array",
            ),
            ParamSpec(
                "echo",
                "flag",
                _("Show the prompt before the completion"),
                api_default=False,
                server_default=True,
            ),
            ParamSpec(
                "logprobs",
                "whole",
                _("Alternatives per token for a Tokens view; most backends allow up to 5"),
                low=0,
                high=MAX_LOGPROBS_ANY_BACKEND,
                server_default=True,
            ),
            ParamSpec(
                "presence_penalty",
                "number",
                _("Positive values push toward new topics"),
                low=-2,
                high=2,
                api_default=0,
                server_default=True,
            ),
            ParamSpec(
                "frequency_penalty",
                "number",
                _("Positive values reduce repetition"),
                low=-2,
                high=2,
                api_default=0,
                server_default=True,
            ),
            ParamSpec(
                "logit_bias",
                "bias",
                _(
                    'Token biases {low}..{high}: {"50256": -100} (token ids) '
                    "or word=bias, word2=bias",
                    low=BIAS_LOW,
                    high=BIAS_HIGH,
                ),
            ),
            ParamSpec(
                "seed",
                "whole",
                _("Same seed and parameters give the same sample where the backend can"),
                low=0,
                high=MAX_SEED,
            ),
            # Server behaviour rather than a choice of text: /settings keeps it
            # as the `stream` behaviour setting, and presets do not hold it.
            ParamSpec(
                "stream",
                "flag",
                _("Show the text as it is written"),
                api_default=False,
                chosen=False,
            ),
            # Set by the bot for abuse monitoring, never by a person.
            ParamSpec("user", "text", _("Who asked (set by the bot)"), chosen=False, cli=False),
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


def descriptions(names: tuple[str, ...] | list[str]) -> dict[str, Msg]:
    """name → Discord description, for `bot.command_helpers.describe(**...)`."""
    return {name: PARAMETERS[name].description for name in names}
