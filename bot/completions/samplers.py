"""Samplers a server adds to the API's, and the values that switch them off.

The Completions API samples with `temperature` and `top_p` alone (plus the
penalties and `logit_bias` a request asks for). Some servers add samplers of
their own unless a request says otherwise, so `temperature 1, top_p 1` would
not mean what the API says:

- llama.cpp's `llama-server`: `top_k` 40 and `min_p` 0.05 (its /props; the
  other samplers its README lists are off unless the server is started with
  them on, so they are switched off too).
- llama-cpp-python's server: `top_k` 40, `min_p` 0.05 and `repeat_penalty`
  1.1 (`llama_cpp/server/types.py`); `typical_p` and `tfs_z` are not request
  fields there and stay at their neutral defaults.
- vLLM: whatever the model's generation_config sets (`top_k`, `min_p`,
  `repetition_penalty`, ...) fills the fields a request leaves out
  (`_DEFAULT_SAMPLING_PARAMS`, `get_diff_sampling_param`).
- Ollama: its own `top_k` 40 and repeat penalty (`DefaultOptions`), which its
  `/v1/completions` has no fields to change (`FromCompleteRequest`).
- TGI's `/v1/completions` sets `top_k` and `typical_p` to none and sends
  `repetition_penalty` only when asked: nothing to switch off.

A server's `sampling` setting chooses: `api` (the default) sends the neutral
values below; `server` leaves the backend's own samplers on. The sentences a
footer shows for either choice are here, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from bot.i18n import Msg, _

SamplingMode = Literal["api", "server"]
SAMPLING_MODES: tuple[SamplingMode, ...] = ("api", "server")
DEFAULT_SAMPLING: SamplingMode = "api"

# Every sampler llama-server's README lists, at the value it calls disabled;
# presence and frequency at the API's 0 unless the request gives them.
# Older builds ignore the fields they do not know.
LLAMACPP_NEUTRAL: Mapping[str, Any] = MappingProxyType(
    {
        "top_k": 0,
        "min_p": 0.0,
        "typical_p": 1.0,
        "repeat_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "dry_multiplier": 0.0,
        "xtc_probability": 0.0,
        "top_n_sigma": -1.0,
        "mirostat": 0,
        "dynatemp_range": 0.0,
        "adaptive_target": -1.0,
    }
)
# llama-cpp-python's request fields for its own samplers.
LLAMA_CPP_PYTHON_NEUTRAL: Mapping[str, Any] = MappingProxyType(
    {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "mirostat_mode": 0}
)
# vLLM: top_k -1 is "disabled" in every version (newer ones also take 0).
VLLM_NEUTRAL: Mapping[str, Any] = MappingProxyType(
    {
        "top_k": -1,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
    }
)


def sampling_note(
    backend: str,
    own_samplers: str | Msg | None,
    stuck_samplers: str | Msg | None,
    mode: SamplingMode,
) -> Msg | None:
    """The footer's sentence about samplers beyond the API's, or None when there is none.

    `own_samplers` names what the backend adds by default (None: nothing);
    `stuck_samplers` what stays on even in `api` mode, because the backend's
    /v1/completions has no field to switch it off (None: nothing).
    """
    if mode == "server":
        if own_samplers is None:
            return _(
                "sampling is server, but {backend} adds no samplers of its own.", backend=backend
            )
        return _(
            "sampling is server: {backend}'s own samplers apply as well ({samplers}).",
            backend=backend,
            samplers=own_samplers,
        )
    if stuck_samplers is not None:
        return _(
            "{backend} keeps its own samplers on ({samplers}): its /v1/completions "
            "cannot switch them off.",
            backend=backend,
            samplers=stuck_samplers,
        )
    return None
