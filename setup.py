"""Which files go into Couplet's wheel; everything else is in pyproject.toml.

The Alembic environment and revisions stay at the top level, in migrations/,
where people look for them, and are installed inside the package as
`bot.storage.migrations` (a package-dir mapping), so that an installed
Couplet migrates its database without the checkout. pyproject.toml cannot add
a mapped package to the ones it finds, hence this file.
"""

from setuptools import find_namespace_packages, setup

MIGRATIONS = "bot.storage.migrations"

setup(
    packages=[
        *find_namespace_packages(
            include=["bot", "bot.*", "cogs", "cogs.*"], exclude=["*.__pycache__"]
        ),
        MIGRATIONS,
        f"{MIGRATIONS}.versions",
    ],
    package_dir={MIGRATIONS: "migrations"},
    package_data={
        MIGRATIONS: ["README", "script.py.mako"],
        # The emulator validates against this extract of Discord's OpenAPI spec at run time.
        "bot.sandbox": ["discord_openapi.json"],
        # Translation catalogs, one folder per locale.
        "bot.i18n": ["locales/*/*.po"],
    },
)
