"""Sentences as JSON and back, so that stored notes render later in any locale.

A footer note saved with a generation (a clamp, a warning) is shown again when
someone pages through it, maybe in another language: it is stored as its
message id and values, not as English text. Plain strings stay strings (and
rows written before this load as they are).
"""

from __future__ import annotations

from typing import Any

from bot.i18n.core import Localized, Msg
from bot.i18n.formats import Joined, Number, Percent


def to_data(text: Any) -> Any:
    """A sentence, a formatted value or plain data as JSON-ready data."""
    if isinstance(text, Msg):
        data: dict[str, Any] = {
            "msgid": text.msgid,
            "values": {k: to_data(v) for k, v in text.values.items()},
        }
        if text.plural is not None:
            data["plural"], data["n"] = text.plural, text.n
        return data
    if isinstance(text, Number):
        return {"number": text.value, "decimals": text.decimals}
    if isinstance(text, Percent):
        return {"percent": text.value, "decimals": text.decimals}
    if isinstance(text, Joined):
        return {"join": [to_data(item) for item in text.items], "style": text.style}
    if isinstance(text, Localized):
        return str(text)
    if text is None or isinstance(text, str | int | float | bool):
        return text
    return str(text)


def from_data(data: Any) -> Any:
    """What `to_data` made, back as a sentence (plain data comes back as it is)."""
    if not isinstance(data, dict):
        return data
    if "msgid" in data:
        values = {k: from_data(v) for k, v in (data.get("values") or {}).items()}
        return Msg(str(data["msgid"]), values, data.get("plural"), data.get("n"))
    if "number" in data:
        return Number(data["number"], data.get("decimals"))
    if "percent" in data:
        return Percent(data["percent"], int(data.get("decimals") or 0))
    if "join" in data:
        return Joined(tuple(from_data(item) for item in data["join"]), data.get("style", "list"))
    return data
