"""/moderation and the review queue: the commands, AutoMod rule events and the
decision handlers in `_cog`, the persistent review buttons in `_views`
(registered here, so they work after a restart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.moderation._cog import Moderation
from cogs.moderation._views import DYNAMIC_ITEMS

if TYPE_CHECKING:
    from bot.app import CoupletBot

__all__ = ["DYNAMIC_ITEMS", "setup"]


async def setup(bot: CoupletBot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(Moderation(bot))


async def teardown(bot: CoupletBot) -> None:
    bot.remove_dynamic_items(*DYNAMIC_ITEMS)
