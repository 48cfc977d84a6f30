"""Moderation: every prompt and every generated candidate checked before anyone sees it.

Providers (`providers`, `matching`, `automod`) find categories in texts; the
server's `policy` turns them into an action; `service` runs the checks, keeps
the verdicts and the review queue. No Discord here: the cog registers what
reads AutoMod rules and posts to channels.
"""

from bot.moderation.categories import ACTIONS, CATEGORIES, DEFAULT_ACTIONS, Action
from bot.moderation.matching import InvalidPattern, Matcher
from bot.moderation.policy import Policy
from bot.moderation.service import ModerationService, Notifier, Report, StreamGuard
from bot.moderation.verdicts import ModerationRefused, OutputCheck, Subject, Verdict

__all__ = [
    "ACTIONS",
    "CATEGORIES",
    "DEFAULT_ACTIONS",
    "Action",
    "InvalidPattern",
    "Matcher",
    "ModerationRefused",
    "ModerationService",
    "Notifier",
    "OutputCheck",
    "Policy",
    "Report",
    "StreamGuard",
    "Subject",
    "Verdict",
]
