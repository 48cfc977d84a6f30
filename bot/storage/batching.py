"""Group commit: concurrent writes of one kind joined into one transaction.

Every /complete stores its generation before its buttons are shown. One
transaction each means one commit each, and on SQLite one writer at a time:
under load, writers queue for the database's lock. `BatchWriter` runs one
transaction at a time and hands it every item that arrived meanwhile, so a
burst costs one commit, while a write that comes alone waits for nobody.

`submit` returns only after the transaction holding its item committed: a
caller never acts (shows a button) on a row that a crash could still lose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Items per transaction at most; more wait for the next one.
MAX_BATCH = 200


class BatchWriter(Generic[T, R]):
    """Runs `write(items) -> results` (one transaction, results in order) for queued items."""

    def __init__(
        self, write: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = MAX_BATCH
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write = write
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0  # transactions run (for tests and benchmarks)
        self.items = 0

    async def submit(self, item: T) -> R:
        """Write `item` with whatever else is waiting; its result once committed.

        The write's error, if it fails, is raised here (and in every caller
        whose item was in the same transaction). A caller cancelled before its
        transaction began is left out of it.
        """
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="batched writes")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            taken, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            batch = [(item, future) for item, future in taken if not future.done()]
            if not batch:
                continue
            try:
                results = await self._write([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for {len(batch)} writes")
            except asyncio.CancelledError:
                for _, future in batch + self._queue:
                    future.cancel()
                self._queue = []
                raise
            except Exception as error:
                # The transaction rolled back: nothing of this batch is stored.
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.batches += 1
            self.items += len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Wait until everything submitted so far is written (or failed)."""
        worker = self._worker
        if worker is not None and not worker.done():
            await asyncio.shield(worker)
