"""Buttons, selects and modals as a user meets them: find the one meant, check it can be used,
fill in a form. Each refusal says what the user could have used instead."""

from __future__ import annotations

from typing import Any

from bot.sandbox import limits


class ComponentError(LookupError):
    """No such (enabled) button or select on that message, or a form that cannot be sent."""


def components_of(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """The components inside a message's action rows."""
    return [c for row in msg.get("components") or [] for c in row.get("components") or []]


def pick_button(msg: dict[str, Any], label: str | None, custom_id: str | None) -> dict[str, Any]:
    """The button with that label or custom_id, if a user could click it."""
    buttons = [c for c in components_of(msg) if c.get("type") == 2]
    found = [
        b
        for b in buttons
        if (label is not None and b.get("label") == label)
        or (custom_id is not None and b.get("custom_id") == custom_id)
    ]
    if not found:
        labels = ", ".join(repr(b.get("label")) for b in buttons) or "none"
        raise ComponentError(
            f"no button {label or custom_id!r} on message {msg['id']} (buttons: {labels})"
        )
    button = found[0]
    if button.get("disabled"):
        raise ComponentError(f"button {label or custom_id!r} is disabled")
    if button.get("style") in (5, 6):
        raise ComponentError(f"button {label or custom_id!r} is a link or premium button")
    return button


def pick_select(msg: dict[str, Any], values: list[str], custom_id: str | None) -> dict[str, Any]:
    """The string select (the first, or the one with `custom_id`) that accepts `values`."""
    selects = [c for c in components_of(msg) if c.get("type") == 3]
    select = next((s for s in selects if custom_id in (None, s.get("custom_id"))), None)
    if select is None:
        raise ComponentError(f"no select {custom_id!r} on message {msg['id']}")
    allowed = {o["value"] for o in select.get("options") or []}
    lo, hi = select.get("min_values", 1), select.get("max_values", 1)
    if not set(values) <= allowed or not lo <= len(values) <= hi:
        raise ComponentError(
            f"values {values} not allowed (options {sorted(allowed)}, {lo}–{hi} picks)"
        )
    return select


def filled_modal(modal: dict[str, Any], values: dict[str, str]) -> list[dict[str, Any]]:
    """The `components` of a modal submission with `values` typed in.

    Keys are a field's custom_id or its label (any case); the key "" fills a
    modal's only text field. Fields not given keep the bot's default value.
    """
    inputs = [i for i in limits.modal_inputs(modal["components"]) if i.get("type") == 4]
    by_key: dict[str, str] = {}
    for key, value in values.items():
        if key == "" and len(inputs) == 1:
            by_key[inputs[0]["custom_id"]] = value
            continue
        item = next(
            (
                i
                for i in inputs
                if key == i.get("custom_id") or key.lower() == str(i.get("label") or "").lower()
            ),
            None,
        )
        if item is None:
            fields = ", ".join(str(i.get("label") or i.get("custom_id")) for i in inputs)
            raise ComponentError(
                f"modal {modal.get('title')!r} has no field {key!r} (fields: {fields})"
            )
        by_key[item["custom_id"]] = value

    def fill(item: dict[str, Any]) -> dict[str, Any]:
        value = by_key.get(item["custom_id"], str(item.get("value") or ""))
        if item.get("required", True) and not value:
            raise ComponentError(
                f"modal field {item.get('label') or item.get('custom_id')!r} is required"
            )
        lo, hi = item.get("min_length"), item.get("max_length")
        if value and ((lo is not None and len(value) < lo) or (hi is not None and len(value) > hi)):
            raise ComponentError(f"modal field {item.get('custom_id')!r}: length must be {lo}–{hi}")
        return {"type": 4, "custom_id": item["custom_id"], "value": value}

    components = []
    for comp in modal["components"]:
        if comp.get("type") == 1:
            components.append(
                {
                    "type": 1,
                    "components": [fill(c) for c in comp["components"] if c.get("type") == 4],
                }
            )
        elif comp.get("type") == 18 and (comp.get("component") or {}).get("type") == 4:
            components.append({"type": 18, "component": fill(comp["component"])})
    return components
