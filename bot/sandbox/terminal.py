"""A line-oriented terminal on the emulator: type slash commands, click buttons, read replies.

    /complete prompt:"Once upon a time" max_tokens:16 temperature:0.9
    click Regenerate
    as admin
    in #random
    modal prompt="A longer prompt"
    help | quit

Parsing (`parse_line`, `typed_options`) is pure, as is rendering
(`bot.sandbox.rendering`); `Terminal` runs them against a FakeDiscord. The
interactive front end (line editing, completion, colours) is `bot.sandbox.console`.
"""

from __future__ import annotations

import os
import re
import shlex
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox import limits
from bot.sandbox.commands import CommandRegistry
from bot.sandbox.emulator import ComponentError, FakeDiscord
from bot.sandbox.interactions import InteractionRecord, InteractionTimeout
from bot.sandbox.options import (
    ATTACHMENT,
    CHANNEL,
    MENTIONABLE,
    ROLE,
    USER,
    OptionError,
    coerce_text,
    split_command,
)
from bot.sandbox.rendering import (
    Fragments,
    button_name,
    buttons,
    message_fragments,
    modal_fragments,
    plain,
    render_rejections,
)

OPTION_KEY = re.compile(r"^([a-z0-9_'-]+):(.*)$", re.DOTALL)
FIELD_KEY = re.compile(r"^([^=\s]+)=(.*)$", re.DOTALL)


class ParseError(ValueError):
    """A line the terminal cannot understand; the message says what to type instead."""


@dataclass(frozen=True)
class SlashLine:
    """`/name [sub …] opt:value …`: words are the command and subcommand names."""

    words: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClickLine:
    label: str


@dataclass(frozen=True)
class SelectLine:
    values: tuple[str, ...]


@dataclass(frozen=True)
class AsLine:
    member: str


@dataclass(frozen=True)
class InLine:
    channel: str


@dataclass(frozen=True)
class ModalLine:
    values: dict[str, str]


@dataclass(frozen=True)
class HelpLine:
    pass


@dataclass(frozen=True)
class QuitLine:
    pass


@dataclass(frozen=True)
class EmptyLine:
    pass


Line = (
    SlashLine
    | ClickLine
    | SelectLine
    | AsLine
    | InLine
    | ModalLine
    | HelpLine
    | QuitLine
    | EmptyLine
)


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as err:
        raise ParseError(f"Could not read {text!r}: {err} (close your quotes).") from None


def parse_line(line: str) -> Line:
    """Turn one typed line into a command; raises ParseError with a short sentence."""
    text = line.strip()
    if not text or text.startswith("#"):
        return EmptyLine()
    head, _, rest = text.partition(" ")
    keyword = head.lower()
    rest = rest.strip()
    if text.startswith("/"):
        return _parse_slash(text[1:])
    if keyword in ("quit", "exit"):
        return QuitLine()
    if keyword in ("help", "?"):
        return HelpLine()
    if keyword == "click":
        label = " ".join(_split(rest)) if rest else ""
        if not label:
            raise ParseError("Say which button: click LABEL (e.g. click Regenerate).")
        return ClickLine(label)
    if keyword == "select":
        picks = tuple(_split(rest))
        if not picks:
            raise ParseError("Say which option(s): select VALUE [VALUE …].")
        return SelectLine(picks)
    if keyword == "as":
        if not rest:
            raise ParseError("Say who: as NAME (e.g. as alice).")
        return AsLine(rest.lstrip("@"))
    if keyword == "in":
        if not rest:
            raise ParseError("Say where: in #CHANNEL (e.g. in #general).")
        return InLine(rest.lstrip("#"))
    if keyword == "modal":
        return _parse_modal(rest)
    raise ParseError(
        f"Unknown command {head!r}: type a /command, click, as, in, modal, help or quit."
    )


def _parse_modal(rest: str) -> ModalLine:
    """`modal FIELD=value …`, or `modal text` for a form with one field; `\\n` is a new line."""
    tokens = _split(rest)
    if not tokens:
        raise ParseError('Fill the form with: modal FIELD="value" …, or modal TEXT for one field.')
    if not any(FIELD_KEY.match(token) for token in tokens):
        return ModalLine({"": " ".join(tokens).replace("\\n", "\n")})
    values: dict[str, str] = {}
    for token in tokens:
        match = FIELD_KEY.match(token)
        if not match:
            raise ParseError(f"Form fields are FIELD=value, not {token!r}.")
        values[match.group(1)] = match.group(2).replace("\\n", "\n")
    return ModalLine(values)


def _parse_slash(text: str) -> SlashLine:
    tokens = _split(text)
    if not tokens or not tokens[0]:
        raise ParseError('Type a command name after the slash, e.g. /complete prompt:"hi".')
    words: list[str] = []
    options: dict[str, str] = {}
    for token in tokens:
        match = OPTION_KEY.match(token)
        if match:
            name = match.group(1)
            if name in options:
                raise ParseError(f"Option {name!r} is given twice.")
            options[name] = match.group(2)
        elif options:
            raise ParseError(f"{token!r} follows the options: write it as name:value or quote it.")
        else:
            words.append(token.lower())
    return SlashLine(tuple(words), options)


def typed_options(
    definition: dict[str, Any], words: list[str], raw: dict[str, str]
) -> dict[str, Any]:
    """Convert typed option text to the types the synced definition declares.

    Unknown names are kept as text so the emulator reports them. Users, roles
    and channels stay names; an attachment option reads the file at that path.
    """
    _, leaf = split_command(definition, words)
    by_name = {opt["name"]: opt for opt in leaf}
    typed: dict[str, Any] = {}
    for name, text in raw.items():
        opt = by_name.get(name)
        if opt is None:
            typed[name] = text
        elif opt["type"] in (USER, MENTIONABLE, ROLE):
            typed[name] = text.lstrip("@")
        elif opt["type"] == CHANNEL:
            typed[name] = text.lstrip("#")
        elif opt["type"] == ATTACHMENT:
            try:
                with open(text, "rb") as fh:
                    typed[name] = (os.path.basename(text), fh.read())
            except OSError as err:
                raise OptionError(
                    f"option {name!r}: cannot read file {text!r} ({err.strerror})."
                ) from None
        else:
            typed[name] = coerce_text(opt, text)
    return typed


# ------------------------------------------------------------------ buttons


def label_key(text: str) -> str:
    """A label as typed: case-folded, symbols and emoji dropped, spaces collapsed.

    "Next ▶" and "◀ Prev" become "next" and "prev"; letters, digits and
    punctuation stay, so "1/3" is still "1/3".
    """
    kept = "".join(" " if _is_symbol(ch) else ch for ch in text)
    return " ".join(kept.casefold().split())


def _is_symbol(ch: str) -> bool:
    """Symbols (emoji included), control and format characters, variation selectors."""
    return unicodedata.category(ch)[0] in ("S", "C") or "\ufe00" <= ch <= "\ufe0f"


def match_button(buttons: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    """The one button `wanted` names: exact label, then the same label ignoring case,
    symbols and emoji, then a unique prefix of that. ComponentError otherwise."""
    names = [button_name(b) for b in buttons]
    exact = [b for b, name in zip(buttons, names, strict=True) if name == wanted]
    if exact:
        return exact[0]
    key = label_key(wanted)
    listed = ", ".join(repr(n) for n in names) or "none"
    if not key:
        raise ComponentError(f"Say which button by its words: click LABEL (buttons: {listed}).")
    keys = [label_key(name) for name in names]
    for prefix in (False, True):
        found = [
            b
            for b, k in zip(buttons, keys, strict=True)
            if (k.startswith(key) if prefix else k == key)
        ]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            which = ", ".join(repr(button_name(b)) for b in found)
            raise ComponentError(f"{wanted!r} could be any of {which}: type more of the label.")
    raise ComponentError(f"No button {wanted!r} on the last bot message (buttons: {listed}).")


# ------------------------------------------------------------------- terminal

# The terminal's own words: (usage, meaning), for help and for completion.
TERMINAL_WORDS = {
    "click": ("click LABEL", "click a button on the last bot message"),
    "select": ("select VALUE [VALUE …]", "choose in the last select menu"),
    "modal": (
        "modal FIELD=value … | modal TEXT",
        "submit the form the bot opened (\\n = new line)",
    ),
    "as": ("as NAME", "act as another member"),
    "in": ("in #CHANNEL", "move to another channel"),
    "help": ("help", "what you can type, and the synced commands"),
    "quit": ("quit", "leave the sandbox"),
}
HELP = "\n".join(
    [
        "Commands:",
        '  /NAME [SUB] opt:value opt:"quoted value"   run a slash command',
        *(f"  {usage:<42}{meaning}" for usage, meaning in list(TERMINAL_WORDS.values())[:5]),
        "  help | quit",
    ]
)


class Terminal:
    """Runs parsed lines against a FakeDiscord and shows what a Discord user would see.

    Output goes to `write` as plain text, or, given `show`, as styled fragments
    laid out for a person at a terminal (see `bot.sandbox.rendering`). `locale`
    is the Discord client's language, sent in every interaction as on Discord.
    """

    def __init__(
        self,
        fake: FakeDiscord,
        write: Callable[[str], None],
        *,
        member: str | None = None,
        channel: str | None = None,
        reply_timeout: float = 180.0,
        settle: float = 1.5,
        show: Callable[[Fragments], None] | None = None,
        locale: str | None = None,
    ) -> None:
        self.fake = fake
        self.write = write
        self.show = show
        self.guild = fake.guild
        self.member = (
            self.guild.member(member)
            if member
            else next(m for m in self.guild.members if not m.user.bot)
        )
        self.channel = self.guild.channel(channel) if channel else self.guild.channels[0]
        self.reply_timeout = reply_timeout
        self.settle = settle
        self.last_modal: InteractionRecord | None = None
        self.locale = locale or self.member.locale
        if locale:
            # One person types here, whoever they act as: every member speaks their language.
            for person in self.guild.members:
                if not person.user.bot:
                    person.locale = locale

    def banner(self) -> str:
        channels = ", ".join(f"#{c.name}" for c in self.guild.channels)
        members = ", ".join(m.name for m in self.guild.members if not m.user.bot)
        return (
            f"Sandbox server {self.guild.name!r}: channels {channels}; members {members}.\n"
            f"You are {self.member.name} in #{self.channel.name}. Type help for commands."
        )

    def say(self, fragments: Fragments) -> None:
        """Show styled text, or write its plain text."""
        if self.show is not None:
            self.show(fragments)
        else:
            self.write(plain(fragments))

    async def run(self, lines: AsyncIterator[str]) -> int:
        """Execute lines until quit or end of input."""
        async for line in lines:
            if not await self.execute(line):
                break
        return 0

    async def execute(self, line: str) -> bool:
        """Run one line; False means quit."""
        try:
            parsed = parse_line(line)
        except ParseError as err:
            self.say([("class:error", str(err))])
            return True
        try:
            return await self._dispatch(parsed)
        except (OptionError, ComponentError, LookupError) as err:
            self.say([("class:error", str(err))])
            return True

    async def _dispatch(self, parsed: Line) -> bool:
        if isinstance(parsed, QuitLine):
            return False
        if isinstance(parsed, EmptyLine):
            return True
        if isinstance(parsed, HelpLine):
            self.say([("class:help", HELP)])
            self.say([("class:help", self._command_list())])
        elif isinstance(parsed, AsLine):
            self.member = self.guild.member(parsed.member)
            self.say([("class:notice", f"You are now {self.member.name}.")])
        elif isinstance(parsed, InLine):
            self.channel = self.guild.channel(parsed.channel)
            self.say([("class:notice", f"You are now in #{self.channel.name}.")])
        elif isinstance(parsed, SlashLine):
            await self._slash(parsed)
        elif isinstance(parsed, ClickLine):
            message = self.last_with_components()
            button = match_button(buttons(message), parsed.label)
            if button.get("custom_id"):
                rec = await self.fake.click(
                    message, custom_id=button["custom_id"], member=self.member
                )
            else:  # a link button: the emulator says why it cannot be clicked
                rec = await self.fake.click(message, label=button.get("label"), member=self.member)
            await self._show(rec)
        elif isinstance(parsed, SelectLine):
            message = self.last_with_components()
            await self._show(
                await self.fake.select(message, list(parsed.values), member=self.member)
            )
        elif isinstance(parsed, ModalLine):
            if self.last_modal is None:
                self.say(
                    [("class:error", "No form is open: a command or button has to open one first.")]
                )
                return True
            submitted = await self.fake.submit_modal(
                self.last_modal, parsed.values, member=self.member
            )
            # Only a form that went through closes; a refused one can be filled again.
            self.last_modal = None
            await self._show(submitted)
        return True

    def slash_commands(self) -> list[dict[str, Any]]:
        """The slash commands a member here can use: this server's, then global ones,
        without those hidden from the member (when the emulator enforces that)."""
        found: dict[str, dict[str, Any]] = {}
        for cmd in self.fake.commands(self.guild) + self.fake.commands():
            if cmd.get("type", 1) != 1 or cmd["name"] in found:
                continue
            if self.fake.enforce_default_permissions:
                try:
                    CommandRegistry.check_visible(cmd, self.member)
                except OptionError:
                    continue
            found[cmd["name"]] = cmd
        return list(found.values())

    def _command_list(self) -> str:
        defs = self.fake.commands(self.guild) + self.fake.commands()
        lines = []
        for cmd in defs:
            if cmd.get("type", 1) == 1:
                opts = " ".join(o["name"] + ":" for o in cmd.get("options") or [])
                lines.append(f"  /{cmd['name']} {opts}".rstrip())
        return "Synced commands:\n" + ("\n".join(lines) if lines else "  (none yet)")

    async def _slash(self, parsed: SlashLine) -> None:
        definition, _ = self.fake.find_command(parsed.words[0], self.guild)
        options = typed_options(definition, list(parsed.words[1:]), parsed.options)
        rec = await self.fake.slash(
            " ".join(parsed.words),
            options,
            member=self.member,
            channel=self.channel,
            guild=self.guild,
        )
        await self._show(rec)

    def last_with_components(self) -> dict[str, Any]:
        """The newest bot message with components that this member can see here."""
        bot = self.fake.world.bot_user
        for msg in sorted(self.fake.messages.values(), key=lambda m: int(m["id"]), reverse=True):
            if (
                bot is None
                or msg["author"]["id"] != str(bot.id)
                or msg["channel_id"] != str(self.channel.id)
            ):
                continue
            if not msg.get("components"):
                continue
            if int(msg.get("flags") or 0) & limits.EPHEMERAL:
                owner = (msg.get("interaction_metadata") or {}).get("user", {}).get("id")
                if owner != str(self.member.id):
                    continue
            return msg
        raise ComponentError(f"No bot message with buttons in #{self.channel.name}.")

    async def _show(self, rec: InteractionRecord) -> None:
        """Wait for the bot's answer to settle, then show it."""
        try:
            await rec.wait_for(lambda r: r.answered or bool(r.rejections), self.reply_timeout)
        except InteractionTimeout:
            self.say(
                [("class:error", f"The bot did not answer within {self.reply_timeout:.0f} s.")]
            )
            return
        await self._settle(rec)
        for line in render_rejections(rec):
            self.say([("class:error", line)])
        if rec.modal is not None:
            self.last_modal = rec
            self.say(modal_fragments(rec.modal))
            return
        shown = rec.messages
        final = rec.final_message()
        if final is not None and all(m["id"] != final["id"] for m in shown):
            shown = [final, *shown]
        names = self._names()
        rich = self.show is not None
        for message in shown:
            self.say(message_fragments(message, names=names, rich=rich))

    def _names(self) -> dict[int, str]:
        """Ids of this server's members, roles and channels, to show mentions by name."""
        names = {c.id: c.name for c in self.guild.channels}
        names.update({r.id: r.name for r in self.guild.roles})
        names.update({m.id: m.name for m in self.guild.members})
        return names

    async def _settle(self, rec: InteractionRecord) -> None:
        """Wait until the bot has stopped editing for `settle` seconds (streamed replies)."""

        def state(r: InteractionRecord) -> tuple[int, int, int]:
            return (len(r.history), len(r.callbacks), len(r.rejections))

        while True:
            before = state(rec)

            def changed(r: InteractionRecord, before: tuple[int, int, int] = before) -> bool:
                return state(r) != before

            try:
                await rec.wait_for(changed, self.settle)
            except InteractionTimeout:
                return
