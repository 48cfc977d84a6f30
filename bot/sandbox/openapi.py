"""Request bodies checked against Discord's OpenAPI spec (the extract in discord_openapi.json).

The spec is a public preview and loose where the docs are strict (content
maxLength 4000, not 2000): the documented limits stay in `limits.py` and
`command_rules.py`; this check adds the shapes and types the spec states. Its
quirks, handled here:
- `anyOf` unions marked `x-discord-union: oneOf` are validated as `anyOf`
  (a body matching more than one branch is fine);
- Discord accepts a string for an integer field when it parses as one, and an
  integer for a snowflake (discord.py sends `default_member_permissions` as "8"
  and allowed_mentions ids as numbers);
- so `oneOf` is validated as `anyOf` too: with those, a nonce like "123" fits
  both its integer and its string branch, which Discord accepts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from bot.sandbox.limits import FieldError

EXTRACT = "discord_openapi.json"
URI = "urn:couplet:discord-openapi"
INTEGER_STRING = re.compile(r"-?\d+")
_BASE = Draft202012Validator.VALIDATORS

# The request bodies in the extract (see scripts/extract_discord_schemas.py).
REQUESTS = (
    "bulk_overwrite_commands",
    "interaction_callback",
    "execute_webhook",
    "edit_webhook_message",
    "create_message",
    "edit_message",
    "modify_guild_member",
    "create_auto_moderation_rule",
)
# The responses in the extract: what the emulator serves, checked before it is served.
RESPONSES = ("list_auto_moderation_rules",)


@cache
def extract() -> dict[str, Any]:
    """The vendored extract: source, request bodies and the schemas they reference."""
    text = resources.files("bot.sandbox").joinpath(EXTRACT).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def locales() -> frozenset[str]:
    """Discord's locales (AvailableLocalesEnum): the keys a *_localizations map may use."""
    schema = extract()["components"]["schemas"]["AvailableLocalesEnum"]
    return frozenset(item["const"] for item in schema["oneOf"])


def _as_integer(instance: Any) -> Any:
    if isinstance(instance, str) and INTEGER_STRING.fullmatch(instance):
        return int(instance)
    return instance


def _type(validator: Any, types: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    wanted = types if isinstance(types, list) else [types]
    integer_as_string = "integer" in wanted and isinstance(_as_integer(instance), int)
    snowflake_as_integer = (
        schema.get("format") == "snowflake"
        and isinstance(instance, int)
        and not isinstance(instance, bool)
    )
    if integer_as_string or snowflake_as_integer:
        return
    yield from _BASE["type"](validator, types, instance, schema)


def _numeric(keyword: str) -> Any:
    def check(validator: Any, bound: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
        yield from _BASE[keyword](validator, bound, _as_integer(instance), schema)

    return check


DiscordValidator = validators.extend(
    Draft202012Validator,
    validators={
        "oneOf": _BASE["anyOf"],
        "type": _type,
        "minimum": _numeric("minimum"),
        "maximum": _numeric("maximum"),
        "exclusiveMinimum": _numeric("exclusiveMinimum"),
        "exclusiveMaximum": _numeric("exclusiveMaximum"),
    },
)


@cache
def _validator(section: str, name: str) -> Any:
    known = REQUESTS if section == "requests" else RESPONSES
    if name not in known:
        raise KeyError(f"no {section[:-1]} {name!r} in the extract")
    resource = Resource.from_contents(extract(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(URI, resource)
    return DiscordValidator({"$ref": f"{URI}#/{section}/{name}"}, registry=registry)


def _check(section: str, name: str, body: Any) -> list[FieldError]:
    found: list[FieldError] = []
    for error in _validator(section, name).iter_errors(body):
        found += _field_errors(error)
    # jsonschema reports `required` once per missing field, each naming all of them.
    return list(dict.fromkeys(found))


def check_body(request: str, body: Any) -> list[FieldError]:
    """Every way `body` breaks the spec's schema for `request`, as Discord's field errors."""
    return _check("requests", request, body)


def check_response(response: str, body: Any) -> list[FieldError]:
    """Every way a body the emulator would serve breaks the spec's schema for `response`."""
    return _check("responses", response, body)


# ------------------------------------------------------------ error shape


def _path(error: ValidationError, *more: Any) -> str:
    parts = [str(p) for p in (*error.absolute_path, *more)]
    return ".".join(parts) or "_root"


def _field_errors(error: ValidationError) -> list[FieldError]:
    """One jsonschema error as Discord's errors; a union is reported through its branch."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branch = _matching_branch(error)
        if branch is not None:
            return [e for sub in branch for e in _field_errors(sub)]
        return [_no_branch(error)]
    if error.validator == "required":
        return [
            FieldError(_path(error, name), "BASE_TYPE_REQUIRED", "This field is required")
            for name in error.validator_value
            if isinstance(error.instance, dict) and name not in error.instance
        ]
    return [FieldError(_path(error), *_code_and_message(error))]


def _matching_branch(error: ValidationError) -> list[ValidationError] | None:
    """The errors of the union branch meant for this value, if one is of its kind.

    A branch is of another kind when the value's type or its `type`
    discriminator (a component's, an option's, a callback's) does not match it.
    Of the rest, the one with fewest errors is taken.
    """
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    candidates = [errors for errors in branches.values() if not any(map(_other_kind, errors))]
    return min(candidates, key=len) if candidates else None


def _other_kind(sub: ValidationError) -> bool:
    """Whether this error says the value is not of the branch's kind at all."""
    path = list(sub.relative_path)
    if not path:
        # Another JSON type, or another constant of an enum written as a union of consts.
        return sub.validator in ("type", "const", "enum")
    return path == ["type"] and sub.validator in ("enum", "const", "allOf", "oneOf", "type")


def _no_branch(error: ValidationError) -> FieldError:
    """A union none of whose branches is of the value's kind: name what is allowed."""
    discriminated = isinstance(error.instance, dict) and "type" in error.instance
    where = _path(error, "type") if discriminated else _path(error)
    allowed: list[Any] = []
    kinds: list[str] = []
    for sub in error.context or []:
        if sub.validator == "const":
            allowed.append(sub.validator_value)
        elif sub.validator == "enum":
            allowed += sub.validator_value
        elif sub.validator == "type" and not sub.relative_path:
            value = sub.validator_value
            kinds += value if isinstance(value, list) else [value]
    if allowed:
        try:
            ordered = sorted(set(allowed))
        except TypeError:
            ordered = sorted(set(allowed), key=str)
        choices = ", ".join(str(a) for a in ordered)
        return FieldError(where, "BASE_TYPE_CHOICES", f"Value must be one of ({choices}).")
    if kinds:
        return FieldError(
            where, "UNION_TYPE_CHOICES", f"Must be of type {' or '.join(dict.fromkeys(kinds))}."
        )
    return FieldError(where, "UNION_TYPE_CHOICES", "Value is not a valid choice here.")


def _code_and_message(error: ValidationError) -> tuple[str, str]:
    schema, keyword, value = error.schema, error.validator, error.instance
    if not isinstance(schema, dict):
        return "BASE_TYPE_BAD_VALUE", error.message
    if keyword in ("maxLength", "minLength", "maxItems", "minItems", "maxProperties"):
        kind = "Length" if keyword.endswith("Length") else "Items"
        low, high = schema.get(f"min{kind}"), schema.get(f"max{kind}")
        if low and high is not None:
            return "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length."
        if keyword.startswith("max"):
            return "BASE_TYPE_MAX_LENGTH", f"Must be {error.validator_value} or fewer in length."
        return "BASE_TYPE_MIN_LENGTH", f"Must be {error.validator_value} or more in length."
    if keyword == "type":
        types = error.validator_value
        wanted = types if isinstance(types, list) else [types]
        if "integer" in wanted or "number" in wanted:
            return "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.'
        if "object" in wanted:
            return "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
        if "array" in wanted:
            return "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType"
        return "BASE_TYPE_BAD_VALUE", f"Must be of type {' or '.join(map(str, wanted))}."
    if keyword in ("enum", "const"):
        allowed = error.validator_value if keyword == "enum" else [error.validator_value]
        return "BASE_TYPE_CHOICES", f"Value must be one of {tuple(allowed)}."
    if keyword in ("minimum", "exclusiveMinimum"):
        return "NUMBER_TYPE_MIN", f"Must be greater than or equal to {error.validator_value}."
    if keyword in ("maximum", "exclusiveMaximum"):
        return "NUMBER_TYPE_MAX", f"Must be less than or equal to {error.validator_value}."
    if keyword == "pattern" and schema.get("format") == "snowflake":
        return "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.'
    return "BASE_TYPE_BAD_VALUE", error.message
