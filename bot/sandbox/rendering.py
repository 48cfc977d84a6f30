"""What the sandbox terminal shows: messages, forms and refusals as styled text fragments.

A fragment list is prompt_toolkit's formatted text, `[(style, text), …]`; `plain()`
joins the texts. Plain rendering (`rich=False`) is the line-oriented text scripts
have always read. Rich rendering, for a person at a terminal, draws what Discord
draws: markdown bold and code without their markers, `-#` subtext dimmed, embeds
in a frame of their colour, buttons in their style's colour. Styles are class
names (`class:author`) given colours by `STYLE_RULES`, so NO_COLOR drops only
the colours.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from bot.sandbox import limits
from bot.sandbox.interactions import InteractionRecord

Fragments = list[tuple[str, str]]

# Class → prompt_toolkit style. ANSI colour names, so the terminal's own palette applies.
STYLE_RULES: dict[str, str] = {
    "author": "bold ansibrightmagenta",
    "ephemeral": "italic ansicyan",
    "loading": "italic",
    "subtext": "ansibrightblack",
    "bold": "bold",
    "code": "ansiyellow",
    "codeblock": "ansiyellow",
    "embed.bar": "ansiblue",
    "embed.author": "bold",
    "embed.title": "bold",
    "embed.field": "bold",
    "embed.footer": "ansibrightblack",
    "button": "bold",
    "button.primary": "bold ansibrightblue",
    "button.secondary": "bold",
    "button.success": "bold ansigreen",
    "button.danger": "bold ansired",
    "button.link": "underline ansibrightblue",
    "button.disabled": "dim strike",
    "select": "ansicyan",
    "file": "ansigreen",
    "error": "ansired",
    "notice": "ansibrightblack",
    "modal": "ansicyan",
    "help": "",
    # The prompt, the toolbar and the pager.
    "prompt.member": "bold ansigreen",
    "prompt.channel": "bold ansicyan",
    "bottom-toolbar": "noreverse bg:ansiblack ansiwhite",
    "toolbar.name": "bold",
    "toolbar.problem": "bold ansired",
    "more": "reverse",
}
BUTTON_STYLES = {1: "primary", 2: "secondary", 3: "success", 4: "danger", 5: "link", 6: "primary"}


def plain(fragments: Fragments) -> str:
    """The text of a fragment list, without its styles."""
    return "".join(text for _, text in fragments)


def split_lines(fragments: Fragments) -> list[Fragments]:
    """Fragments cut into lines at their newlines (a final newline ends the last line)."""
    lines: list[Fragments] = [[]]
    for style, text in fragments:
        parts = text.split("\n")
        for number, part in enumerate(parts):
            if number:
                lines.append([])
            if part:
                lines[-1].append((style, part))
    if len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines


# ----------------------------------------------------------------- markup

_MARKUP = re.compile(r"<(@!?|@&|#)(\d+)>|<t:(-?\d+)(?::([tTdDfFR]))?>")
_INLINE = re.compile(r"\*\*(.+?)\*\*|`([^`\n]+)`")


def show_markup(text: str, names: Mapping[int, str], now: float | None = None) -> str:
    """Discord mention and timestamp markup as the client shows it: @alice, #general, 2 min ago."""
    now = time.time() if now is None else now

    def replace(match: re.Match[str]) -> str:
        kind, ident, stamp, style = match.groups()
        if stamp is None:
            name = names.get(int(ident))
            if name is None:
                return match.group(0)
            return ("#" if kind == "#" else "@") + name.lstrip("@")
        seconds = int(stamp)
        if style == "R":
            ago = round(now - seconds)
            if abs(ago) < 60:
                return "just now"
            minutes = abs(ago) // 60
            amount = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
            return f"{amount} ago" if ago > 0 else f"in {amount}"
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))

    return _MARKUP.sub(replace, text)


def _inline(text: str, base: str = "") -> Fragments:
    """`**bold**` and `` `code` `` as Discord shows them: styled, without their markers."""
    out: Fragments = []
    at = 0
    for match in _INLINE.finditer(text):
        if match.start() > at:
            out.append((base, text[at : match.start()]))
        if match.group(1) is not None:
            out.append((f"{base} class:bold".strip(), match.group(1)))
        else:
            out.append(("class:code", match.group(2)))
        at = match.end()
    if at < len(text):
        out.append((base, text[at:]))
    return out


def _content(text: str, rich: bool) -> Fragments:
    """Message content, indented two spaces a line."""
    if not rich:
        return [("", "\n".join("  " + line for line in text.split("\n")))]
    out: Fragments = []
    in_code = False
    for number, line in enumerate(text.split("\n")):
        if number:
            out.append(("", "\n"))
        out.append(("", "  "))
        if line.startswith("```"):
            in_code = not in_code
            out.append(("class:subtext", line))
        elif in_code:
            out.append(("class:codeblock", line))
        elif line.startswith("-# "):
            out += _inline(line[3:], "class:subtext")
        else:
            out += _inline(line)
    return out


# ------------------------------------------------------------------- parts


def button_name(component: dict[str, Any]) -> str:
    """What a button is called: its label, or its emoji's name when it has no label."""
    return str(component.get("label") or (component.get("emoji") or {}).get("name") or "")


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A message's buttons, row by row."""
    return [
        c
        for row in message.get("components") or []
        for c in row.get("components") or []
        if c.get("type") == 2
    ]


def _button(component: dict[str, Any], rich: bool) -> tuple[str, str]:
    label = button_name(component) or "?"
    if not rich:
        return ("", f"[{label}]" if not component.get("disabled") else f"[{label} (disabled)]")
    if component.get("disabled"):
        return ("class:button.disabled", f"[{label}]")
    kind = BUTTON_STYLES.get(int(component.get("style") or 2), "secondary")
    return (f"class:button.{kind}", f"[{label} ↗]" if kind == "link" else f"[{label}]")


def _select(component: dict[str, Any], rich: bool) -> tuple[str, str]:
    options = ", ".join(o.get("value", "") for o in component.get("options") or [])
    name = f"select {component['placeholder']}" if component.get("placeholder") else "select"
    return ("class:select" if rich else "", f"<{name}: {options}>")


def _embed(embed: dict[str, Any], rich: bool) -> list[Fragments]:
    """An embed's lines: `  | ` before each in plain text, a frame of its colour when rich."""
    author = (embed.get("author") or {}).get("name")
    footer = (embed.get("footer") or {}).get("text")
    body: list[Fragments] = []
    if author and not rich:
        body.append([("", str(author))])
    if embed.get("title"):
        body.append([("class:embed.title", str(embed["title"]))])
    for line in str(embed.get("description") or "").split("\n") if embed.get("description") else []:
        body.append(_inline(line) if rich else [("", line)])
    for fld in embed.get("fields") or []:
        body.append([("class:embed.field", f"{fld.get('name')}:"), ("", f" {fld.get('value')}")])
    if not rich:
        if footer:
            body.append([("", f"-- {footer}")])
        return [[("", "  | "), *line] for line in body]
    bar = f"fg:#{int(embed['color']):06x}" if embed.get("color") else "class:embed.bar"
    top: Fragments = [("", "  "), (bar, "╭─")]
    if author:
        top += [("", " "), ("class:embed.author", str(author))]
    bottom: Fragments = [("", "  "), (bar, "╰─")]
    if footer:
        bottom += [("", " "), ("class:embed.footer", str(footer))]
    return [top, *[[("", "  "), (bar, "│"), ("", " "), *line] for line in body], bottom]


def message_fragments(
    message: dict[str, Any],
    *,
    bot_name: str = "bot",
    names: Mapping[int, str] | None = None,
    rich: bool = False,
) -> Fragments:
    """A message: its author, content, embeds, buttons as [Label], selects, files by name.

    `names` maps member, role and channel ids to names, so mentions read as in Discord.
    """
    flags = int(message.get("flags") or 0)
    author = (message.get("author") or {}).get("username") or bot_name
    lines: list[Fragments] = []
    header: Fragments = [("class:author", author), ("", ":")]
    if flags & limits.EPHEMERAL:
        header.append(("class:ephemeral", " (only you can see this)"))
    if flags & limits.LOADING:
        header.append(("class:loading", " is thinking…"))
    lines.append(header)
    if message.get("content"):
        lines.append(_content(show_markup(str(message["content"]), names or {}), rich))
    for embed in message.get("embeds") or []:
        lines += _embed(embed, rich)
    for row in message.get("components") or []:
        parts = []
        for comp in row.get("components") or []:
            if comp.get("type") == 2:
                parts.append(_button(comp, rich))
            elif comp.get("type") == 3:
                parts.append(_select(comp, rich))
        if parts:
            row_fragments: Fragments = [("", "  ")]
            for number, part in enumerate(parts):
                row_fragments += [("", " "), part] if number else [part]
            lines.append(row_fragments)
    for attachment in message.get("attachments") or []:
        text = f"  file: {attachment.get('filename')} ({attachment.get('size')} bytes)"
        lines.append([("class:file" if rich else "", text)])
    out: Fragments = []
    for number, line in enumerate(lines):
        if number:
            out.append(("", "\n"))
        out += line
    return out


def render_message(
    message: dict[str, Any], *, bot_name: str = "bot", names: Mapping[int, str] | None = None
) -> str:
    """A message as plain text (see `message_fragments`)."""
    return plain(message_fragments(message, bot_name=bot_name, names=names))


def modal_fragments(modal: dict[str, Any]) -> Fragments:
    """A modal's fields and how to fill them."""
    lines = [f"The bot opened a form: {modal.get('title')!r}"]
    for item in limits.modal_inputs(modal.get("components") or []):
        if item.get("type") != 4:
            continue
        need = "required" if item.get("required", True) else "optional"
        lines.append(f"  {item.get('label') or item.get('custom_id')} ({need})")
    lines.append('Fill it with: modal FIELD="value" … (or modal TEXT when there is one field)')
    return [("class:modal", "\n".join(lines))]


def render_modal(modal: dict[str, Any]) -> str:
    return plain(modal_fragments(modal))


def render_rejections(rec: InteractionRecord) -> list[str]:
    """Why Discord refused something the bot sent, in one line each."""
    out = []
    for rejection in rec.rejections:
        errors = rejection.get("errors") or []
        detail = (
            "; ".join(f"{e.path}: {e.message}" for e in errors) or f"code {rejection.get('code')}"
        )
        out.append(f"Discord refused the bot's request: {detail}")
    return out
