"""What /limits and /usage show, as text in the reader's language (no Discord calls).

Roles and members appear as mentions, which Discord shows by name and which
never ping (every reply goes out with allowed_mentions none).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from bot.i18n import Msg, _, ngettext, render
from bot.storage.usage import MemberDay, Totals
from bot.usage.errors import when
from bot.usage.limits import LIMITS, Effective, LimitConfig, describe
from bot.usage.service import LimitStatus, MemberUsage, ServerReport

# Lines of each /usage server section (the CSV has everything).
DAYS_SHOWN = 7
MODELS_SHOWN = 5
MEMBERS_SHOWN = 10


def number(value: int) -> str:
    return f"{value:,}"


def shown_value(value: int, locale: str) -> str:
    return render(_("no limit"), locale) if value == 0 else number(value)


def source(limit: Effective, locale: str) -> str:
    if limit.source == "server":
        return render(_("set by the server"), locale)
    if limit.source == "role":
        return render(_("from the role <@&{role}>", role=limit.role_id), locale)
    if limit.source == "exempt":
        return render(_("exempt (Manage Server)"), locale)
    return render(_("the default"), locale)


def totals_line(label: Msg, totals: Totals, locale: str) -> str:
    return render(
        ngettext(
            "{label}: {n} request · {prompt} prompt + {completion} completion tokens",
            "{label}: {n} requests · {prompt} prompt + {completion} completion tokens",
            totals.requests,
            label=label,
            prompt=number(totals.prompt_tokens),
            completion=number(totals.completion_tokens),
        ),
        locale,
    )


def short_totals(label: str, totals: Totals, locale: str) -> str:
    return render(
        ngettext(
            "{label}: {n} request · {tokens} tokens",
            "{label}: {n} requests · {tokens} tokens",
            totals.requests,
            label=label,
            tokens=number(totals.tokens),
        ),
        locale,
    )


def limits_text(
    config: LimitConfig, used: Mapping[str, int], exempt_managers: bool, locale: str
) -> str:
    """/limits show: every limit, where its value comes from, the roles that override it."""
    lines = [render(_("**Usage limits on this server** (0 = no limit)"), locale)]
    for name, spec in LIMITS.items():
        value = config.value(name)
        where = (
            render(_("set by the server"), locale)
            if name in config.server
            else render(_("the default"), locale)
        )
        line = f"`{name}` {shown_value(value, locale)} — {where} · {render(describe(name), locale)}"
        for role, role_value in sorted(config.overrides(name).items()):
            line += f" · <@&{role}> {shown_value(role_value, locale)}"
        if spec.scope == "server" and name in used:
            line += " · " + render(_("used: {used}", used=number(used[name])), locale)
        lines.append(line)
    if exempt_managers:
        lines.append(
            render(
                _("Members with Manage Server skip the member limits (limits_exempt_managers on)."),
                locale,
            )
        )
    else:
        lines.append(
            render(
                _(
                    "Members with Manage Server are limited like everyone "
                    "(/settings set limits_exempt_managers on exempts them)."
                ),
                locale,
            )
        )
    lines.append(
        "-# "
        + render(
            _(
                "Roles override the member limits (the most generous role wins). Change with "
                "/limits set and /limits role, undo with /limits reset (Manage Server)."
            ),
            locale,
        )
    )
    return "\n".join(lines)


def status_line(status: LimitStatus, locale: str) -> str:
    name, limit = status.limit.name, status.limit
    if limit.unlimited:
        text = render(_("no limit"), locale)
    elif name == "in_flight":
        text = render(
            _("{left} of {limit} free", left=status.left, limit=number(limit.value)), locale
        )
    else:
        text = render(
            _("{left} of {limit} left", left=number(status.left or 0), limit=number(limit.value)),
            locale,
        )
        if status.resets_at is not None:
            text += " · " + render(_("resets {when}", when=when(status.resets_at)), locale)
    return f"`{name}` {text} — {source(limit, locale)}"


def member_text(usage: MemberUsage, locale: str) -> str:
    """/usage me: today and this month, then what each limit leaves."""
    lines = [
        render(_("**Your use on this server** (UTC days and months)"), locale),
        totals_line(_("Today"), usage.today, locale),
        totals_line(_("This month"), usage.month, locale),
        render(_("**What your limits leave**"), locale),
    ]
    lines.extend(status_line(status, locale) for status in usage.limits)
    return "\n".join(lines)


def server_text(report: ServerReport, locale: str) -> str:
    """/usage server: this month's totals, the last days, the models and the top members."""
    month = report.month.strftime("%Y-%m")
    lines = [
        render(_("**Usage on this server in {month}** (UTC)", month=month), locale),
        totals_line(_("Total"), report.total, locale),
    ]
    if not report.total.requests:
        lines.append(render(_("Nothing was generated here this month."), locale))
        return "\n".join(lines)
    lines.append(render(_("**By day**"), locale))
    lines.extend(short_totals(d.isoformat(), t, locale) for d, t in report.days[-DAYS_SHOWN:])
    lines.append(render(_("**By model**"), locale))
    lines.extend(
        short_totals(f"`{model or '?'}`", t, locale) for model, t in report.models[:MODELS_SHOWN]
    )
    lines.append(render(_("**By member**"), locale))
    lines.extend(short_totals(f"<@{uid}>", t, locale) for uid, t in report.members[:MEMBERS_SHOWN])
    lines.append("-# " + render(_("csv:true gives every member's every day as a file."), locale))
    return "\n".join(lines)


def _cell(text: str) -> str:
    """A name as a CSV cell that spreadsheets show as text, never run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


CSV_HEADER = ("date", "member_id", "member_name", "requests", "prompt_tokens", "completion_tokens")


def usage_csv(rows: Sequence[MemberDay]) -> str:
    """usage.csv: one row per member per UTC day."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow(
            (
                row.day.isoformat(),
                row.user_id,
                _cell(row.user_name),
                row.totals.requests,
                row.totals.prompt_tokens,
                row.totals.completion_tokens,
            )
        )
    return out.getvalue()
