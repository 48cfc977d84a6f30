"""/complete and the buttons on its replies: the commands and click handlers in `_cog`,
the persistent button items in `_views` (registered here, so they work after a restart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.completions._cog import Completions
from cogs.completions._views import DYNAMIC_ITEMS

if TYPE_CHECKING:
    from bot.app import CoupletBot

__all__ = ["DYNAMIC_ITEMS", "setup"]


async def setup(bot: CoupletBot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Completions(bot))


async def teardown(bot: CoupletBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
