"""Effective completion parameters: precedence, then the server's limits.

option > chosen preset > channel's preset > server defaults > bot defaults,
then clamped to the server's limits; every clamp is reported as a sentence.
Typed values are parsed by `bot.completions.user_input`, against the
parameter table's ranges.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.completions import (
    BOT_DEFAULTS,
    DEFAULT_SAMPLING,
    PARAMETERS,
    PRESET_PARAMS,
    SERVER_DEFAULT_PARAMS,
    CompletionRequest,
    check_together,
    parse_param,
)
from bot.completions.request import not_a_parameter
from bot.errors import ParameterError
from bot.i18n import Msg, _, join
from bot.services.presets import GuildPresets, Preset, PresetService
from bot.services.server_settings import ServerConfig, ServerSettingsService

log = logging.getLogger(__name__)

# logit_bias typed as `word=bias` pairs is kept apart from token ids; the two
# always travel together (a layer that sets one replaces both).
_BIAS_KEYS = ("logit_bias", "logit_bias_words")

# Options the resolver ignores: the prompt is the request, not a parameter.
_NOT_PARAMETERS = frozenset({"prompt"})


@dataclass(frozen=True)
class ResolvedParameters:
    """The parameters for one completion and where each came from."""

    params: dict[str, Any]
    """CompletionRequest fields (without `prompt` and `stream`)."""
    sources: dict[str, str]
    """param → "option" | "preset:NAME" | "channel preset:NAME" | "server" | "bot default"."""
    clamped: list[str | Msg] = field(default_factory=list)
    """One sentence per value the server's limits changed."""
    clean_mode: str = "preserve"
    stream: bool = False
    preset: str | None = None
    """The preset in use (chosen, or the channel's), if any."""
    problem: str | Msg | None = None
    """Why /complete would refuse these (only from `effective`, which does not raise)."""


API_DEFAULT = "API default"


@dataclass(frozen=True)
class ShownValue:
    """One parameter as /settings show lists it."""

    name: str
    value: Any
    """None: nothing is sent, so the backend's own default applies."""
    source: str
    """"API default" | "bot default" | "server" | "channel preset:NAME"."""


def shown_defaults(resolved: ResolvedParameters, default_model: str | None) -> list[ShownValue]:
    """Every default a server can set, then whatever else the channel's preset sets.

    In table order, each with its effective value and where it comes from;
    `default_model` is the bot's (COMPLETIONS_MODEL), used when nobody set one.
    """
    params, sources = dict(resolved.params), dict(resolved.sources)
    words = params.pop("logit_bias_words", None)
    if words:
        # Token ids and words travel together: show them as one logit_bias.
        params["logit_bias"] = {**(params.get("logit_bias") or {}), **words}
        sources["logit_bias"] = sources.pop("logit_bias_words")
    names = [*SERVER_DEFAULT_PARAMS, *(n for n in PARAMETERS if n in params)]
    shown: list[ShownValue] = []
    for name in dict.fromkeys(names):
        if name in params:
            shown.append(ShownValue(name, params[name], sources.get(name, "")))
        elif name == "model":
            # The client asks the backend for its first model when none is given.
            shown.append(ShownValue(name, default_model, "bot default"))
        else:
            shown.append(ShownValue(name, PARAMETERS[name].api_default, API_DEFAULT))
    return shown


class ParameterResolver:
    """Merges options, presets and server settings into one request's parameters."""

    def __init__(
        self,
        settings_service: ServerSettingsService,
        preset_service: PresetService,
        *,
        bot_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings_service
        self.presets = preset_service
        defaults = {**BOT_DEFAULTS, **(bot_defaults or {})}
        self.bot_defaults = {k: v for k, v in defaults.items() if v is not None}

    async def resolve(
        self,
        guild_id: int | None,
        channel_id: int | None,
        options: Mapping[str, Any] | None = None,
        preset_name: str | None = None,
        *,
        check: bool = True,
    ) -> ResolvedParameters:
        """The effective parameters for a /complete in this channel.

        `options` are what the member typed (None values mean "not given";
        `stop` and `logit_bias` may be the raw text). Raises ParameterError
        for a bad option, an unknown preset or (unless `check` is false) a
        model the server does not allow or values that clash.
        Reads come from the services' caches: no database round trip when
        nothing changed.
        """
        config = await self.settings.get(guild_id)
        presets: GuildPresets | None = None
        if guild_id is not None:
            presets = await self.presets.snapshot(guild_id)

        layers: list[tuple[str, Mapping[str, Any]]] = [("bot default", self.bot_defaults)]
        layers.append(("server", config.parameter_defaults()))
        preset_used: str | None = None
        if presets is not None and channel_id is not None:
            channel_preset = presets.for_channel(channel_id)
            if channel_preset is not None:
                layers.append((f"channel preset:{channel_preset.name}", channel_preset.params))
                preset_used = channel_preset.name
        if preset_name:
            chosen = self._chosen_preset(presets, preset_name)
            layers.append((f"preset:{chosen.name}", chosen.params))
            preset_used = chosen.name

        option_values, stream_option = self._parse_options(options or {})
        layers.append(("option", option_values))

        params: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for label, layer in layers:
            if any(layer.get(key) is not None for key in _BIAS_KEYS):
                for key in _BIAS_KEYS:
                    params.pop(key, None)
                    sources.pop(key, None)
            for key, value in layer.items():
                if value is not None:
                    params[key] = value
                    sources[key] = label

        if config.sampling != DEFAULT_SAMPLING:
            params["sampling"] = config.sampling  # how the request is sent, not a parameter
        clamped = self._clamp(params, config)
        if check:
            self._check_model(params, sources, config)

        stream = config.stream if stream_option is None else stream_option
        if stream and (params.get("best_of") or 1) > 1:
            # A ranked best_of cannot be shown before every candidate is done.
            stream = False
            clamped.append(_("stream was turned off: best_of compares complete candidates."))
        if check:
            check_together(params)
        return ResolvedParameters(
            params=params,
            sources=sources,
            clamped=clamped,
            clean_mode=config.clean_mode,
            stream=stream,
            preset=preset_used,
        )

    async def effective(self, guild_id: int, channel_id: int | None = None) -> ResolvedParameters:
        """What a /complete with no options would use here (for /settings show).

        Never refuses: when /complete would (e.g. the channel's preset names a
        model the server no longer allows), `problem` says why, so an admin
        still sees everything and can fix it.
        """
        try:
            return await self.resolve(guild_id, channel_id, {}, None)
        except ParameterError as err:
            resolved = await self.resolve(guild_id, channel_id, {}, None, check=False)
            return replace(resolved, problem=err.msg)

    @staticmethod
    def _chosen_preset(presets: GuildPresets | None, name: str) -> Preset:
        if presets is None:
            raise ParameterError(
                "preset",
                name,
                _("a preset of this server"),
                _("Presets belong to servers: use /complete without preset: in direct messages."),
            )
        preset = presets.get(name)
        if preset is None:
            if not presets.presets:
                raise ParameterError(
                    "preset",
                    name,
                    _("a preset of this server"),
                    _(
                        "preset {name} does not exist on this server, which has no presets yet: "
                        "someone with Manage Server can make one with /preset create.",
                        name=repr(name),
                    ),
                )
            raise ParameterError(
                "preset",
                name,
                _("a preset of this server"),
                _(
                    "preset {name} does not exist on this server: use one of {names}.",
                    name=repr(name),
                    names=join(sorted(presets.presets)),
                ),
            )
        return preset

    @staticmethod
    def _parse_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], bool | None]:
        values: dict[str, Any] = {}
        stream: bool | None = None
        for name, raw in options.items():
            if raw is None or name in _NOT_PARAMETERS:
                continue
            if name == "stream":
                stream = CompletionRequest.build(prompt="", stream=raw).stream
            elif name in PRESET_PARAMS:
                values.update(parse_param(name, raw))
            elif name in CompletionRequest.model_fields:
                values.update(
                    {name: getattr(CompletionRequest.build(prompt="", **{name: raw}), name)}
                )
            else:
                raise not_a_parameter(name, raw)
        return values, stream

    @staticmethod
    def _clamp(params: dict[str, Any], config: ServerConfig) -> list[str | Msg]:
        notes: list[str | Msg] = []
        lowered: set[str] = set()
        for name, limit in (
            ("max_tokens", config.max_tokens_limit),
            ("n", config.n_limit),
            ("best_of", config.best_of_limit),
        ):
            value = params.get(name)
            if value is not None and value > limit:
                params[name] = limit
                lowered.add(name)
                notes.append(
                    _(
                        "{param} {value} was lowered to the server limit of {limit}.",
                        param=name,
                        value=value,
                        limit=limit,
                    )
                )
        n, best_of = params.get("n"), params.get("best_of")
        if "best_of" in lowered and n is not None and best_of is not None and best_of < n:
            # The limit pushed best_of below n: return as many as are generated.
            params["n"] = best_of
            notes.append(
                _("n {n} was lowered to {best_of} to match best_of.", n=n, best_of=best_of)
            )
        return notes

    @staticmethod
    def _check_model(params: dict[str, Any], sources: dict[str, str], config: ServerConfig) -> None:
        allowed = config.allowed_models
        if not allowed:
            return
        model = params.get("model")
        if model in allowed:
            return
        if sources.get("model") in (None, "bot default"):
            # The bot's own default is not one the server allows: use the
            # server's first allowed model rather than refusing everyone.
            params["model"] = allowed[0]
            sources["model"] = "server"
            return
        raise ParameterError(
            "model",
            model,
            join(allowed),
            _(
                "model {model} is not allowed on this server: use one of {names}.",
                model=repr(model),
                names=join(allowed),
            ),
        )
