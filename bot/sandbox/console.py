"""The sandbox for a person at a terminal: prompt_toolkit line editing on top of `Terminal`.

Used only when standard input and output are both terminals; piped input keeps
the line-oriented reader in session.py, so scripts read what they always read.
Here: line editing, history kept across runs in the user's data directory,
multi-line input (Alt-Enter, or Enter inside an open quote), completion
(completion.py), a toolbar and checks before Enter (validation.py), colours
(off with NO_COLOR) and long output paged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TextIO

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.application import Application, get_app
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input, create_input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout import FormattedTextControl, Layout, Window
from prompt_toolkit.output import Output, create_output
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from bot.sandbox.command_line import words
from bot.sandbox.completion import SandboxCompleter
from bot.sandbox.rendering import STYLE_RULES, Fragments, split_lines
from bot.sandbox.terminal import (
    ClickLine,
    ModalLine,
    ParseError,
    SelectLine,
    SlashLine,
    Terminal,
    parse_line,
)
from bot.sandbox.validation import LineValidator, toolbar

STYLE = Style.from_dict(STYLE_RULES)
HISTORY_FILE = "sandbox-history"


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Couplet's directory under the XDG data home ($XDG_DATA_HOME, else ~/.local/share)."""
    base = env.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative path is invalid and is ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "couplet"


def open_history(path: Path) -> tuple[History, str]:
    """The history file at `path` (its directory is created), and where it is kept; history
    for this run only if the directory cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError as err:
        return InMemoryHistory(), f"not kept: {path.parent} is not writable ({err.strerror})"
    return FileHistory(str(path)), f"kept in {path}"


class StyledPrinter:
    """Prints fragments in colour on a terminal (prompt_toolkit drops colour for NO_COLOR)."""

    def __init__(self, output: Output) -> None:
        self.output = output

    def __call__(self, fragments: Fragments) -> None:
        print_formatted_text(
            FormattedText(fragments),
            style=STYLE,
            output=self.output,
            include_default_pygments_style=False,
        )


def styled_printer(stdout: TextIO) -> StyledPrinter:
    return StyledPrinter(create_output(stdout=stdout))


def _waits_for_the_bot(line: str) -> bool:
    try:
        return isinstance(parse_line(line), SlashLine | ClickLine | SelectLine | ModalLine)
    except ParseError:
        return False


class Console:
    """Reads lines with prompt_toolkit, runs them on the terminal, pages what it shows."""

    def __init__(
        self,
        terminal: Terminal,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        history_path: Path | None = None,
    ) -> None:
        self.terminal = terminal
        self.input: Input = create_input(stdin=stdin)
        self.output: Output = create_output(stdout=stdout)
        self.print = StyledPrinter(self.output)
        self.pending: Fragments = []
        terminal.show = self._collect
        history, self.history_note = open_history(history_path or data_dir() / HISTORY_FILE)
        self.session: PromptSession[str] = PromptSession(
            self._prompt,
            input=self.input,
            output=self.output,
            history=history,
            auto_suggest=AutoSuggestFromHistory(),
            completer=SandboxCompleter(terminal),
            complete_while_typing=True,
            validator=LineValidator(terminal),
            validate_while_typing=False,
            bottom_toolbar=self._toolbar,
            prompt_continuation="… ",
            key_bindings=self._keys(),
            style=STYLE,
            include_default_pygments_style=False,
        )

    def hint(self) -> Fragments:
        return [
            (
                "class:notice",
                "Tab completes commands, options and values; ↑ recalls earlier lines "
                f"(history {self.history_note}); Alt-Enter starts a new line; Ctrl-D leaves.",
            )
        ]

    async def run(self) -> int:
        """Prompt, run, show; until quit or Ctrl-D."""
        self.print(self.hint())
        while True:
            try:
                line = await self.session.prompt_async()
            except KeyboardInterrupt:  # Ctrl-C clears the line, as in a shell
                continue
            except EOFError:
                return 0
            keep = await self._execute(line)
            await self._flush()
            if not keep:
                return 0

    async def _execute(self, line: str) -> bool:
        """Run a line; Ctrl-C while the bot is awaited stops waiting and returns to the prompt."""
        waiting = _waits_for_the_bot(line)
        if waiting:
            bot = self.terminal.fake.world.bot_user
            self.output.write(
                f"  waiting for {bot.name if bot else 'the bot'}… (Ctrl-C stops waiting)"
            )
            self.output.flush()
        task = asyncio.ensure_future(self.terminal.execute(line))
        try:
            with _interrupt_cancels(task):
                return await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            self._collect([("class:error", "Stopped waiting for the bot.")])
            return True
        finally:
            if waiting:
                self.output.write_raw("\r")
                self.output.erase_end_of_line()
                self.output.flush()

    # -------------------------------------------------------------- output
    def _collect(self, fragments: Fragments) -> None:
        self.pending += [*fragments, ("", "\n")]

    async def _flush(self) -> None:
        """Show what the last line produced, a screenful at a time."""
        lines, self.pending = split_lines(self.pending), []
        if not any(lines):
            return
        size = self.output.get_size()
        rows = [row for line in lines for row in screen_rows(line, size.columns)]
        room = max(size.rows - 2, 3)
        shown = 0
        while len(rows) - shown > room:
            self._print_lines(rows[shown : shown + room])
            shown += room
            if not await self._more(len(rows) - shown):
                self.print([("class:notice", f"({len(rows) - shown} more lines skipped)")])
                return
        self._print_lines(rows[shown:])

    def _print_lines(self, lines: list[Fragments]) -> None:
        out: Fragments = []
        for number, line in enumerate(lines):
            out += [("", "\n"), *line] if number else line
        self.print(out)

    async def _more(self, left: int) -> bool:
        """Ask for the next page: Space or Enter shows it, q skips the rest."""
        keys = KeyBindings()

        @keys.add(" ")
        @keys.add("enter")
        def _next(event: KeyPressEvent) -> None:
            event.app.exit(result=True)

        @keys.add("q")
        @keys.add("escape", eager=True)
        @keys.add("c-c")
        @keys.add("c-d")
        def _skip(event: KeyPressEvent) -> None:
            event.app.exit(result=False)

        text = f" -- {left} more lines: Space or Enter for the next page, q to skip -- "
        app: Application[bool] = Application(
            layout=Layout(Window(FormattedTextControl([("class:more", text)]), height=1)),
            key_bindings=keys,
            style=STYLE,
            input=self.input,
            output=self.output,
            erase_when_done=True,
            include_default_pygments_style=False,
        )
        return await app.run_async()

    # ------------------------------------------------------------- the line
    def _prompt(self) -> FormattedText:
        return FormattedText(
            [
                ("class:prompt.member", self.terminal.member.name),
                ("", " in "),
                ("class:prompt.channel", f"#{self.terminal.channel.name}"),
                ("", " > "),
            ]
        )

    def _toolbar(self) -> FormattedText:
        before_cursor = get_app().current_buffer.document.text_before_cursor
        return FormattedText(toolbar(self.terminal, before_cursor))

    def _keys(self) -> KeyBindings:
        keys = KeyBindings()

        @Condition
        def in_open_quote() -> bool:
            found, _ = words(get_app().current_buffer.text)
            return bool(found) and found[-1].open_quote is not None

        @keys.add("escape", "enter")
        @keys.add("enter", filter=in_open_quote)
        def _new_line(event: KeyPressEvent) -> None:
            event.current_buffer.insert_text("\n")

        return keys


def screen_rows(line: Fragments, columns: int) -> list[Fragments]:
    """One line cut into the rows a terminal `columns` wide shows it on (wide characters,
    such as Chinese, take two columns)."""
    rows: list[Fragments] = [[]]
    used = 0
    for style, text in line:
        piece = ""
        for ch in text:
            width = get_cwidth(ch)
            if used + width > columns and used:
                if piece:
                    rows[-1].append((style, piece))
                rows.append([])
                piece, used = "", 0
            piece += ch
            used += width
        if piece:
            rows[-1].append((style, piece))
    return rows


@contextlib.contextmanager
def _interrupt_cancels(task: asyncio.Future[bool]) -> Iterator[None]:
    """While the block runs, SIGINT (Ctrl-C outside the prompt) cancels `task`."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, task.cancel)
    except (RuntimeError, ValueError):  # not the main thread: Ctrl-C ends the sandbox
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)
