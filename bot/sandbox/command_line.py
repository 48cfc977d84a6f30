"""Reading a line while it is typed: which command, subcommand and option the cursor is in.

`parse_line` (terminal.py) reads a finished line and refuses a broken one; the
completer, the toolbar and the validator need the same reading of a line that
is not finished yet — an open quote, a half-typed option name. `words` splits
as `shlex.split` does (POSIX rules) but tolerates an unfinished end, and
`read_slash` walks the words through the synced command definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.options import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    STRING,
    SUBCOMMAND,
    SUBCOMMAND_GROUP,
    TYPE_NAMES,
    OptionError,
    check_value,
    coerce_text,
)
from bot.sandbox.terminal import OPTION_KEY


@dataclass(frozen=True)
class Word:
    """One word of a line: `raw` as typed (quotes and all) from offset `start`, `text`
    unquoted, and the quote still open at the end of the line, if any."""

    raw: str
    text: str
    start: int
    open_quote: str | None = None


def words(line: str) -> tuple[list[Word], bool]:
    """The words of `line` as `shlex.split` reads them, and whether a new word starts
    at the end (the line is empty or ends with a space outside quotes)."""
    found: list[Word] = []
    start: int | None = None
    text: list[str] = []
    quote: str | None = None
    i = 0

    def close(end: int) -> None:
        nonlocal start, text
        if start is not None:
            found.append(Word(line[start:end], "".join(text), start, quote))
        start, text = None, []

    while i < len(line):
        ch = line[i]
        if quote is None and ch.isspace():
            close(i)
        else:
            if start is None:
                start = i
            if quote == "'":
                quote = None if ch == "'" else quote
                text += [] if ch == "'" else [ch]
            elif quote == '"':
                if ch == '"':
                    quote = None
                elif ch == "\\" and i + 1 < len(line) and line[i + 1] in '"\\':
                    i += 1
                    text.append(line[i])
                else:
                    text.append(ch)
            elif ch in "'\"":
                quote = ch
            elif ch == "\\" and i + 1 < len(line):
                i += 1
                text.append(line[i])
            else:
                text.append(ch)
        i += 1
    at_new_word = start is None
    close(len(line))
    return found, at_new_word


def option_key(word: Word) -> tuple[str, str] | None:
    """(name, value) when the word is `name:value`."""
    match = OPTION_KEY.match(word.text)
    return (match.group(1), match.group(2)) if match else None


def raw_value(word: Word) -> str:
    """What was typed after `name:` in an option word, quotes and all."""
    return word.raw[word.raw.index(":") + 1 :]


@dataclass
class SlashState:
    """A slash-command line up to the cursor.

    `definition` is the synced command (None while its `name` is typed or if it is
    unknown), `path` the subcommands walked, `options` what may come next (the
    subcommands while `needs_subcommand`, else the leaf options), `given` the option
    words before the cursor and `current` the word under it (None: a new word starts).
    """

    definition: dict[str, Any] | None
    current: Word | None
    name: str = ""  # the command's name as typed so far, without the slash
    path: list[str] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)
    given: dict[str, Word] = field(default_factory=dict)

    @property
    def needs_subcommand(self) -> bool:
        return any(o.get("type") in (SUBCOMMAND, SUBCOMMAND_GROUP) for o in self.options)

    @property
    def command(self) -> str:
        """`name sub …` as `FakeDiscord.slash` and `autocomplete` take it."""
        assert self.definition is not None
        return " ".join([self.definition["name"], *self.path])

    def option(self, name: str) -> dict[str, Any] | None:
        if self.needs_subcommand:
            return None
        return next((o for o in self.options if o["name"] == name), None)

    def focused(self) -> tuple[dict[str, Any], str] | None:
        """The option whose value is being typed, and the value typed so far."""
        key = option_key(self.current) if self.current is not None else None
        if key is None:
            return None
        opt = self.option(key[0])
        return (opt, key[1]) if opt is not None else None


def read_slash(line: str, commands: list[dict[str, Any]]) -> SlashState | None:
    """Where the cursor is in a slash-command line (`line` ends at the cursor); None when
    the line is not a slash command."""
    found, at_new_word = words(line)
    if not found or not found[0].text.startswith("/"):
        return None
    current = None if at_new_word else found[-1]
    done = found if at_new_word else found[:-1]
    if not done:
        assert current is not None
        return SlashState(None, current, current.text[1:].lower())
    name = done[0].text[1:].lower()
    definition = next((c for c in commands if c["name"] == name), None)
    state = SlashState(definition, current, name)
    if definition is None:
        return state
    state.options = definition.get("options") or []
    for word in done[1:]:
        key = option_key(word)
        if key is not None:
            state.given[key[0]] = word
            continue
        subs = [o for o in state.options if o.get("type") in (SUBCOMMAND, SUBCOMMAND_GROUP)]
        sub = next((o for o in subs if o["name"] == word.text.lower()), None)
        if sub is not None and not state.given:
            state.path.append(sub["name"])
            state.options = sub.get("options") or []
    return state


# ----------------------------------------------------------- descriptions


def localized(item: dict[str, Any], key: str, locale: str | None) -> str:
    """An item's `name` or `description` in the member's language, as Discord shows it."""
    texts = item.get(f"{key}_localizations") or {}
    return str(texts.get(locale) or item.get(key) or "")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def option_summary(opt: dict[str, Any], locale: str | None = None) -> str:
    """What Discord's command box shows for an option: its type, range, choices and
    whether it is required, then its description."""
    kind = TYPE_NAMES.get(opt["type"], "a value")
    lo, hi = opt.get("min_value"), opt.get("max_value")
    if opt["type"] in (INTEGER, NUMBER) and (lo is not None or hi is not None):
        if lo is not None and hi is not None:
            kind += f" from {_number(lo)} to {_number(hi)}"
        elif lo is not None:
            kind += f", at least {_number(lo)}"
        else:
            kind += f", at most {_number(hi)}"
    if opt["type"] == STRING and (opt.get("min_length") or opt.get("max_length")):
        kind += f", {opt.get('min_length') or 0} to {opt.get('max_length') or 6000} characters"
    if opt.get("choices"):
        kind += ", one of " + ", ".join(str(c["value"]) for c in opt["choices"])
    if opt.get("autocomplete"):
        kind += " (Tab asks the bot)"
    if opt["type"] == BOOLEAN:
        kind = "true or false"
    need = "required" if opt.get("required") else "optional"
    description = localized(opt, "description", locale)
    return f"{opt['name']}: {kind}, {need}" + (f" — {description}" if description else "")


def value_problem(state: SlashState, name: str, text: str) -> str | None:
    """Why the typed value of option `name` cannot be sent, checked as the emulator will
    check it on Enter; None when it can (or when only the emulator can tell: names of
    members, channels and files are looked up when the command runs)."""
    opt = state.option(name)
    if opt is None:
        known = ", ".join(o["name"] for o in state.options) or "none"
        return f"/{state.command} has no option {name!r} (options: {known})."
    if opt["type"] not in (STRING, INTEGER, NUMBER, BOOLEAN):
        return None
    try:
        check_value(opt, coerce_text(opt, text), f"/{state.command}")
    except OptionError as err:
        return str(err)
    return None
