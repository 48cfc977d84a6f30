"""What happened to one injected interaction: callbacks, messages, edits and files."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.limits import EPHEMERAL, LOADING

APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5


class InteractionTimeout(AssertionError):
    """The bot did not answer the way the test waited for in time."""


@dataclass
class Upload:
    """A file the bot sent with a message."""

    filename: str
    data: bytes
    message_id: int


@dataclass
class HistoryEntry:
    """One change to one message: 'create', 'edit' or 'delete', with the message afterwards."""

    action: str
    message: dict[str, Any]


@dataclass
class InteractionRecord:
    """Everything the bot did in answer to one interaction.

    `messages` are the current versions of the original response and the
    followups; `history` keeps every create, edit and delete in order.
    """

    # The emulator's messages by id, where the current versions are looked up.
    store: dict[int, dict[str, Any]] = field(repr=False)
    id: int
    token: str
    type: int
    payload: dict[str, Any] = field(repr=False)
    created_at: float = 0.0
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    files: list[Upload] = field(default_factory=list)
    # For component interactions, the message whose component was used.
    source_message_id: int | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    # -------------------------------------------------------------- state
    @property
    def name(self) -> str | None:
        """The command name (or the component's custom_id)."""
        data = self.payload.get("data") or {}
        return data.get("name") or data.get("custom_id")

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def response_type(self) -> int | None:
        """The first callback's type (4, 5, 6, 7, 8 or 9)."""
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def original(self) -> dict[str, Any] | None:
        """The current original response message, if any."""
        if self.original_id is None:
            return None
        return self.store.get(self.original_id)

    @property
    def followups(self) -> list[dict[str, Any]]:
        return [self.store[i] for i in self.followup_ids if i in self.store]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The original response (if it exists) and the followups, in their latest versions."""
        found = [self.original] if self.original is not None else []
        return found + self.followups

    @property
    def ephemeral(self) -> bool:
        """Whether the original response is only visible to the invoking user."""
        msg = self.original
        return bool(msg is not None and int(msg.get("flags") or 0) & EPHEMERAL)

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot opened (type-9 callback data), if any."""
        return next((c.get("data") for c in self.callbacks if c["type"] == 9), None)

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        """Autocomplete choices (type-8 callback), if answered."""
        cb = next((c for c in self.callbacks if c["type"] == 8), None)
        return None if cb is None else (cb.get("data") or {}).get("choices", [])

    @property
    def answered(self) -> bool:
        """Whether the user sees an answer: a message, an edit, a modal or choices."""
        if not self.callbacks:
            return False
        kind = self.response_type
        if kind in (4, 7, 8, 9):
            return True
        if kind == 5:
            msg = self.original
            return bool(self.followup_ids) or (
                msg is not None and not int(msg.get("flags") or 0) & LOADING
            )
        if kind == 6:
            return any(h.action == "edit" for h in self.history) or bool(self.followup_ids)
        return False

    def final_message(self) -> dict[str, Any] | None:
        """The message a user now sees as the answer."""
        kind = self.response_type
        if kind in (6, 7) and self.source_message_id is not None:
            edited = self.store.get(self.source_message_id)
            if kind == 7 or any(h.action == "edit" for h in self.history):
                return edited
        if self.original is not None:
            return self.original
        followups = self.followups
        return followups[-1] if followups else None

    # ------------------------------------------------------------- waiting
    def notify(self) -> None:
        """Wake whoever waits on this record: something changed."""
        self._changed.set()

    def refuse(self, entry: dict[str, Any]) -> None:
        """Record a refused request (code, errors, route) and wake the waiters."""
        self.rejections.append(entry)
        self.notify()

    async def wait_for(
        self,
        predicate: Callable[[InteractionRecord], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> InteractionRecord:
        """Wait until `predicate(self)` holds, or fail with InteractionTimeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise InteractionTimeout(
                    f"interaction {self.name!r} did not reach the awaited state in {timeout} s; "
                    f"callbacks={[c['type'] for c in self.callbacks]} rejections={self.rejections}"
                )
            self._changed.clear()
            # asyncio.wait, not wait_for: on Python 3.11 wait_for loses a cancellation that
            # arrives as the event is set, and Ctrl-C in the sandbox must stop the wait.
            changed = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({changed}, timeout=remaining)
            finally:
                changed.cancel()
        return self

    async def wait_response(self, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait for the first callback and return it."""
        await self.wait_for(lambda r: r.acknowledged, timeout)
        return self.callbacks[0]

    async def wait_final(self, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until the user sees an answer and return that message (a copy).

        Type 4 and 7: the callback's message; type 5: the original once a followup
        or edit replaced "thinking…"; type 6: the edited source message.
        """
        await self.wait_for(lambda r: r.answered, timeout)
        if self.response_type in (8, 9):
            raise InteractionTimeout(
                f"interaction answered with callback type {self.response_type}, not a message; "
                "use rec.choices or rec.modal"
            )
        msg = self.final_message()
        assert msg is not None, "answered interaction without a message"
        return copy.deepcopy(msg)

    async def wait_modal(self, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait for a type-9 callback and return the modal data."""
        await self.wait_for(
            lambda r: r.modal is not None or (r.acknowledged and r.response_type != 9), timeout
        )
        if self.modal is None:
            raise InteractionTimeout(f"expected a modal, got callback type {self.response_type}")
        return self.modal
