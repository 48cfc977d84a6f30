"""What Discord refuses: message, embed, component, modal, command and autocomplete limits.

Each validator returns a list of `FieldError`s (empty when the body is fine);
`form_error_body` turns them into Discord's 50035 "Invalid Form Body" JSON.
"""

from __future__ import annotations

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
        errors += validate_choice(choice, option_type, f"data.choices.{i}")
    return errors


def validate_choice(choice: dict[str, Any], option_type: int, path: str) -> list[FieldError]:
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
