"""The import graph follows the layers (README, Development): imports flow one way,
only the Discord adapters import discord.py, only storage imports SQLAlchemy,
and no two modules import each other at module level.

Imports are read from the source with `ast`. Imports under `if TYPE_CHECKING:`
never run and are ignored. Imports inside functions run (late), so they count
for the layer rules but not for cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "cogs")

# Which layer each module belongs to: the longest matching prefix wins.
LAYERS: dict[str, str] = {
    "bot.settings": "settings",
    "bot.errors": "errors",
    "bot.i18n": "i18n",
    "bot.completions": "completions",
    "bot.storage": "storage",
    "bot.moderation": "moderation",
    "bot.usage": "usage",
    "bot.stories": "stories",
    "bot.services": "services",
    "bot.render": "render",
    "bot.local_model": "local_model",
    "bot.sandbox": "sandbox",
    # The Discord adapters: the bot, the one error handler, and the helpers the
    # command cogs share (the Manage Server check, options, autocomplete). They
    # sit with the app, above the services and below the cogs.
    "bot.cluster": "cluster",
    "bot.app": "app",
    "bot.tree": "app",
    "bot.metrics": "app",
    "bot.health": "app",
    "bot.interaction_jobs": "app",
    "bot.command_helpers": "app",
    "bot.discord_endpoints": "app",
    "bot.discord_buckets": "app",
    "bot.memory": "app",
    "bot.background": "app",
    "bot.cli": "cli",
    "bot.__main__": "cli",
    "bot": "root",  # bot/__init__.py: a docstring
    "cogs": "cogs",
}

_BOTTOM = {"settings", "errors", "i18n"}
# Which layers each layer may import (besides its own). `errors` is for every
# layer: each raises domain errors.
MAY_IMPORT: dict[str, set[str]] = {
    "root": set(),
    "settings": set(),
    "i18n": set(),
    "errors": {"i18n"},
    "completions": _BOTTOM,
    "storage": _BOTTOM,
    "local_model": _BOTTOM,
    # What processes share live through Redis: leases, IDENTIFY turns, the
    # invalidation bus.
    "cluster": _BOTTOM,
    "moderation": _BOTTOM | {"storage"},
    "usage": _BOTTOM | {"storage"},
    "stories": _BOTTOM | {"completions", "storage", "moderation", "usage", "cluster"},
    "services": _BOTTOM | {"completions", "storage", "moderation", "usage", "stories", "cluster"},
    # Pure functions from results to messages (the result types are imported
    # for hints only, under TYPE_CHECKING).
    "render": {"errors", "i18n"},
    # The emulator stands alone; it starts the app (and the bundled model) only
    # to run the sandbox session.
    "sandbox": _BOTTOM | {"app", "local_model"},
    "app": _BOTTOM
    | {"completions", "storage", "moderation", "usage", "stories", "services", "render"}
    | {"local_model", "cluster", "cogs"},  # app finds and loads the cog extensions
    "cogs": _BOTTOM
    | {"completions", "storage", "moderation", "usage", "stories", "services", "render", "app"}
    | {"cluster"},
    "cli": set(LAYERS.values()) - {"cogs"},
}

# Third-party packages only some layers may import at run time.
RESTRICTED = {
    # Nothing below the cogs and the app talks to Discord (render only for type hints).
    "discord": {"app", "cogs", "cli"},
    # The repositories own the ORM and the migrations.
    "sqlalchemy": {"storage", "cli"},
    "alembic": {"storage", "cli"},
}

# Known edges still to be removed; each must still exist (a fixed one fails
# the test, so that it is taken off this list).
EXPECTED_TO_BE_FIXED: dict[tuple[str, str], str] = {}

When = Literal["module", "function", "type_checking"]


@dataclass(frozen=True)
class Import:
    """One import statement's effect: `source` imports `target` (a module, or a
    third-party top-level package)."""

    source: str
    target: str
    line: int
    when: When

    @property
    def internal(self) -> bool:
        return self.target.split(".")[0] in PACKAGES

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            modules[module_name(path, root)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(body: list[ast.stmt], when: When) -> Iterator[tuple[ast.stmt, When]]:
    """Every statement with when it runs: at import, in a function, or never."""
    for node in body:
        yield node, when
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, "type_checking")
            yield from _statements(node.orelse, when)
            continue
        inner: When = (
            "function" if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else when
        )
        for name in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, name, None)
            if isinstance(block, list):
                stmts = [s for s in block if isinstance(s, ast.stmt)]
                for handler in (h for h in block if isinstance(h, ast.ExceptHandler)):
                    stmts.extend(handler.body)
                yield from _statements(stmts, inner)


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest known module prefix of an internal dotted name."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) or name


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def add(target: str, line: int, when: When) -> None:
        top = target.split(".")[0]
        resolved = _resolve(target, modules) if top in PACKAGES else top
        if resolved != module:
            found.append(Import(module, resolved, line, when))

    for node, when in _statements(tree.body, "module"):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, when)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in modules else base, node.lineno, when)
    return list(dict.fromkeys(found))  # one entry per module and line


def all_imports(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[Import]:
    modules = find_modules(root, packages)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def layer_of(module: str) -> str:
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        layer = LAYERS.get(".".join(parts[:cut]))
        if layer is not None:
            return layer
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def _cog_package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def violations(imports: Iterable[Import]) -> list[tuple[Import, str]]:
    """Every run-time import against the layer table, with the rule it breaks."""
    found: list[tuple[Import, str]] = []
    for imp in imports:
        if imp.when == "type_checking":
            continue
        source = layer_of(imp.source)
        if not imp.internal:
            allowed = RESTRICTED.get(imp.target)
            if allowed is not None and source not in allowed:
                found.append((imp, f"only {', '.join(sorted(allowed))} may import {imp.target}"))
            continue
        target = layer_of(imp.target)
        if target != source and target not in MAY_IMPORT[source]:
            found.append((imp, f"{source} may not import {target}"))
        elif source == target == "cogs" and _cog_package(imp.source) != _cog_package(imp.target):
            found.append((imp, "cogs never import each other (use bot.get_cog)"))
    return found


def cycles(imports: Iterable[Import]) -> list[list[str]]:
    """Groups of modules that import each other at module level (Tarjan's SCCs)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.when == "module" and imp.internal:
            graph.setdefault(imp.source, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


# -- the rules, on this repository --------------------------------------------------


def test_every_module_has_a_layer() -> None:
    """Each module of bot/ and cogs/ maps to a layer of the table."""
    for module in find_modules(ROOT):
        assert layer_of(module) in MAY_IMPORT, module


def test_imports_follow_the_layers() -> None:
    """No run-time import goes against the table (the known ones other branches fix aside)."""
    found = violations(all_imports())
    unexpected = [
        f"{imp}: {rule}"
        for imp, rule in found
        if (imp.source, imp.target) not in EXPECTED_TO_BE_FIXED
    ]
    assert unexpected == []
    still_there = {(imp.source, imp.target) for imp, _ in found}
    fixed = [edge for edge in EXPECTED_TO_BE_FIXED if edge not in still_there]
    assert fixed == [], "fixed: remove these from EXPECTED_TO_BE_FIXED"


def test_no_import_cycles() -> None:
    """No group of modules imports each other at module level."""
    assert cycles(all_imports()) == []


# -- the checker itself catches what it should -----------------------------------------


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_checker_flags_an_upward_import_and_discord_below_the_cogs(tmp_path: Path) -> None:
    """storage importing services, services importing discord, and cog-to-cog are flagged."""
    write(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/storage/__init__.py": "from bot.services import use_case\n",
            "bot/services/__init__.py": "import discord\nuse_case = 1\n",
            "cogs/__init__.py": "",
            "cogs/a.py": "from cogs.b import B\n",
            "cogs/b.py": "from cogs.b_helpers import x\nB = 1\n",
            "cogs/b_helpers.py": "x = 1\n",
        },
    )
    found = {(imp.source, imp.target, rule) for imp, rule in violations(all_imports(tmp_path))}
    assert found == {
        ("bot.storage", "bot.services", "storage may not import services"),
        ("bot.services", "discord", "only app, cli, cogs may import discord"),
        ("cogs.a", "cogs.b", "cogs never import each other (use bot.get_cog)"),
        ("cogs.b", "cogs.b_helpers", "cogs never import each other (use bot.get_cog)"),
    }


def test_checker_ignores_type_checking_and_counts_late_imports(tmp_path: Path) -> None:
    """TYPE_CHECKING imports are free; an import inside a function still obeys the layers."""
    write(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/render/__init__.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from bot.services import Outcome\n"
                "def f():\n    import discord\n    return discord\n"
            ),
            "bot/services/__init__.py": "Outcome = 1\n",
        },
    )
    found = [(imp.source, imp.target, imp.when) for imp, _ in violations(all_imports(tmp_path))]
    assert found == [("bot.render", "discord", "function")]


def test_checker_finds_a_module_level_cycle_but_not_a_late_one(tmp_path: Path) -> None:
    """a → b → c → a at module level is a cycle; the same through a function is not."""
    write(
        tmp_path,
        {
            "bot/__init__.py": "",
            "bot/services/__init__.py": "",
            "bot/services/a.py": "from bot.services import b\n",
            "bot/services/b.py": "from bot.services.c import x\n",
            "bot/services/c.py": "import bot.services.a\nx = 1\n",
            "bot/services/d.py": "from bot.services.e import y\n",
            "bot/services/e.py": "def late():\n    from bot.services import d\n",
        },
    )
    assert cycles(all_imports(tmp_path)) == [["bot.services.a", "bot.services.b", "bot.services.c"]]


@pytest.mark.parametrize("module", ["bot.render.completion", "bot.render.buttons"])
def test_render_needs_no_discord(module: str) -> None:
    """The renderers import neither discord.py nor any controller at run time."""
    runtime = [imp for imp in all_imports() if imp.source == module and imp.when != "type_checking"]
    assert all(not imp.target.startswith(("discord", "bot.tree", "cogs")) for imp in runtime)
