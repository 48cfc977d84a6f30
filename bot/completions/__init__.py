"""The Completions API client: request model, backend profiles, emulation,
streaming, text cleaning. No Discord code here."""

from bot.completions.cleaning import CleanMode, StreamCleaner, clean_text
from bot.completions.client import CompletionsClient
from bot.completions.logit_bias import parse_logit_bias
from bot.completions.parameters import (
    BOT_DEFAULTS,
    GENERATION_PARAMS,
    NUMERIC_PARAMS,
    PARAMETERS,
    PRESET_PARAMS,
    SERVER_DEFAULT_PARAMS,
    ParamSpec,
)
from bot.completions.profiles import PROFILES, BackendProfile, Support
from bot.completions.request import CompletionRequest
from bot.completions.result import Choice, CompletionResult, LogProbs, Sentence, Usage
from bot.completions.samplers import DEFAULT_SAMPLING, SAMPLING_MODES, SamplingMode
from bot.completions.stops import parse_stop
from bot.completions.streaming import CompletionStream
from bot.completions.user_input import check_together, parse_param, parse_params

__all__ = [
    "BOT_DEFAULTS",
    "DEFAULT_SAMPLING",
    "GENERATION_PARAMS",
    "NUMERIC_PARAMS",
    "PARAMETERS",
    "PRESET_PARAMS",
    "PROFILES",
    "SAMPLING_MODES",
    "SERVER_DEFAULT_PARAMS",
    "BackendProfile",
    "Choice",
    "CleanMode",
    "CompletionRequest",
    "CompletionResult",
    "CompletionStream",
    "CompletionsClient",
    "LogProbs",
    "ParamSpec",
    "SamplingMode",
    "Sentence",
    "StreamCleaner",
    "Support",
    "Usage",
    "check_together",
    "clean_text",
    "parse_logit_bias",
    "parse_param",
    "parse_params",
    "parse_stop",
]
