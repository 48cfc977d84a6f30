"""Type-checking injected slash-command options against the synced command definition.

A Discord client can only send values that fit the registered options (type,
choices, min/max, required), so the emulator refuses anything else with an
`OptionError` before the bot ever sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SUBCOMMAND, SUBCOMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
TYPE_NAMES = {
    STRING: "a string",
    INTEGER: "an integer",
    BOOLEAN: "true or false",
    USER: "a member",
    CHANNEL: "a channel",
    ROLE: "a role",
    MENTIONABLE: "a member or role",
    NUMBER: "a number",
    ATTACHMENT: "a file",
}
MAX_SAFE_INTEGER = 2**53

# resolve(option_type, value, definition) -> (snowflake string, {resolved kind: {id: payload}})
Resolver = Callable[[int, Any, dict[str, Any]], tuple[str, dict[str, dict[str, Any]]]]


class OptionError(ValueError):
    """An injected interaction that a real Discord client could not send."""


def split_command(
    definition: dict[str, Any], words: list[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Walk `words` through subcommand groups; return the path and the leaf options."""
    options = definition.get("options") or []
    path: list[str] = []
    for word in words:
        sub = next(
            (
                o
                for o in options
                if o.get("name") == word and o.get("type") in (SUBCOMMAND, SUBCOMMAND_GROUP)
            ),
            None,
        )
        if sub is None:
            raise OptionError(f"/{definition['name']} has no subcommand {word!r}.")
        path.append(word)
        options = sub.get("options") or []
    if any(o.get("type") in (SUBCOMMAND, SUBCOMMAND_GROUP) for o in options):
        names = ", ".join(o["name"] for o in options)
        raise OptionError(
            f"/{' '.join([definition['name'], *path])} needs a subcommand: one of {names}."
        )
    return path, options


def nest(
    definition: dict[str, Any], path: list[str], leaf: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Wrap leaf options in their subcommand and group options, as Discord sends them."""
    options = definition.get("options") or []
    chain = []
    for word in path:
        sub = next(o for o in options if o.get("name") == word)
        chain.append(sub)
        options = sub.get("options") or []
    result = leaf
    for sub in reversed(chain):
        result = [{"type": sub["type"], "name": sub["name"], "options": result}]
    return result


def check_value(opt: dict[str, Any], value: Any, where: str) -> Any:
    """The JSON value for one option, or OptionError if a Discord client could not send it."""
    otype = opt["type"]
    name = opt["name"]

    def refuse(why: str) -> OptionError:
        return OptionError(f"{where} option {name!r}: {value!r} {why}.")

    if otype == STRING:
        if not isinstance(value, str):
            raise refuse("is not a string")
        lo, hi = opt.get("min_length"), opt.get("max_length")
        if lo is not None and len(value) < lo:
            raise refuse(f"is shorter than min_length {lo}")
        if len(value) > (hi if hi is not None else 6000):
            raise refuse(f"is longer than max_length {hi if hi is not None else 6000}")
    elif otype == INTEGER:
        if not isinstance(value, int) or isinstance(value, bool):
            raise refuse("is not an integer")
        if abs(value) > MAX_SAFE_INTEGER:
            raise refuse("is outside ±2^53")
    elif otype == NUMBER:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            raise refuse("is not a number")
    elif otype == BOOLEAN:
        if not isinstance(value, bool):
            raise refuse("is not true or false")
    if otype in (INTEGER, NUMBER):
        lo, hi = opt.get("min_value"), opt.get("max_value")
        if lo is not None and value < lo:
            raise refuse(f"is below min_value {lo}")
        if hi is not None and value > hi:
            raise refuse(f"is above max_value {hi}")
    choices = opt.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        allowed = ", ".join(repr(c["value"]) for c in choices)
        raise refuse(f"is not one of the choices ({allowed})")
    return value


def build_options(
    definition: dict[str, Any],
    words: list[str],
    values: dict[str, Any],
    resolve: Resolver,
    *,
    focused: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Discord's `data.options` and `data.resolved` for `/name words… values…`.

    With `focused` (autocomplete), the focused option carries the typed text as a
    string and required options may still be missing, as while the user types.
    """
    path, leaf_defs = split_command(definition, words)
    where = "/" + " ".join([definition["name"], *path])
    by_name = {o["name"]: o for o in leaf_defs}
    for key in values:
        if key not in by_name:
            known = ", ".join(by_name) or "none"
            raise OptionError(f"{where} has no option {key!r} (options: {known}).")
    if focused is not None and focused not in by_name:
        raise OptionError(f"{where} has no option {focused!r} to autocomplete.")
    if focused is not None and not by_name[focused].get("autocomplete"):
        raise OptionError(f"{where} option {focused!r} has no autocomplete.")
    leaf: list[dict[str, Any]] = []
    resolved: dict[str, dict[str, Any]] = {}
    for opt in leaf_defs:
        name = opt["name"]
        if name == focused:
            leaf.append(
                {
                    "type": opt["type"],
                    "name": name,
                    "value": str(values.get(name, "")),
                    "focused": True,
                }
            )
            continue
        if name not in values or values[name] is None:
            if opt.get("required") and focused is None:
                raise OptionError(f"{where} needs the required option {name!r}.")
            continue
        value = values[name]
        if opt["type"] in (USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT):
            snowflake, extra = resolve(opt["type"], value, opt)
            for kind, items in extra.items():
                resolved.setdefault(kind, {}).update(items)
            leaf.append({"type": opt["type"], "name": name, "value": snowflake})
        else:
            leaf.append(
                {"type": opt["type"], "name": name, "value": check_value(opt, value, where)}
            )
    return nest(definition, path, leaf), resolved


def coerce_text(opt: dict[str, Any], text: str) -> Any:
    """Turn typed text into the option's JSON type (for the terminal sandbox)."""
    otype = opt["type"]
    name = opt["name"]
    try:
        if otype == INTEGER:
            return int(text)
        if otype == NUMBER:
            return float(text)
    except ValueError:
        raise OptionError(f"option {name!r} needs {TYPE_NAMES[otype]}, not {text!r}.") from None
    if otype == BOOLEAN:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise OptionError(f"option {name!r} needs true or false, not {text!r}.")
    return text
