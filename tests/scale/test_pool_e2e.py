"""The real bot in front of two model servers (stub servers as their own processes): one
killed with kill -9 in the middle of a run — its requests move to the other and every
interaction is answered; started again — it is probed back in and used again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bot.sandbox import FakeDiscord
from tests.e2e.conftest import make_settings, start_couplet
from tests.scale.processes import WAIT
from tests.support.discord_env import running_fake, wait_until
from tests.support.postgres import free_port

MEMBERS = [f"m{i}" for i in range(8)]


@contextlib.contextmanager
def model_server(port: int, name: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A stub completions server as its own process, answering " from <name>" after 1 s."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.sandbox.stub_completions", "--port", str(port),
             "--text", f" from {name}", "--delay", "1"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def listening(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


async def ask(fake: FakeDiscord, member: str, prompt: str) -> str:
    rec = await fake.slash("complete", member=member, prompt=prompt, max_tokens=5)
    return str((await rec.wait_final(WAIT))["content"])


async def test_a_model_server_killed_mid_run_then_back(tmp_path: Path) -> None:
    """Eight /complete at once over two servers; server A is killed while it holds some
    of them: all eight are answered with text (the moved ones by B), A is out of the
    pool; A started again is probed back in and answers again."""
    port_a, port_b = free_port(), free_port()
    logs = tmp_path / "servers.log"
    async with running_fake() as fake:
        for name in MEMBERS:
            fake.guild.add_member(name)
        with model_server(port_a, "A", logs) as server_a, model_server(port_b, "B", logs):
            await wait_until(lambda: listening(port_a) and listening(port_b), "both servers", WAIT)
            urls = f"http://127.0.0.1:{port_a}/v1,http://127.0.0.1:{port_b}/v1"
            settings = make_settings(
                fake, tmp_path / "couplet.db", urls,
                completions_backend="vllm", completions_model="stub-model",
                moderation_classifier=False,
            )  # fmt: skip
            async with start_couplet(fake, settings) as run:
                pool = run.bot.completions.http
                a = pool.servers[0]
                asks = [
                    asyncio.create_task(ask(fake, name, f"prompt {i}"))
                    for i, name in enumerate(MEMBERS)
                ]
                await wait_until(lambda: a.in_flight >= 2, "server A to be working", WAIT)
                os.kill(server_a.pid, signal.SIGKILL)
                server_a.wait()
                answers = await asyncio.gather(*asks)
                assert all(text.startswith((" from A", " from B")) for text in answers), answers
                assert any(text.startswith(" from B") for text in answers)
                assert not a.up and a.failures >= 1
                with model_server(port_a, "A", logs):
                    await wait_until(lambda: a.up, "server A to be probed back in", WAIT)
                    again = [await ask(fake, MEMBERS[0], f"again {i}") for i in range(4)]
                    assert any(text.startswith(" from A") for text in again), again
