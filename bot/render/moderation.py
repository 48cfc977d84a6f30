"""Moderation as message text: /moderation show, test and history, reports and the review
queue's messages. Pure functions; every sentence is rendered in the locale given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.i18n import Msg, _, ngettext, render
from bot.render.text import MESSAGE_LIMIT, cut_units, split_text, ulen

if TYPE_CHECKING:
    from bot.moderation.automod import AutoModRules
    from bot.moderation.policy import Policy
    from bot.moderation.service import Report, TestReport
    from bot.storage.moderation import EventRecord, HeldText

# How much of a prompt and of a held text a review message shows (the whole
# text is kept, and posted whole when approved).
PROMPT_WIDTH = 300
TEXT_WIDTH = 1200


def short(text: str, width: int) -> str:
    """At most `width` UTF-16 units, with an ellipsis when cut."""
    return text if ulen(text) <= width else cut_units(text, width - 1) + "…"


def spoiler(text: str) -> str:
    """`text` behind a spoiler; a `||` inside it would end the spoiler early."""
    return "||" + text.replace("||", "|\u200b|") + "||"


def quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.split("\n"))


def scores_text(scores: Mapping[str, float]) -> str:
    """`hate 0.97, violence 0.40`, strongest first."""
    ordered = sorted(scores.items(), key=lambda item: -item[1])
    return ", ".join(f"`{name}` {score:.2f}" for name, score in ordered)


def _fit(lines: Sequence[str]) -> str:
    text = "\n".join(lines)
    return text if ulen(text) <= MESSAGE_LIMIT else cut_units(text, MESSAGE_LIMIT - 1) + "…"


# -- /moderation show ----------------------------------------------------------------


def show_text(
    policy: Policy,
    categories: Sequence[str],
    providers: Sequence[str],
    rules: AutoModRules,
    locale: str | None,
) -> str:
    """Every category's action and where it comes from, then the failure mode, the
    channel, the providers, the word lists and the AutoMod rules applied."""

    def t(msg: Msg) -> str:
        return render(msg, locale)

    lines = [t(_("**Moderation here** (each category's action):"))]
    for name in categories:
        action = policy.configured(name)
        source = t(_("server")) if name in policy.overrides else t(_("default"))
        lines.append(f"`{name}` {action} — {source}")
    if policy.channel_id is None:
        lines.append(
            t(
                _(
                    "No moderation channel is set: `hold` acts as `block` "
                    "(set one with /moderation channel)."
                )
            )
        )
    else:
        lines.append(t(_("Moderation channel: <#{channel}>.", channel=policy.channel_id)))
    failure_source = t(_("server")) if policy.failure_mode else t(_("default"))
    lines.append(
        t(
            _(
                "When a provider is down: {mode} — {source} (closed withholds what a "
                "`hold` or `block` category would have checked; open shows it with a note).",
                mode=policy.on_failure,
                source=failure_source,
            )
        )
    )
    lines.append(t(_("Providers on: {names}.", names=", ".join(providers))))
    lines.append(
        t(
            _(
                "Word list: {keywords} keywords, {regexes} patterns, {allow} allowed "
                "(see /moderation words).",
                keywords=len(policy.entries("keyword")),
                regexes=len(policy.entries("regex")),
                allow=len(policy.entries("allow")),
            )
        )
    )
    lines.extend(automod_lines(rules, locale))
    return _fit(lines)


def automod_lines(rules: AutoModRules, locale: str | None) -> list[str]:
    """What /moderation show says about the server's own AutoMod rules."""

    def t(msg: Msg) -> str:
        return render(msg, locale)

    if not rules.readable:
        return [
            t(
                _(
                    "-# Couplet can't read this server's AutoMod rules: give it the Manage "
                    "Server permission so that they apply to generated text too."
                )
            )
        ]
    if rules.error:
        return [t(_("-# AutoMod rules could not be read just now: {error}.", error=rules.error))]
    names = ", ".join(c.rule.name for c in rules.rules) or "—"
    lines = [
        t(
            ngettext(
                "AutoMod: {n} keyword rule applied to generated text ({names}).",
                "AutoMod: {n} keyword rules applied to generated text ({names}).",
                len(rules.rules),
                names=names,
            )
        )
    ]
    if rules.presets:
        lines.append(
            t(
                _(
                    "-# Preset rules ({names}) can't be applied: Discord does not share "
                    "their word lists.",
                    names=", ".join(rules.presets),
                )
            )
        )
    for rule, pattern in rules.skipped:
        lines.append(
            t(
                _(
                    "-# Rule {rule}: the pattern {pattern} can't run in linear time and is "
                    "not applied.",
                    rule=rule,
                    pattern=f"`{short(pattern, 80)}`",
                )
            )
        )
    return lines


# -- /moderation words, test, history -----------------------------------------------


def words_text(policy: Policy, locale: str | None) -> str:
    def t(msg: Msg) -> str:
        return render(msg, locale)

    if not policy.words:
        return t(_("This server's word list is empty: add keywords with /moderation words add:."))
    lines = [t(_("**This server's word list:**"))]
    for kind, title in (
        ("keyword", _("Keywords")),
        ("regex", _("Patterns")),
        ("allow", _("Allowed")),
    ):
        entries = policy.entries(kind)
        if entries:
            lines.append(f"{t(title)}: " + ", ".join(f"`{short(e, 80)}`" for e in entries))
    return _fit(lines)


def test_text(report: TestReport, locale: str | None) -> str:
    """Every provider's verdict on the text, then what the policy does with it."""

    def t(msg: Msg) -> str:
        return render(msg, locale)

    lines = [t(_("**Each provider's verdict:**"))]
    for name, result in report.results.items():
        if isinstance(result, str):
            lines.append(t(_("`{provider}` unavailable: {reason}.", provider=name, reason=result)))
            continue
        found = ", ".join(result.found) or t(_("nothing"))
        top = dict(sorted(result.scores.items(), key=lambda item: -item[1])[:3])
        lines.append(
            t(
                _(
                    "`{provider}` found {found} (top scores: {scores}).",
                    provider=name,
                    found=found,
                    scores=scores_text(top),
                )
            )
        )
    words = ", ".join(f"`{short(w, 40)}`" for w in report.wordlist) or t(_("nothing"))
    lines.append(t(_("`wordlist` matched {found}.", found=words)))
    if not report.rules.readable:
        lines.append(t(_("`automod` can't be read (Couplet needs Manage Server).")))
    else:
        hits = ", ".join(f"{rule}: `{short(w, 40)}`" for rule, w in report.automod) or t(
            _("nothing")
        )
        lines.append(t(_("`automod` matched {found}.", found=hits)))
    verdict = report.verdict
    if verdict.category:
        lines.append(
            t(
                _(
                    "Under this server's policy: **{action}** ({category}).",
                    action=verdict.action,
                    category=verdict.category,
                )
            )
        )
    else:
        lines.append(t(_("Under this server's policy: **{action}**.", action=verdict.action)))
    return _fit(lines)


def history_text(events: Sequence[EventRecord], locale: str | None) -> str:
    def t(msg: Msg) -> str:
        return render(msg, locale)

    if not events:
        return t(_("No moderation events yet."))
    lines = [t(_("**Moderation events** (newest first):"))]
    for event in events:
        when = _relative(event.at)
        where = f" <#{event.channel_id}>" if event.channel_id else ""
        scores = scores_text(event.categories)
        if event.stage == "review":
            lines.append(
                t(
                    _(
                        "{when} <@{reviewer}> decided **{action}** on held text #{held} "
                        "(asked by <@{user}>{where}).",
                        when=when,
                        reviewer=event.reviewer_id,
                        action=event.action,
                        held=event.held_id,
                        user=event.user_id,
                        where=where,
                    )
                )
            )
        else:
            lines.append(
                t(
                    _(
                        "{when} {stage} by <@{user}>{where}: **{action}** by {provider} {scores}",
                        when=when,
                        stage=event.stage,
                        user=event.user_id,
                        where=where,
                        action=event.action,
                        provider=event.provider,
                        scores=scores,
                    )
                ).rstrip()
            )
    return _fit(lines)


def _relative(at: datetime | None) -> str:
    return f"<t:{int(at.timestamp())}:R>" if at is not None else ""


# -- messages in the moderation channel ------------------------------------------------


def report_text(report: Report, locale: str | None) -> str:
    """A flagged text, for the moderation channel."""
    subject = report.subject
    where = f"<#{subject.channel_id}>" if subject.channel_id else "DM"
    head = render(
        _(
            "**Flagged** ({stage}) — <@{user}> in {where}: {scores}",
            stage=report.stage,
            user=subject.user_id,
            where=where,
            scores=scores_text(report.verdict.scores),
        ),
        locale,
    )
    return _fit([head, spoiler(short(report.text, TEXT_WIDTH))])


def review_text(item: HeldText, locale: str | None) -> str:
    """A held text waiting for a decision: who asked, where, the prompt, the text, why."""
    head = render(
        _(
            "**Held for review** #{id} — <@{user}> in <#{channel}>: {scores}",
            id=item.id,
            user=item.user_id,
            channel=item.channel_id,
            scores=scores_text(item.categories),
        ),
        locale,
    )
    lines = [head]
    if item.prompt.strip():
        lines.append(render(_("Prompt:"), locale))
        lines.append(quoted(short(item.prompt, PROMPT_WIDTH)))
    lines.append(render(_("Held text:"), locale))
    lines.append(spoiler(short(item.text, TEXT_WIDTH)))
    lines.append(
        render(
            _(
                "-# Approve posts it in <#{channel}>; time-outs apply to <@{user}>.",
                channel=item.channel_id,
                user=item.user_id,
            ),
            locale,
        )
    )
    return _fit(lines)


def decided_text(item: HeldText, decision: str, reviewer_id: int, locale: str | None) -> str:
    """The review message once decided: the same, with the decision instead of buttons."""
    base = review_text(item, locale).rsplit("\n", 1)[0]
    who = {"reviewer": reviewer_id, "channel": item.channel_id, "user": item.user_id}
    if decision == "approve":
        msg = _("Approved by <@{reviewer}>: posted in <#{channel}>.", **who)
    elif decision == "timeout_1h":
        msg = _("Rejected by <@{reviewer}>, who timed <@{user}> out for 1 hour.", **who)
    elif decision == "timeout_24h":
        msg = _("Rejected by <@{reviewer}>, who timed <@{user}> out for 24 hours.", **who)
    else:
        msg = _("Rejected by <@{reviewer}>.", **who)
    return _fit([base, "-# " + render(msg, locale)])


def approved_messages(item: HeldText, locale: str | None) -> list[str]:
    """The approved text as posted where it was asked: the text, then who asked."""
    note = "-# " + render(
        _("Approved by a moderator after review; asked for by <@{user}>.", user=item.user_id),
        locale,
    )
    pieces = split_text(item.text, MESSAGE_LIMIT - ulen(note) - 1) or ["…"]
    pieces[-1] = pieces[-1] + "\n" + note
    return pieces
