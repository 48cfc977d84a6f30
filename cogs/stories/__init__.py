"""/story and its buttons: the commands, click handlers and the round sweeper in `_cog`,
the persistent buttons and the forms in `_views` (registered here, so they work after a
restart and from any process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.stories._cog import Stories
from cogs.stories._views import DYNAMIC_ITEMS

if TYPE_CHECKING:
    from bot.app import CoupletBot

__all__ = ["DYNAMIC_ITEMS", "setup"]


async def setup(bot: CoupletBot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Stories(bot))


async def teardown(bot: CoupletBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
