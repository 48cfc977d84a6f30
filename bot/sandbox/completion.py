"""Tab completion as Discord's command box gives it, from the commands the bot synced.

Command and subcommand names, option names (described), choices, true/false,
members, roles, channels and files complete from the synced definitions and the
emulator's world; an option with `autocomplete` asks the running bot, through the
same autocomplete interaction a Discord client sends while the user types.
Outside slash commands: the terminal's own words, button labels, select values,
form fields, members and channels.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from bot.sandbox import limits
from bot.sandbox.command_line import (
    SlashState,
    Word,
    localized,
    option_key,
    raw_value,
    read_slash,
    value_problem,
    words,
)
from bot.sandbox.components import ComponentError
from bot.sandbox.interactions import InteractionTimeout
from bot.sandbox.options import (
    ATTACHMENT,
    BOOLEAN,
    CHANNEL,
    INTEGER,
    MENTIONABLE,
    NUMBER,
    ROLE,
    STRING,
    SUBCOMMAND,
    SUBCOMMAND_GROUP,
    USER,
    OptionError,
    coerce_text,
)
from bot.sandbox.rendering import button_name, buttons
from bot.sandbox.terminal import TERMINAL_WORDS, label_key

if TYPE_CHECKING:
    from bot.sandbox.terminal import Terminal

log = logging.getLogger(__name__)


def quoted(value: str) -> str:
    """A value as it must be typed to read back as itself (double quotes when needed)."""
    if value and not any(ch.isspace() or ch in "'\"\\" for ch in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SandboxCompleter(Completer):
    """Completes what the terminal can run, for the member and channel it is in now."""

    def __init__(self, terminal: Terminal, *, autocomplete_timeout: float = 5.0) -> None:
        self.terminal = terminal
        self.autocomplete_timeout = autocomplete_timeout
        self._files = PathCompleter(expanduser=True)

    # ---------------------------------------------------------------- entry
    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        """Everything but the bot's own answers (those need the event loop)."""
        line = document.text_before_cursor
        state = read_slash(line, self.terminal.slash_commands())
        if state is None:
            yield from self._terminal_words(line)
            return
        focused = state.focused()
        if focused is not None:
            assert state.current is not None
            yield from self._values(state.current, *focused)
        else:
            yield from self._names(state)

    async def get_completions_async(
        self, document: Document, complete_event: CompleteEvent
    ) -> AsyncGenerator[Completion, None]:
        for completion in self.get_completions(document, complete_event):
            yield completion
        state = read_slash(document.text_before_cursor, self.terminal.slash_commands())
        focused = state.focused() if state is not None else None
        if state is not None and focused is not None and focused[0].get("autocomplete"):
            for completion in await self.ask_bot(state, focused[0], focused[1]):
                yield completion

    # ---------------------------------------------------------------- names
    def _commands(self, typed: str, start: int) -> Iterator[Completion]:
        """The slash commands whose `/name` starts with what is typed."""
        for cmd in self.terminal.slash_commands():
            if ("/" + cmd["name"]).startswith(typed.lower()):
                yield Completion(
                    f"/{cmd['name']} ",
                    start,
                    display=f"/{cmd['name']}",
                    display_meta=localized(cmd, "description", self.terminal.locale),
                )

    def _names(self, state: SlashState) -> Iterator[Completion]:
        """Command, subcommand or option names for the word under the cursor."""
        typed = state.current.text if state.current is not None else ""
        start = -len(state.current.raw) if state.current is not None else 0
        locale = self.terminal.locale
        if state.definition is None:
            if state.current is not None and not state.given and typed.startswith("/"):
                yield from self._commands(typed, start)
            return
        if state.needs_subcommand:
            for sub in state.options:
                if sub["name"].startswith(typed.lower()) and sub.get("type") in (
                    SUBCOMMAND,
                    SUBCOMMAND_GROUP,
                ):
                    yield Completion(
                        f"{sub['name']} ",
                        start,
                        display=sub["name"],
                        display_meta=localized(sub, "description", locale),
                    )
            return
        # Required options first, as Discord lists them; none given twice.
        left = [o for o in state.options if o["name"] not in state.given]
        for opt in sorted(left, key=lambda o: not o.get("required")):
            if opt["name"].startswith(typed.lower()):
                need = "required · " if opt.get("required") else ""
                yield Completion(
                    f"{opt['name']}:",
                    start,
                    display=opt["name"],
                    display_meta=need + localized(opt, "description", locale),
                )

    # --------------------------------------------------------------- values
    def _values(self, word: Word, opt: dict[str, Any], typed: str) -> Iterator[Completion]:
        """Values the option takes that the emulator knows without asking the bot."""
        start = -len(raw_value(word))
        locale = self.terminal.locale
        guild = self.terminal.guild
        if opt.get("choices"):
            for choice in opt["choices"]:
                name = localized(choice, "name", locale)
                value = str(choice["value"])
                if value.lower().startswith(typed.lower()) or name.lower().startswith(
                    typed.lower()
                ):
                    yield Completion(quoted(value) + " ", start, display=name)
            return
        if opt["type"] == BOOLEAN:
            for value in ("true", "false"):
                if value.startswith(typed.lower()):
                    yield Completion(value + " ", start, display=value)
        elif opt["type"] in (USER, MENTIONABLE):
            for member in guild.members:
                if member.name.lower().startswith(typed.lstrip("@").lower()):
                    yield Completion(quoted(member.name) + " ", start, display="@" + member.name)
        if opt["type"] in (ROLE, MENTIONABLE):
            for role in guild.roles[1:]:  # not @everyone
                if role.name.lower().startswith(typed.lstrip("@").lower()):
                    yield Completion(quoted(role.name) + " ", start, display="@" + role.name)
        elif opt["type"] == CHANNEL:
            kinds = opt.get("channel_types")
            for channel in guild.channels:
                if kinds and channel.type not in kinds:
                    continue
                if channel.name.startswith(typed.lstrip("#").lower()):
                    yield Completion(channel.name + " ", start, display="#" + channel.name)
        elif opt["type"] == ATTACHMENT:
            for found in self._files.get_completions(Document(typed), CompleteEvent()):
                path = typed[: len(typed) + found.start_position] + found.text
                yield Completion(quoted(path), start, display=found.display)

    async def ask_bot(self, state: SlashState, opt: dict[str, Any], typed: str) -> list[Completion]:
        """The bot's own choices for what is typed, asked with an autocomplete interaction
        carrying the other options typed so far; none if the bot does not answer in time."""
        terminal = self.terminal
        assert state.current is not None
        start = -len(raw_value(state.current))
        try:
            rec = await terminal.fake.autocomplete_record(
                state.command,
                opt["name"],
                typed,
                self._typed_so_far(state, opt["name"]),
                member=terminal.member,
                channel=terminal.channel,
                guild=terminal.guild,
            )
            await rec.wait_for(
                lambda r: r.choices is not None or bool(r.rejections), self.autocomplete_timeout
            )
        except (OptionError, LookupError, InteractionTimeout) as err:
            log.debug("no autocomplete for %s: %s", opt["name"], err)
            return []
        return [
            Completion(
                quoted(str(choice["value"])) + " ",
                start,
                display=localized(choice, "name", terminal.locale),
            )
            for choice in rec.choices or []
        ]

    def _typed_so_far(self, state: SlashState, focused: str) -> dict[str, Any]:
        """The other options' values as Discord sends them in an autocomplete: only those
        a client could send (well typed, in range, naming things that exist)."""
        values: dict[str, Any] = {}
        for name, word in state.given.items():
            opt = state.option(name)
            key = option_key(word)
            if opt is None or key is None or name == focused:
                continue
            text = key[1]
            if opt["type"] in (STRING, INTEGER, NUMBER, BOOLEAN):
                if value_problem(state, name, text) is None:
                    values[name] = coerce_text(opt, text)
            elif opt["type"] in (USER, MENTIONABLE, ROLE, CHANNEL):
                name_only = text.lstrip("@#")
                guild = self.terminal.guild
                known = {m.name for m in guild.members} | {r.name for r in guild.roles}
                if name_only in known | {c.name for c in guild.channels}:
                    values[name] = name_only
        return values

    # ------------------------------------------------------- terminal words
    def _terminal_words(self, line: str) -> Iterator[Completion]:
        found, at_new_word = words(line)
        current = None if at_new_word else found[-1]
        done = found if at_new_word else found[:-1]
        typed = current.text if current is not None else ""
        start = -len(current.raw) if current is not None else 0
        if not done:
            yield from self._commands(typed, start)
            for keyword, (usage, meaning) in TERMINAL_WORDS.items():
                if keyword.startswith(typed.lower()):
                    yield Completion(keyword + " ", start, display=usage, display_meta=meaning)
            return
        keyword = done[0].text.lower()
        for text, display in self._arguments(keyword, len(done)):
            if text.lower().startswith(typed.lower()) or _folded_prefix(typed, text):
                yield Completion(text, start, display=display)

    def _arguments(self, keyword: str, position: int) -> list[tuple[str, str]]:
        """(text to insert, what to show) for the words after a terminal keyword."""
        terminal = self.terminal
        if keyword == "as" and position == 1:
            return [(m.name, m.name) for m in terminal.guild.members if not m.user.bot]
        if keyword == "in" and position == 1:
            return [(f"#{c.name}", f"#{c.name}") for c in terminal.guild.channels]
        if keyword == "click" and position == 1:
            try:
                found = buttons(terminal.last_with_components())
            except ComponentError:
                return []
            usable = [b for b in found if not b.get("disabled") and button_name(b)]
            return [(button_name(b), button_name(b)) for b in usable]
        if keyword == "select":
            try:
                message = terminal.last_with_components()
            except ComponentError:
                return []
            menus = [
                c
                for row in message.get("components") or []
                for c in row.get("components") or []
                if c.get("type") == 3
            ]
            options = menus[0].get("options") or [] if menus else []
            return [(quoted(str(o["value"])), str(o.get("label") or o["value"])) for o in options]
        if keyword == "modal" and terminal.last_modal is not None:
            modal = terminal.last_modal.modal or {}
            fields = [
                i for i in limits.modal_inputs(modal.get("components") or []) if i.get("type") == 4
            ]
            return [
                (f"{i['custom_id']}=", str(i.get("label") or i["custom_id"]))
                for i in fields
                if i.get("custom_id")
            ]
        return []


def _folded_prefix(typed: str, label: str) -> bool:
    """`click ne` offers "Next ▶": a label matches what is typed ignoring symbols."""
    return bool(typed) and label_key(label).startswith(label_key(typed))
