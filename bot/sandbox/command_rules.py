"""Discord's documented rules for application command definitions (bulk overwrite bodies),
including their localized names and descriptions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.sandbox.limits import FieldError, validate_choice
from bot.sandbox.openapi import locales

COMMAND_NAME_RE = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")
COMMAND_SIZE_MAX = 8000
OPTIONS_MAX = 25
CHOICES_MAX = 25
COMMANDS_MAX = 100
CONTEXT_MENUS_MAX = 15
SUBCOMMAND, SUBCOMMAND_GROUP = 1, 2
OPTION_TYPES = set(range(1, 12))


def too_long(path: str, limit: int) -> FieldError:
    return FieldError(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def validate_commands(commands: Any) -> list[FieldError]:
    """A bulk-overwrite body: names, descriptions, options, choices and sizes."""
    if not isinstance(commands, list):
        return [FieldError("_root", "BASE_TYPE_ARRAY", "Must be an array.")]
    errors: list[FieldError] = []
    by_type: dict[int, int] = {}
    names: set[tuple[int, str]] = set()
    for i, cmd in enumerate(commands):
        ctype = int(cmd.get("type", 1))
        by_type[ctype] = by_type.get(ctype, 0) + 1
        key = (ctype, str(cmd.get("name")))
        if key in names:
            errors.append(
                FieldError(
                    f"{i}.name",
                    "APPLICATION_COMMAND_ALREADY_EXISTS",
                    "Application command names must be unique",
                )
            )
        names.add(key)
        errors += _validate_command(cmd, str(i))
    if by_type.get(1, 0) > COMMANDS_MAX:
        errors.append(
            FieldError(
                "_root", "BASE_TYPE_MAX_LENGTH", f"Too many slash commands (max {COMMANDS_MAX})."
            )
        )
    for ctype in (2, 3):
        if by_type.get(ctype, 0) > CONTEXT_MENUS_MAX:
            errors.append(
                FieldError(
                    "_root",
                    "BASE_TYPE_MAX_LENGTH",
                    f"Too many context menus (max {CONTEXT_MENUS_MAX}).",
                )
            )
    return errors


def _longest(item: dict[str, Any], field: str) -> int:
    """A field's size: its longest localization, or the default text if that is longer."""
    texts = [str(item.get(field) or ""), *(item.get(f"{field}_localizations") or {}).values()]
    return max(len(str(text)) for text in texts)


def command_size(cmd: dict[str, Any]) -> int:
    """Characters counted towards the 8000 limit: names, descriptions, choices (for each,
    only its longest localization counts, as Discord documents)."""
    total = _longest(cmd, "name") + _longest(cmd, "description")
    for opt in cmd.get("options") or []:
        total += command_size(opt)
        for choice in opt.get("choices") or []:
            total += _longest(choice, "name") + len(str(choice.get("value") or ""))
    return total


def _validate_command(cmd: dict[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    ctype = int(cmd.get("type", 1))
    name = cmd.get("name")
    if ctype == 1:
        if not is_slash_name(name):
            errors.append(
                FieldError(
                    f"{path}.name",
                    "APPLICATION_COMMAND_INVALID_NAME",
                    f"Command name {name!r} is invalid",
                )
            )
        errors += _check_description(cmd.get("description"), path)
        errors += _check_localizations(cmd, path, is_slash_name)
        errors += _validate_options(cmd.get("options") or [], f"{path}.options", depth=0)
    elif ctype in (2, 3):
        if not is_menu_name(name):
            errors.append(
                FieldError(
                    f"{path}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
                )
            )
        errors += _check_localizations(cmd, path, is_menu_name)
        if cmd.get("description"):
            errors.append(
                FieldError(
                    f"{path}.description",
                    "BASE_TYPE_BAD_VALUE",
                    "Context menu commands cannot have a description.",
                )
            )
        if cmd.get("options"):
            errors.append(
                FieldError(
                    f"{path}.options",
                    "BASE_TYPE_BAD_VALUE",
                    "Context menu commands cannot have options.",
                )
            )
    else:
        errors.append(
            FieldError(f"{path}.type", "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3).")
        )
    if command_size(cmd) > COMMAND_SIZE_MAX:
        errors.append(
            FieldError(
                path,
                "APPLICATION_COMMAND_TOO_LARGE",
                f"Command exceeds maximum size ({COMMAND_SIZE_MAX})",
            )
        )
    return errors


def is_slash_name(name: object) -> bool:
    """A slash command's or an option's name: 1–32 letters, digits, - _ ', lower case if any."""
    return isinstance(name, str) and bool(COMMAND_NAME_RE.match(name)) and name == name.lower()


def is_menu_name(name: object) -> bool:
    """A context menu command's name: any 1–32 characters."""
    return isinstance(name, str) and 1 <= len(name) <= 32


def is_choice_name(name: object) -> bool:
    """A choice's (localized) name: any 1–100 characters."""
    return isinstance(name, str) and 1 <= len(name) <= 100


def _check_description(desc: object, path: str, field: str = "description") -> list[FieldError]:
    """Discord's rule for a command's or an option's description: 1 to 100 characters."""
    if isinstance(desc, str) and 1 <= len(desc) <= 100:
        return []
    why = "Must be between 1 and 100 in length."
    return [FieldError(f"{path}.{field}", "BASE_TYPE_BAD_LENGTH", why)]


def _check_localizations(
    item: dict[str, Any], path: str, name_ok: Callable[[object], bool]
) -> list[FieldError]:
    """`name_localizations` and `description_localizations`: keys are Discord locales
    (en-US, zh-CN, …), each name follows the name rule, each description 1–100 characters."""
    errors: list[FieldError] = []
    for key in ("name_localizations", "description_localizations"):
        for locale, text in (item.get(key) or {}).items():
            where = f"{key}.{locale}"
            if locale not in locales():
                errors.append(
                    FieldError(
                        f"{path}.{where}",
                        "BASE_TYPE_CHOICES",
                        f"{locale!r} is not a Discord locale (such as en-US or zh-CN).",
                    )
                )
            elif key == "description_localizations":
                errors += _check_description(text, path, where)
            elif not name_ok(text):
                errors.append(
                    FieldError(
                        f"{path}.{where}",
                        "APPLICATION_COMMAND_INVALID_NAME",
                        f"Localized name {text!r} is invalid",
                    )
                )
    return errors


def _validate_options(options: list[dict[str, Any]], path: str, depth: int) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(options) > OPTIONS_MAX:
        errors.append(too_long(path, OPTIONS_MAX))
    seen_optional = False
    names: set[str] = set()
    kinds = {opt.get("type") in (SUBCOMMAND, SUBCOMMAND_GROUP) for opt in options}
    if len(kinds) > 1:
        errors.append(
            FieldError(
                path,
                "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                "Subcommands cannot be mixed with other options.",
            )
        )
    for i, opt in enumerate(options):
        p = f"{path}.{i}"
        otype = opt.get("type")
        name = opt.get("name")
        if otype not in OPTION_TYPES:
            errors.append(
                FieldError(
                    f"{p}.type",
                    "BASE_TYPE_CHOICES",
                    f"Value must be one of {sorted(OPTION_TYPES)}.",
                )
            )
            continue
        if not is_slash_name(name):
            errors.append(
                FieldError(
                    f"{p}.name",
                    "APPLICATION_COMMAND_INVALID_NAME",
                    f"Option name {name!r} is invalid",
                )
            )
        if name in names:
            errors.append(
                FieldError(
                    f"{p}.name",
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    "Option names must be unique",
                )
            )
        names.add(str(name))
        errors += _check_description(opt.get("description"), p)
        errors += _check_localizations(opt, p, is_slash_name)
        if otype in (SUBCOMMAND, SUBCOMMAND_GROUP):
            # Only one level of nesting: a group holds subcommands, a subcommand holds options.
            if depth >= 2 or (depth == 1 and otype == SUBCOMMAND_GROUP):
                errors.append(
                    FieldError(
                        f"{p}.type",
                        "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                        "Too deeply nested.",
                    )
                )
            sub = opt.get("options") or []
            if otype == SUBCOMMAND_GROUP and any(o.get("type") != SUBCOMMAND for o in sub):
                errors.append(
                    FieldError(
                        f"{p}.options",
                        "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                        "A group holds subcommands only.",
                    )
                )
            errors += _validate_options(sub, f"{p}.options", depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                errors.append(
                    FieldError(
                        f"{p}.required",
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if choices:
            if otype not in (3, 4, 10):
                errors.append(
                    FieldError(
                        f"{p}.choices",
                        "BASE_TYPE_BAD_VALUE",
                        "Only string, integer and number options take choices.",
                    )
                )
            if opt.get("autocomplete"):
                errors.append(
                    FieldError(
                        f"{p}.autocomplete",
                        "BASE_TYPE_BAD_VALUE",
                        "Autocomplete and choices are exclusive.",
                    )
                )
            if len(choices) > CHOICES_MAX:
                errors.append(too_long(f"{p}.choices", CHOICES_MAX))
            for k, choice in enumerate(choices):
                errors += validate_choice(choice, otype, f"{p}.choices.{k}")
                errors += _check_localizations(choice, f"{p}.choices.{k}", is_choice_name)
        if otype == 3:
            for key, lo, hi in (("min_length", 0, 6000), ("max_length", 1, 6000)):
                if opt.get(key) is not None and not lo <= int(opt[key]) <= hi:
                    errors.append(
                        FieldError(
                            f"{p}.{key}", "NUMBER_TYPE_MAX", f"Must be between {lo} and {hi}."
                        )
                    )
        if otype in (4, 10):
            low, high = opt.get("min_value"), opt.get("max_value")
            if low is not None and high is not None and low > high:
                errors.append(
                    FieldError(
                        f"{p}.min_value",
                        "BASE_TYPE_BAD_VALUE",
                        "min_value must not exceed max_value.",
                    )
                )
        elif opt.get("min_value") is not None or opt.get("max_value") is not None:
            errors.append(
                FieldError(
                    f"{p}.min_value",
                    "BASE_TYPE_BAD_VALUE",
                    "Only integer and number options take min/max values.",
                )
            )
    return errors
