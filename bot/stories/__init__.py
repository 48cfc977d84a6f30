"""Group stories: a channel writes one text together. The model proposes candidates,
members vote, moderators approve; every candidate is a node of the story's tree.

`StoryService` (service.py) is the use case; `rules` who wins a round, `tree` the
text and the exports, `settings` a server's story settings and who may do what,
`proposals` what a round asks of the model, `throttle` keeping a round's tally
within Discord's edit budget. No Discord here.
"""

from bot.stories.proposals import Proposal, Proposals, Proposer
from bot.stories.rules import MODES, Mode
from bot.stories.service import (
    Decided,
    RoundView,
    StoryError,
    StoryService,
    SweepReport,
    VoteResult,
)
from bot.stories.settings import Member, StorySettings
from bot.stories.throttle import EditThrottle
from bot.stories.tree import EXPORT_FORMATS, ExportFormat

__all__ = [
    "EXPORT_FORMATS",
    "MODES",
    "Decided",
    "EditThrottle",
    "ExportFormat",
    "Member",
    "Mode",
    "Proposal",
    "Proposals",
    "Proposer",
    "RoundView",
    "StoryError",
    "StoryService",
    "StorySettings",
    "SweepReport",
    "VoteResult",
]
