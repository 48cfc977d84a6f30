"""Storage: SQLAlchemy models, repositories, the engine and the read-through cache.

Nothing here imports discord.py; services use it through `Database`.
"""

import importlib
import pkgutil

from bot.storage.cache import GuildCache
from bot.storage.database import Database, normalize_url
from bot.storage.models import AuditEntry, Base, ChannelPreset, GuildSetting, PresetRow


def load_models() -> None:
    """Import every module of this package, so each table is on `Base.metadata`.

    Alembic's autogenerate and the schema test compare against the metadata;
    tables declared in any module here must be registered first.
    """
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


__all__ = [
    "AuditEntry",
    "Base",
    "ChannelPreset",
    "Database",
    "GuildCache",
    "GuildSetting",
    "PresetRow",
    "load_models",
    "normalize_url",
]
