"""/limits and /usage: the limits in `_limits`, a member's and a server's use in
`_usage`, the text both show in `_text`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.usage._limits import Limits
from cogs.usage._usage import Usage

if TYPE_CHECKING:
    from bot.app import CoupletBot

__all__ = ["setup"]


async def setup(bot: CoupletBot) -> None:
    await bot.add_cog(Limits(bot))
    await bot.add_cog(Usage(bot))
