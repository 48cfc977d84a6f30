"""/complete and the buttons on its replies (commands in `_cog`, buttons in `_views`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.completions._cog import Completions

if TYPE_CHECKING:
    from bot.app import CoupletBot


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Completions(bot))
