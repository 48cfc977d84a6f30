"""The wheel, installed into a fresh virtual environment, works outside the checkout.

The wheel is built from an sdist (as a package index would), installed with
`pip install --no-deps`, and the fresh environment sees this environment's
dependencies (discord.py, llama-cpp-python, …) through a .pth file, so the
test needs no network. `bot` and `cogs` come from the wheel, never from the
checkout: the first test proves it.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.storage.database import REPO_ROOT
from tests.storage.test_migrations import head_revision
from tests.support.cli import couplet_command, settings_env

SHIPPED = "bot/storage/migrations"
# The deadline only bounds a hang; building and installing take seconds.
DEADLINE = 600


@dataclass
class Installed:
    wheel: Path
    python: Path  # the fresh environment's interpreter
    site_packages: Path
    workdir: Path  # an empty directory outside the checkout

    def couplet(
        self, *args: str, stdin: str = "", **settings: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the fresh environment's `couplet` console script in `workdir`."""
        env = settings_env(**settings)
        env.pop("PYTHONPATH", None)
        return subprocess.run(
            [*couplet_command(self.python), *args],
            input=stdin,
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )


def _run(*command: str | Path, cwd: Path) -> None:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=DEADLINE
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    # sdist first, then the wheel from the unpacked sdist: nothing from the
    # checkout reaches the wheel unless the sdist carries it.
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, REPO_ROOT, cwd=root)
    (wheel,) = dist.glob("couplet-*.whl")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _run(
        sys.executable, "-m", "pip", "--python", python, "install",
        "--no-deps", "--no-index", "--quiet", wheel,
        cwd=root,
    )  # fmt: skip
    site_packages = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # This environment's dependencies, after the fresh environment's own packages.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages / "couplet-test-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    workdir = root / "elsewhere"
    workdir.mkdir()
    return Installed(wheel, python, site_packages, workdir)


def test_wheel_ships_the_migrations_and_every_module(installed: Installed) -> None:
    """The wheel holds the Alembic env.py, script template and every revision under
    bot/storage/migrations, and every module of bot/ and cogs/."""
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert {f"{SHIPPED}/env.py", f"{SHIPPED}/script.py.mako"} <= names
    revisions = sorted((REPO_ROOT / "migrations" / "versions").glob("*.py"))
    assert revisions
    for revision in revisions:
        assert f"{SHIPPED}/versions/{revision.name}" in names
    for package in ("bot", "cogs"):
        for module in (REPO_ROOT / package).rglob("*.py"):
            assert module.relative_to(REPO_ROOT).as_posix() in names


def test_bot_and_cogs_come_from_the_wheel(installed: Installed) -> None:
    """In the fresh environment `bot`, `cogs` and the migrations resolve inside its own
    site-packages, not the checkout, while the dependencies come through the .pth file."""
    code = (
        "import bot, cogs, discord; from bot.storage.database import migrations_dir; "
        "print(bot.__file__); print(cogs.__file__); print(migrations_dir()); "
        "print(discord.__file__)"
    )
    out = subprocess.run(
        [installed.python, "-c", code],
        cwd=installed.workdir,
        env=settings_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert out.returncode == 0, out.stderr
    bot_file, cogs_file, migrations, discord_file = (Path(p) for p in out.stdout.split())
    for path in (bot_file, cogs_file, migrations):
        assert path.is_relative_to(installed.site_packages), path
        assert not path.is_relative_to(REPO_ROOT), path
    assert migrations == installed.site_packages / SHIPPED
    assert not discord_file.is_relative_to(installed.site_packages)


def test_db_upgrade_and_downgrade(installed: Installed) -> None:
    """`couplet db upgrade` migrates the default SQLite file in the working directory;
    `downgrade base` and `current` work too."""
    up = installed.couplet("db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert f"is at revision {head_revision()}" in up.stdout
    assert (installed.workdir / "data" / "couplet.db").is_file()
    down = installed.couplet("db", "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert "base (no tables)" in down.stdout
    again = installed.couplet("db", "upgrade")
    assert again.returncode == 0, again.stderr
    current = installed.couplet("db", "current")
    assert head_revision() in current.stdout


# What the bot does at start-up on a database that is behind: Alembic in a child process.
_CHILD_UPGRADE = """
import asyncio, sys
from bot.storage import Database

async def main():
    db = Database(sys.argv[1])
    await db.upgrade(in_child=True)
    await db.dispose()
    print("alembic imported" if "alembic" in sys.modules else "alembic not imported")

asyncio.run(main())
"""


def test_the_bots_child_process_migration_works_from_the_wheel(installed: Installed) -> None:
    """From the installed package, outside the checkout: the child process finds the
    shipped migrations and takes an empty database to head, Alembic never imported by
    the process that asked."""
    url = f"sqlite+aiosqlite:///{installed.workdir / 'child-upgrade.db'}"
    env = settings_env()
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(installed.python), "-P", "-c", _CHILD_UPGRADE, url],
        cwd=installed.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "alembic not imported"
    current = installed.couplet("db", "current", DATABASE_URL=url)
    assert head_revision() in current.stdout, current.stdout + current.stderr


def test_run_without_token_opens_the_sandbox_with_the_bundled_model(installed: Installed) -> None:
    """`couplet run` with no token and no backend: the sandbox banner, the bundled model
    started, a scripted /complete answered by it, everything stopped, exit 0."""
    script = '/complete prompt:"Once upon a time" max_tokens:4\nquit\n'
    result = installed.couplet("run", stdin=script)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert out.startswith("No DISCORD_TOKEN, so this is the sandbox: ")
    assert "starting the bundled local model" in out
    assert "-# gemma-3-270m · " in out, out
    assert out.rstrip().endswith("Local model stopped.")
    assert "Traceback" not in result.stderr


def test_sandbox_scripted(installed: Installed, local_model_url: str) -> None:
    """`couplet sandbox` runs a piped /complete and a Regenerate click against the model."""
    script = '/complete prompt:"The sky is" max_tokens:3\nclick Regenerate\nquit\n'
    result = installed.couplet("sandbox", stdin=script, COMPLETIONS_BASE_URL=local_model_url)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("-# gemma-3-270m · ") == 2, result.stdout
    assert "Traceback" not in result.stderr
