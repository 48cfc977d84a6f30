"""Run a program on a pseudo-terminal and read its screen as a person would see it.

The program's stdin and stdout are the pty, so it sees a real terminal; what it
writes is fed to pyte, a VT100 emulator, which keeps the screen (text and
colours) and answers the cursor-position queries prompt_toolkit sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import struct
import subprocess
import termios
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pyte

KEYS = {
    "enter": "\r",
    "tab": "\t",
    "up": "\x1b[A",
    "ctrl-c": "\x03",
    "ctrl-d": "\x04",
    "ctrl-u": "\x15",
    "backspace": "\x7f",
    "alt-enter": "\x1b\r",
}


class _Screen(pyte.Screen):  # type: ignore[misc]
    """A pyte screen that sends its answers (cursor position reports) back to the program."""

    def __init__(self, columns: int, lines: int, master: int) -> None:
        super().__init__(columns, lines)
        self.master = master

    def write_process_input(self, data: str) -> None:
        os.write(self.master, data.encode())


class PtyScreen:
    """A running program on a pty of `rows` × `columns`."""

    def __init__(self, process: subprocess.Popen[bytes], master: int, rows: int, columns: int):
        self.process = process
        self.master = master
        self.screen = _Screen(columns, rows, master)
        self.stream = pyte.ByteStream(self.screen)
        self.changed = asyncio.Event()
        self.closed = False

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the program closed the terminal
            data = b""
        if not data:
            self.closed = True
            asyncio.get_running_loop().remove_reader(self.master)
        else:
            self.stream.feed(data)
        self.changed.set()

    def text(self) -> str:
        """The screen's text, one line a row, right-trimmed."""
        return "\n".join(line.rstrip() for line in self.screen.display)

    def send(self, *keys: str) -> None:
        """Type text; names in KEYS (enter, tab, up, …) are those keys."""
        for key in keys:
            os.write(self.master, KEYS.get(key, key).encode())

    async def wait_for(
        self,
        wanted: str | Callable[[str], bool],
        timeout: float = 120.0,  # noqa: ASYNC109
    ) -> str:
        """Wait until the screen shows `wanted` (or satisfies it); returns the screen.

        The deadline only bounds a hang: a loaded machine makes this slower, not red.
        """
        check = wanted if callable(wanted) else (lambda text: wanted in text)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check(self.text()):
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {wanted!r}; screen:\n{self.text()}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(1.0, deadline - loop.time()))
        return self.text()

    async def wait_exit(self, timeout: float = 120.0) -> int:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.process.poll() is None:
            if loop.time() > deadline:
                raise AssertionError(f"the program did not exit; screen:\n{self.text()}")
            await asyncio.sleep(0.05)
        return self.process.returncode

    def cell(self, row_text: str, column_text: str) -> pyte.screens.Char:
        """The character cell where `column_text` starts on the first row containing
        `row_text` (to read its colour and attributes)."""
        for y, line in enumerate(self.screen.display):
            if row_text in line:
                return self.screen.buffer[y][line.index(column_text)]
        raise AssertionError(f"{row_text!r} is not on the screen:\n{self.text()}")


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@contextlib.asynccontextmanager
async def pty_screen(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    *,
    rows: int = 30,
    columns: int = 100,
    stderr_path: Path,
) -> AsyncIterator[PtyScreen]:
    """Start `argv` on a new pty; kill it at the end if it is still running."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    with open(stderr_path, "wb") as errors:  # noqa: ASYNC230
        process = subprocess.Popen(  # noqa: ASYNC220
            argv,
            stdin=slave,
            stdout=slave,
            stderr=errors,
            env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)},
            cwd=cwd,
            # Its own session with the pty as controlling terminal, as a shell gives it:
            # Ctrl-C typed outside the prompt's raw mode then sends it SIGINT.
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
    os.close(slave)
    screen = PtyScreen(process, master, rows, columns)
    loop = asyncio.get_running_loop()
    loop.add_reader(master, screen._read)
    try:
        yield screen
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), 20)
            except TimeoutError:
                process.kill()
                process.wait()
        if not screen.closed:
            loop.remove_reader(master)
        os.close(master)
