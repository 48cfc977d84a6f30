"""What Discord refuses: message, embed, component, modal, command and autocomplete limits.

Each validator returns a list of `FieldError`s (empty when the body is fine);
`form_error_body` turns them into Discord's 50035 "Invalid Form Body" JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Message flags
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_FIELD_LIMITS = {"title": 256, "description": 4096}
EMBED_FIELDS_MAX = 25
ACTION_ROWS_MAX = 5
ROW_BUTTONS_MAX = 5
CUSTOM_ID_MAX = 100
BUTTON_LABEL_MAX = 80
SELECT_OPTIONS_MAX = 25
MODAL_TITLE_MAX = 45
MODAL_COMPONENTS_MAX = 5
TEXT_INPUT_MAX = 4000
AUTOCOMPLETE_CHOICES_MAX = 25
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
REQUEST_SIZE_LIMIT = 25 * 1024 * 1024
ATTACHMENTS_MAX = 10

# Error codes (topics/opcodes-and-status-codes)
UNKNOWN_INTERACTION = 10062
UNKNOWN_MESSAGE = 10008
UNKNOWN_CHANNEL = 10003
UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027
ALREADY_ACKNOWLEDGED = 40060
EMPTY_MESSAGE = 50006
INVALID_FORM_BODY = 50035
REQUEST_TOO_LARGE = 40005

COMMAND_NAME_RE = re.compile(r"^[-_'\w\u0900-\u097F\u0E00-\u0E7F]{1,32}$")
COMMAND_SIZE_MAX = 8000
OPTIONS_MAX = 25
CHOICES_MAX = 25
COMMANDS_MAX = 100
CONTEXT_MENUS_MAX = 15


@dataclass(frozen=True)
class FieldError:
    """One refused field: dotted path, Discord's error code name and its message."""

    path: str
    code: str
    message: str


def form_error_body(errors: list[FieldError]) -> dict[str, Any]:
    """The nested `errors` object discord.py flattens into its exception text."""
    root: dict[str, Any] = {}
    for err in errors:
        node = root
        for part in err.path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": err.code, "message": err.message})
    return {"code": INVALID_FORM_BODY, "message": "Invalid Form Body", "errors": root}


def _too_long(path: str, limit: int) -> FieldError:
    return FieldError(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _embed_length(embed: dict[str, Any]) -> int:
    """Characters counted towards the 6000 total (whitespace-trimmed, as Discord does)."""
    total = len(str(embed.get("title") or "").strip())
    total += len(str(embed.get("description") or "").strip())
    total += len(str((embed.get("footer") or {}).get("text") or "").strip())
    total += len(str((embed.get("author") or {}).get("name") or "").strip())
    for fld in embed.get("fields") or []:
        total += len(str(fld.get("name") or "").strip()) + len(str(fld.get("value") or "").strip())
    return total


def validate_embeds(embeds: list[dict[str, Any]], prefix: str = "embeds") -> list[FieldError]:
    errors: list[FieldError] = []
    if len(embeds) > EMBEDS_MAX:
        errors.append(
            FieldError(prefix, "BASE_TYPE_MAX_LENGTH", f"Must be {EMBEDS_MAX} or fewer in length.")
        )
    total = 0
    for i, embed in enumerate(embeds):
        path = f"{prefix}.{i}"
        for key, limit in EMBED_FIELD_LIMITS.items():
            if len(str(embed.get(key) or "")) > limit:
                errors.append(_too_long(f"{path}.{key}", limit))
        footer = (embed.get("footer") or {}).get("text") or ""
        if len(footer) > 2048:
            errors.append(_too_long(f"{path}.footer.text", 2048))
        author = (embed.get("author") or {}).get("name") or ""
        if len(author) > 256:
            errors.append(_too_long(f"{path}.author.name", 256))
        fields = embed.get("fields") or []
        if len(fields) > EMBED_FIELDS_MAX:
            errors.append(_too_long(f"{path}.fields", EMBED_FIELDS_MAX))
        for j, fld in enumerate(fields):
            name, value = str(fld.get("name") or ""), str(fld.get("value") or "")
            if not name.strip() or len(name) > 256:
                errors.append(
                    FieldError(
                        f"{path}.fields.{j}.name",
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 256 in length.",
                    )
                )
            if not value.strip() or len(value) > 1024:
                errors.append(
                    FieldError(
                        f"{path}.fields.{j}.value",
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 1024 in length.",
                    )
                )
        total += _embed_length(embed)
    if total > EMBED_TOTAL_MAX:
        errors.append(
            FieldError(
                prefix,
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
            )
        )
    return errors


def _validate_custom_id(custom_id: Any, path: str, seen: set[str]) -> list[FieldError]:
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= CUSTOM_ID_MAX:
        return [
            FieldError(
                path, "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {CUSTOM_ID_MAX} in length."
            )
        ]
    if custom_id in seen:
        return [
            FieldError(
                path, "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
            )
        ]
    seen.add(custom_id)
    return []


def _validate_button(button: dict[str, Any], path: str, seen: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    label = button.get("label")
    if label is not None and len(str(label)) > BUTTON_LABEL_MAX:
        errors.append(_too_long(f"{path}.label", BUTTON_LABEL_MAX))
    style = button.get("style")
    if style == 5:
        if not button.get("url"):
            errors.append(FieldError(f"{path}.url", "BASE_TYPE_REQUIRED", "This field is required"))
    elif style != 6:
        errors += _validate_custom_id(button.get("custom_id"), f"{path}.custom_id", seen)
    if label is None and button.get("emoji") is None:
        errors.append(FieldError(f"{path}.label", "BASE_TYPE_REQUIRED", "This field is required"))
    return errors


def _validate_select(select: dict[str, Any], path: str, seen: set[str]) -> list[FieldError]:
    errors = _validate_custom_id(select.get("custom_id"), f"{path}.custom_id", seen)
    options = select.get("options")
    if select.get("type") == 3:
        if not options or len(options) > SELECT_OPTIONS_MAX:
            errors.append(
                FieldError(
                    f"{path}.options",
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {SELECT_OPTIONS_MAX} in length.",
                )
            )
        for k, option in enumerate(options or []):
            for key in ("label", "value"):
                if not 1 <= len(str(option.get(key) or "")) <= 100:
                    errors.append(
                        FieldError(
                            f"{path}.options.{k}.{key}",
                            "BASE_TYPE_BAD_LENGTH",
                            "Must be between 1 and 100 in length.",
                        )
                    )
    lo, hi = select.get("min_values", 1), select.get("max_values", 1)
    if not 0 <= lo <= 25 or not 1 <= hi <= 25 or lo > hi:
        errors.append(
            FieldError(
                f"{path}.max_values", "BASE_TYPE_BAD_VALUE", "min_values/max_values out of range."
            )
        )
    return errors


def validate_components(
    components: list[dict[str, Any]], prefix: str = "components"
) -> list[FieldError]:
    """Legacy action rows: at most 5 rows, 5 buttons or one select per row."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    if len(components) > ACTION_ROWS_MAX:
        errors.append(_too_long(prefix, ACTION_ROWS_MAX))
    for i, row in enumerate(components):
        path = f"{prefix}.{i}"
        if row.get("type") != 1:
            errors.append(
                FieldError(
                    f"{path}.type",
                    "UNION_TYPE_CHOICES",
                    "Top-level components must be action rows without IS_COMPONENTS_V2.",
                )
            )
            continue
        children = row.get("components") or []
        if not children:
            errors.append(
                FieldError(
                    f"{path}.components",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 5 in length.",
                )
            )
        buttons = [c for c in children if c.get("type") == 2]
        selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
        if len(buttons) > ROW_BUTTONS_MAX:
            errors.append(_too_long(f"{path}.components", ROW_BUTTONS_MAX))
        if selects and (len(selects) > 1 or buttons):
            errors.append(
                FieldError(
                    f"{path}.components",
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "A select menu must be alone in its row.",
                )
            )
        for j, child in enumerate(children):
            child_path = f"{path}.components.{j}"
            if child.get("type") == 2:
                errors += _validate_button(child, child_path, seen)
            elif child.get("type") in (3, 5, 6, 7, 8):
                errors += _validate_select(child, child_path, seen)
            else:
                errors.append(
                    FieldError(
                        f"{child_path}.type",
                        "UNION_TYPE_CHOICES",
                        "Unsupported component type here.",
                    )
                )
    return errors


def validate_message(
    body: dict[str, Any], *, prefix: str = "", allowed_flags: int, require_content: bool
) -> list[FieldError]:
    """A message create or edit body (content, embeds, components, flags, attachments)."""
    p = f"{prefix}." if prefix else ""
    errors: list[FieldError] = []
    content = body.get("content")
    if content is not None and len(str(content)) > CONTENT_MAX:
        errors.append(_too_long(f"{p}content", CONTENT_MAX))
    embeds = body.get("embeds") or []
    errors += validate_embeds(embeds, f"{p}embeds")
    flags = int(body.get("flags") or 0)
    if flags & IS_COMPONENTS_V2:
        errors.append(
            FieldError(
                f"{p}flags",
                "MESSAGE_FLAGS_UNSUPPORTED",
                "The emulator supports legacy components only.",
            )
        )
    elif flags & ~allowed_flags:
        errors.append(
            FieldError(f"{p}flags", "BASE_TYPE_BAD_VALUE", f"Flags {flags} are not allowed here.")
        )
    errors += validate_components(body.get("components") or [], f"{p}components")
    if len(body.get("attachments") or []) > ATTACHMENTS_MAX:
        errors.append(_too_long(f"{p}attachments", ATTACHMENTS_MAX))
    return errors


def is_empty_message(body: dict[str, Any], has_files: bool) -> bool:
    """Discord refuses a message with no content, embed, component, sticker or file (50006)."""
    return not (
        (body.get("content") or "").strip()
        or body.get("embeds")
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
        or has_files
    )


def validate_modal(data: dict[str, Any]) -> list[FieldError]:
    """A type-9 callback's modal: title ≤ 45, 1–5 components, text inputs within limits."""
    errors: list[FieldError] = []
    title = str(data.get("title") or "")
    if not 1 <= len(title) <= MODAL_TITLE_MAX:
        errors.append(
            FieldError(
                "data.title",
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MODAL_TITLE_MAX} in length.",
            )
        )
    seen: set[str] = set()
    errors += _validate_custom_id(data.get("custom_id"), "data.custom_id", seen)
    components = data.get("components") or []
    if not 1 <= len(components) <= MODAL_COMPONENTS_MAX:
        errors.append(
            FieldError(
                "data.components",
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MODAL_COMPONENTS_MAX} in length.",
            )
        )
    for i, item in enumerate(modal_inputs(components)):
        path = f"data.components.{i}"
        if item.get("type") != 4:
            continue
        errors += _validate_custom_id(item.get("custom_id"), f"{path}.custom_id", seen)
        for key in ("min_length", "max_length"):
            if item.get(key) is not None and not 0 <= int(item[key]) <= TEXT_INPUT_MAX:
                errors.append(
                    FieldError(
                        f"{path}.{key}",
                        "BASE_TYPE_BAD_VALUE",
                        f"Must be between 0 and {TEXT_INPUT_MAX}.",
                    )
                )
        if item.get("value") is not None and len(str(item["value"])) > TEXT_INPUT_MAX:
            errors.append(_too_long(f"{path}.value", TEXT_INPUT_MAX))
    return errors


def modal_inputs(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The interactive items of a modal, unwrapping action rows (type 1) and labels (type 18)."""
    found: list[dict[str, Any]] = []
    for comp in components:
        if comp.get("type") == 1:
            found += comp.get("components") or []
        elif comp.get("type") == 18:
            inner = dict(comp.get("component") or {})
            inner.setdefault("label", comp.get("label"))
            found.append(inner)
        else:
            found.append(comp)
    return found


def validate_autocomplete(choices: Any, option_type: int) -> list[FieldError]:
    """A type-8 callback: at most 25 choices, names 1–100, values of the option's type."""
    if not isinstance(choices, list):
        return [FieldError("data.choices", "BASE_TYPE_REQUIRED", "This field is required")]
    errors: list[FieldError] = []
    if len(choices) > AUTOCOMPLETE_CHOICES_MAX:
        errors.append(_too_long("data.choices", AUTOCOMPLETE_CHOICES_MAX))
    for i, choice in enumerate(choices):
        errors += _validate_choice(choice, option_type, f"data.choices.{i}")
    return errors


def _validate_choice(choice: dict[str, Any], option_type: int, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not 1 <= len(str(choice.get("name") or "")) <= 100:
        errors.append(
            FieldError(
                f"{path}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        )
    value = choice.get("value")
    if option_type == 3:
        if not isinstance(value, str) or len(value) > 100:
            errors.append(
                FieldError(
                    f"{path}.value",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be a string of 100 or fewer in length.",
                )
            )
    elif option_type == 4:
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(
                FieldError(f"{path}.value", "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')
            )
    elif option_type == 10:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(
                FieldError(
                    f"{path}.value", "NUMBER_TYPE_COERCE", f'Value "{value}" is not a number.'
                )
            )
    return errors


# ---------------------------------------------------------------- commands

SUBCOMMAND, SUBCOMMAND_GROUP = 1, 2
OPTION_TYPES = set(range(1, 12))


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


def command_size(cmd: dict[str, Any]) -> int:
    """Characters counted towards the 8000 limit: names, descriptions, choices."""
    total = len(str(cmd.get("name") or "")) + len(str(cmd.get("description") or ""))
    for opt in cmd.get("options") or []:
        total += command_size(opt)
        for choice in opt.get("choices") or []:
            total += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    return total


def _validate_command(cmd: dict[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    ctype = int(cmd.get("type", 1))
    name = cmd.get("name")
    if ctype == 1:
        if not isinstance(name, str) or not COMMAND_NAME_RE.match(name) or name != name.lower():
            errors.append(
                FieldError(
                    f"{path}.name",
                    "APPLICATION_COMMAND_INVALID_NAME",
                    f"Command name {name!r} is invalid",
                )
            )
        desc = cmd.get("description")
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            errors.append(
                FieldError(
                    f"{path}.description",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            )
        errors += _validate_options(cmd.get("options") or [], f"{path}.options", depth=0)
    elif ctype in (2, 3):
        if not isinstance(name, str) or not 1 <= len(name) <= 32:
            errors.append(
                FieldError(
                    f"{path}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
                )
            )
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


def _validate_options(options: list[dict[str, Any]], path: str, depth: int) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(options) > OPTIONS_MAX:
        errors.append(_too_long(path, OPTIONS_MAX))
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
        if not isinstance(name, str) or not COMMAND_NAME_RE.match(name) or name != name.lower():
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
        desc = opt.get("description")
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            errors.append(
                FieldError(
                    f"{p}.description",
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            )
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
                errors.append(_too_long(f"{p}.choices", CHOICES_MAX))
            for k, choice in enumerate(choices):
                errors += _validate_choice(choice, otype, f"{p}.choices.{k}")
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
