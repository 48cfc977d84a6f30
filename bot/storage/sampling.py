"""Stored /sampling charts: what the Sample it and Next token buttons refer to.

A button's custom_id carries only a chart id, so it keeps working after a
restart and from any process; the prompt, the settings, the model and the
listed logprobs live here. Rows are never changed: Next token adds a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.database import Database
from bot.storage.models import Base, UTCDateTime, utcnow
from bot.storage.retention import prune_older_than

log = logging.getLogger(__name__)

MODEL_LENGTH = 200


class SamplingChartRow(Base):
    """One charted position: the prompt, the settings and the backend's top logprobs."""

    __tablename__ = "sampling_charts"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    model: Mapped[str | None] = mapped_column(String(MODEL_LENGTH), nullable=True)
    temperature: Mapped[float] = mapped_column(Float, nullable=False)
    top_p: Mapped[float] = mapped_column(Float, nullable=False)
    # [[token, logprob], ...] likeliest first, as the backend listed them.
    top_logprobs: Mapped[list[list[object]]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


@dataclass
class SamplingChart:
    """A stored chart, detached from the ORM."""

    user_id: int
    prompt: str
    temperature: float
    top_p: float
    top_logprobs: list[tuple[str, float]]
    model: str | None = None
    guild_id: int | None = None
    channel_id: int | None = None
    id: int | None = None
    created_at: datetime | None = None


class SamplingStore:
    """Add, fetch and prune stored charts."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, chart: SamplingChart) -> int:
        """Store `chart` and return its new id."""
        row = SamplingChartRow(
            guild_id=chart.guild_id,
            channel_id=chart.channel_id,
            user_id=chart.user_id,
            prompt=chart.prompt,
            model=chart.model[:MODEL_LENGTH] if chart.model else None,
            temperature=chart.temperature,
            top_p=chart.top_p,
            top_logprobs=[[token, logprob] for token, logprob in chart.top_logprobs],
        )
        async with self.db.write() as session:
            session.add(row)
            await session.flush()
            chart.id = row.id
            chart.created_at = row.created_at
        return row.id

    async def get(self, chart_id: int) -> SamplingChart | None:
        """The chart with this id, or None when it never existed or was pruned."""
        async with self.db.read() as session:
            row = await session.get(SamplingChartRow, chart_id)
            if row is None:
                return None
            return SamplingChart(
                id=row.id,
                guild_id=row.guild_id,
                channel_id=row.channel_id,
                user_id=row.user_id,
                prompt=row.prompt,
                model=row.model,
                temperature=row.temperature,
                top_p=row.top_p,
                top_logprobs=[(str(t), float(lp)) for t, lp in row.top_logprobs],  # type: ignore[arg-type]
                created_at=row.created_at,
            )

    async def prune(self, older_than: timedelta) -> int:
        """Delete charts created more than `older_than` ago; returns how many."""
        return await prune_older_than(self.db, SamplingChartRow, older_than, "sampling charts")
