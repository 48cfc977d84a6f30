"""A local Discord for end-to-end tests and the offline sandbox.

`FakeDiscord` serves REST v10 and the gateway over loopback so the real,
unmodified discord.py client can connect; `emulator.py` shows its parts and
`injection.py` what a test (or the terminal) can do as a user.
"""

from bot.sandbox.clock import FakeClock
from bot.sandbox.commands import UnknownCommand
from bot.sandbox.components import ComponentError
from bot.sandbox.emulator import FakeDiscord
from bot.sandbox.interactions import InteractionRecord, InteractionTimeout, Upload
from bot.sandbox.options import OptionError
from bot.sandbox.rate_limits import RateLimitInjection
from bot.sandbox.world import Channel, Guild, Member, Role, User

__all__ = [
    "Channel",
    "ComponentError",
    "FakeClock",
    "FakeDiscord",
    "Guild",
    "InteractionRecord",
    "InteractionTimeout",
    "Member",
    "OptionError",
    "RateLimitInjection",
    "Role",
    "UnknownCommand",
    "Upload",
    "User",
]
