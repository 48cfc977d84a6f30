"""What the sandbox says about a line before Enter sends it.

`line_problem` checks a finished line exactly as running it would (the same
parsing, option typing and `build_options` checks the emulator makes), so Enter
is refused with the sentence the terminal would have printed, and the line stays
to be fixed. `toolbar` describes, while the line is typed, what Discord's command
box shows: the command, the focused option's type, range and description, the
required options still missing and any value that cannot be sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prompt_toolkit.document import Document
from prompt_toolkit.validation import ValidationError, Validator

from bot.sandbox.command_line import (
    SlashState,
    localized,
    option_key,
    option_summary,
    read_slash,
    value_problem,
    words,
)
from bot.sandbox.options import ATTACHMENT, OptionError, build_options
from bot.sandbox.rendering import Fragments
from bot.sandbox.resolved import OptionResolver, Resolved
from bot.sandbox.terminal import TERMINAL_WORDS, ParseError, SlashLine, parse_line, typed_options

if TYPE_CHECKING:
    from bot.sandbox.terminal import Terminal

HINT = "Type / for commands · Tab completes · ↑ earlier lines · Alt-Enter new line · Ctrl-D leaves"


class _LookupOnly:
    """The emulator's option resolver without its one side effect: a file is not stored."""

    def __init__(self, terminal: Terminal) -> None:
        self.resolver = OptionResolver(terminal.fake.state, terminal.guild)

    def __call__(self, otype: int, value: Any, opt: dict[str, Any]) -> tuple[str, Resolved]:
        if otype == ATTACHMENT:
            return "0", {}
        return self.resolver(otype, value, opt)


def line_problem(terminal: Terminal, line: str) -> tuple[str, int] | None:
    """Why `line` cannot run as typed, and the cursor position to fix it at; None if it can."""
    try:
        parsed = parse_line(line)
    except ParseError as err:
        return str(err), len(line)
    if not isinstance(parsed, SlashLine):
        return None
    words_after = list(parsed.words[1:])
    try:
        definition, _ = terminal.fake.find_command(parsed.words[0], terminal.guild)
        typed = typed_options(definition, words_after, parsed.options)
        build_options(definition, words_after, typed, _LookupOnly(terminal))
    except OptionError as err:
        return str(err), _position(line, str(err))
    return None


def _position(line: str, message: str) -> int:
    """The end of the option the message names, else the end of the line."""
    for word in words(line)[0]:
        key = option_key(word)
        if key is not None and repr(key[0]) in message:
            return word.start + len(word.raw)
    return len(line)


class LineValidator(Validator):
    """Refuses Enter on a line that cannot run, saying why (prompt_toolkit shows it)."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal

    def validate(self, document: Document) -> None:
        problem = line_problem(self.terminal, document.text)
        if problem is not None:
            message, position = problem
            raise ValidationError(cursor_position=position, message=message)


# ------------------------------------------------------------------ toolbar


def toolbar(terminal: Terminal, before_cursor: str) -> Fragments:
    """A line about what is being typed (see the module's docstring), and a second one
    for a value that cannot be sent."""
    state = read_slash(before_cursor, terminal.slash_commands())
    if state is None:
        found, _ = words(before_cursor)
        if not found:
            return [("", HINT)]
        usage = TERMINAL_WORDS.get(found[0].text.lower())
        if usage is None:
            return [("", "A /command, or one of: " + ", ".join(TERMINAL_WORDS))]
        return [("class:toolbar.name", usage[0]), ("", f" — {usage[1]}")]
    if state.definition is None:
        return _command_names(terminal, state)
    line: Fragments = _focus(terminal, state)
    problem = _first_problem(state)
    if problem is not None:
        line += [("", "\n"), ("class:toolbar.problem", "✗ " + problem)]
    return line


def _command_names(terminal: Terminal, state: SlashState) -> Fragments:
    """The commands the name being typed can become, or that no synced command has it."""
    typed = "/" + state.name
    commands = terminal.slash_commands()
    being_typed = state.current is not None and state.current.text.lower() == typed
    matches = [c for c in commands if ("/" + c["name"]).startswith(typed) and being_typed]
    if len(matches) == 1:
        cmd = matches[0]
        return [
            ("class:toolbar.name", f"/{cmd['name']}"),
            ("", " — " + _description(terminal, cmd)),
        ]
    if matches:
        return [("", "  ".join("/" + c["name"] for c in matches))]
    return [("class:toolbar.problem", f"✗ no command {typed} is synced (Tab lists them)")]


def _description(terminal: Terminal, item: dict[str, Any]) -> str:
    return localized(item, "description", terminal.locale)


def _focus(terminal: Terminal, state: SlashState) -> Fragments:
    """The focused option, else the option being named, else the command and what it needs."""
    focused = state.focused()
    if focused is not None:
        return [("class:toolbar.name", option_summary(focused[0], terminal.locale))]
    typed = state.current.text.lower() if state.current is not None else None
    if typed and option_key(state.current) is None:  # type: ignore[arg-type]
        named = [o for o in state.options if o["name"].startswith(typed)]
        if len(named) == 1:
            opt = named[0]
            summary = option_summary(opt, terminal.locale) if not state.needs_subcommand else ""
            return [
                ("class:toolbar.name", summary or f"{opt['name']} — {_description(terminal, opt)}")
            ]
    assert state.definition is not None
    where = state.definition
    for name in state.path:
        where = next(o for o in (where.get("options") or []) if o["name"] == name)
    line: Fragments = [
        ("class:toolbar.name", f"/{state.command}"),
        ("", " — " + _description(terminal, where)),
    ]
    if state.needs_subcommand:
        line.append(("", " · subcommands: " + ", ".join(o["name"] for o in state.options)))
        return line
    missing = [
        o["name"] for o in state.options if o.get("required") and o["name"] not in state.given
    ]
    if missing:
        line.append(("class:toolbar.problem", " · needs " + ", ".join(missing)))
    return line


def _first_problem(state: SlashState) -> str | None:
    """The first option value typed so far that cannot be sent; the one being typed is
    left alone while it is empty or the start of one of its choices."""
    typed = [*state.given.values(), *([state.current] if state.current is not None else [])]
    for word in typed:
        key = option_key(word)
        if key is None:
            continue
        if word is state.current and _unfinished(state.option(key[0]), key[1]):
            continue
        problem = value_problem(state, *key)
        if problem is not None:
            return problem
    return None


def _unfinished(opt: dict[str, Any] | None, text: str) -> bool:
    if not text:
        return True
    choices = (opt or {}).get("choices") or []
    return any(str(c["value"]).startswith(text) for c in choices)
