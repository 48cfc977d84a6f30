"""A local Discord for end-to-end tests and the offline sandbox.

`FakeDiscord` serves REST v10 and the gateway over loopback so the real,
unmodified discord.py client can connect; see `emulator.py` for the injection API.
"""

from bot.sandbox.clock import FakeClock
from bot.sandbox.emulator import ComponentError, FakeDiscord, RateLimitInjection, UnknownCommand
from bot.sandbox.interactions import InteractionRecord, InteractionTimeout, Upload
from bot.sandbox.options import OptionError
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
