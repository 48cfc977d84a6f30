"""The Completions cog's persistent buttons: rendered data → custom_id → the same data again."""

from __future__ import annotations

from dataclasses import replace

import discord
import pytest

from bot.render.buttons import (
    Button,
    ContinueButton,
    PageButton,
    RegenerateButton,
    TokenPageButton,
    TokensButton,
)
from cogs.completions import DYNAMIC_ITEMS
from cogs.completions._views import item_for, view_for

SPECS: list[Button] = [
    PageButton("prev", 12345678901234, 0, disabled=True),
    PageButton("next", 12345678901234, 3),
    RegenerateButton(42),
    ContinueButton(42, 2),
    TokensButton(42, 1),
    TokenPageButton("prev", 42, 1, 0, disabled=True),
    TokenPageButton("next", 42, 1, 4),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{type(s).__name__}-{s.label}")
async def test_a_click_rebuilds_the_button_it_was_rendered_from(spec: Button) -> None:
    """Exactly one registered item matches the custom_id, and it rebuilds the same button."""
    item = item_for(spec)
    custom_id = item.item.custom_id
    assert custom_id is not None and len(custom_id) <= 100
    assert item.item.label == str(spec.label)
    assert item.item.style is discord.ButtonStyle[spec.style.value]
    assert item.item.disabled is spec.disabled
    matching = [
        cls for cls in DYNAMIC_ITEMS if cls.__discord_ui_compiled_template__.fullmatch(custom_id)
    ]
    assert matching == [type(item)]
    match = type(item).__discord_ui_compiled_template__.fullmatch(custom_id)
    assert match is not None
    rebuilt = await type(item).from_custom_id(None, item.item, match)  # type: ignore[arg-type]
    # The click does not know whether the button was shown disabled; everything else survives.
    assert rebuilt.spec == replace(spec, disabled=False)  # type: ignore[attr-defined]


async def test_view_holds_the_buttons_in_order_or_is_none() -> None:
    """A message without buttons gets no view; otherwise the items follow the rendered order."""
    assert view_for(()) is None
    view = view_for(SPECS[:5])
    assert view is not None
    labels = [child.item.label for child in view.children]  # type: ignore[attr-defined]
    assert labels == [str(s.label) for s in SPECS[:5]]
