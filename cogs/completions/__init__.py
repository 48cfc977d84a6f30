"""/complete and the buttons on its replies: the commands and click handlers in `_cog`,
the persistent button items in `_views` (registered by the bot at start-up)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.completions._cog import Completions
from cogs.completions._views import DYNAMIC_ITEMS

if TYPE_CHECKING:
    from bot.app import CoupletBot

__all__ = ["DYNAMIC_ITEMS", "setup"]


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Completions(bot))
