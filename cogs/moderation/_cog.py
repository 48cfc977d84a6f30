"""/moderation show|set|channel|words|test|history, the AutoMod rule events, the
moderation channel's posts and the review queue's decisions.

Thin adapter over `bot.moderation`: it registers the two things the service
needs from Discord — reading a server's AutoMod rules and posting to its
moderation channel — and turns clicks on review buttons into decisions.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks
from discord.http import Route

from bot.background import Iteration, stop_loop
from bot.command_helpers import describe, localized, manage_guild_check
from bot.discord_buckets import forget_idle_bucket
from bot.errors import ParameterError
from bot.i18n import Msg, _, pick_locale
from bot.moderation.automod import UNREADABLE, AutoModRule, AutoModRules
from bot.moderation.categories import ACTIONS, CATEGORIES, FAILURE_MODES
from bot.moderation.policy import (
    parse_action,
    parse_category,
    parse_failure_mode,
    parse_words,
    split_entries,
)
from bot.moderation.service import Decision, Report
from bot.moderation.verdicts import Subject, Verdict
from bot.render.moderation import (
    approved_messages,
    decided_text,
    history_text,
    report_text,
    review_text,
    show_text,
    test_text,
    words_text,
)
from bot.tree import NO_MENTIONS, interaction_locale
from bot.tree import reply_ephemeral as reply
from cogs.moderation._views import COG_NAME, review_view

if TYPE_CHECKING:
    from bot.app import CoupletBot
    from bot.storage.moderation import HeldText

log = logging.getLogger(__name__)

# Rules are refreshed by the gateway events; this also catches what no event
# announces (Couplet given or denied Manage Server, events missed while offline).
AUTOMOD_REFRESH_MINUTES = 15
AUTOMOD_LEASE = "automod-refresh"
# The holder renews it every round; another process takes over two rounds after it died.
AUTOMOD_LEASE_TTL = AUTOMOD_REFRESH_MINUTES * 60 * 2 + 60
TIMEOUT_HOURS = {"timeout_1h": 1, "timeout_24h": 24}

CATEGORY_CHOICES = [app_commands.Choice(name=c, value=c) for c in CATEGORIES]
ACTION_CHOICES = [app_commands.Choice(name=a, value=a) for a in (*ACTIONS, "default")]
FAILURE_CHOICES = [app_commands.Choice(name=m, value=m) for m in (*FAILURE_MODES, "default")]


def subject_of(interaction: discord.Interaction) -> Subject:
    """The member and channel of an interaction, as moderation sees them."""
    roles = getattr(interaction.user, "roles", ())
    return Subject(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        role_ids=frozenset(role.id for role in roles),
    )


class ChannelNotifier:
    """Posts reports and held texts to a server's moderation channel."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot

    def locale(self, guild_id: int | None) -> str:
        guild = self.bot.get_guild(guild_id) if guild_id is not None else None
        return pick_locale(guild.preferred_locale if guild is not None else None)

    async def report(self, report: Report) -> None:
        channel = self.bot.get_partial_messageable(
            report.channel_id, guild_id=report.subject.guild_id
        )
        text = report_text(report, self.locale(report.subject.guild_id))
        await channel.send(text, allowed_mentions=NO_MENTIONS)

    async def review(self, item: HeldText, verdict: Verdict, channel_id: int) -> bool:
        assert item.id is not None
        locale = self.locale(item.guild_id)
        channel = self.bot.get_partial_messageable(channel_id, guild_id=item.guild_id)
        try:
            message = await channel.send(
                review_text(item, locale),
                view=review_view(item.id, locale),
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as err:
            log.warning("could not post held text %s to channel %s: %s", item.id, channel_id, err)
            return False
        await self.bot.moderation.reviewed(item.id, channel_id, message.id)
        return True


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Moderation(
    commands.GroupCog,
    name=COG_NAME,
    group_name="moderation",
    group_description=localized(_("What Couplet withholds here, and the review queue.")),
):
    """What Couplet withholds here, and the review queue."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot
        self.service = bot.moderation
        self._warm_up: asyncio.Task[None] | None = None
        self.refreshing = Iteration()
        super().__init__()

    async def cog_load(self) -> None:
        self.service.automod_loader = self.load_automod
        self.service.notifier = ChannelNotifier(self.bot)
        self.refresh_rules.start()
        if self.service.classifier is not None:
            # Load the classifier's model now, in a thread, not on the first request.
            self._warm_up = asyncio.create_task(self.warm_up(), name="moderation warm-up")

    async def cog_unload(self) -> None:
        await stop_loop(self.refresh_rules, self.refreshing)
        if self._warm_up is not None:
            self._warm_up.cancel()
        self.service.automod_loader = None
        self.service.notifier = None

    async def warm_up(self) -> None:
        assert self.service.classifier is not None
        try:
            await self.service.classifier.warm_up()
        except Exception:
            log.warning("the offline classifier could not be loaded", exc_info=True)

    @tasks.loop(minutes=AUTOMOD_REFRESH_MINUTES)
    async def refresh_rules(self) -> None:
        """Forget every server's rules, in every process; each is read again when next
        needed. With several processes one of them does it (the lease) for all."""
        with self.refreshing:
            if await self.bot.cluster.leases.claim(AUTOMOD_LEASE, ttl=AUTOMOD_LEASE_TTL):
                await self.service.automod.changed(None)

    @refresh_rules.error
    async def _refresh_failed(self, error: BaseException) -> None:
        log.error("refreshing AutoMod rules failed", exc_info=error)

    # -- the server's AutoMod rules -------------------------------------------------

    async def load_automod(self, guild_id: int) -> AutoModRules:
        """Read a server's rules (needs Manage Server).

        A read made once per server: discord.py's rate-limit bucket for it is
        dropped afterwards when idle, not kept per server (bot.discord_buckets).
        """
        route = Route("GET", "/guilds/{guild_id}/auto-moderation/rules", guild_id=guild_id)
        try:
            data = await self.bot.http.request(route)
        except discord.Forbidden:
            return UNREADABLE
        except discord.HTTPException as err:
            return AutoModRules(error=f"HTTP {err.status}")
        finally:
            forget_idle_bucket(self.bot.http, route)
        rules = []
        for raw in data:
            try:
                rules.append(AutoModRule.from_payload(raw))  # type: ignore[arg-type]
            except (KeyError, TypeError, ValueError):
                log.warning("an AutoMod rule of server %s could not be read", guild_id)
        return AutoModRules.build(rules)

    @commands.Cog.listener()
    async def on_automod_rule_create(self, rule: discord.AutoModRule) -> None:
        await self.service.refresh_automod(rule.guild.id)

    @commands.Cog.listener()
    async def on_automod_rule_update(self, rule: discord.AutoModRule) -> None:
        await self.service.refresh_automod(rule.guild.id)

    @commands.Cog.listener()
    async def on_automod_rule_delete(self, rule: discord.AutoModRule) -> None:
        await self.service.refresh_automod(rule.guild.id)

    # -- commands -------------------------------------------------------------------------

    @app_commands.command(
        name="show",
        description=localized(
            _("Show what Couplet withholds here: each category's action, channel, lists, rules.")
        ),
    )
    async def show(self, interaction: discord.Interaction) -> None:
        """Show what Couplet withholds here: each category's action, channel, lists, rules."""
        assert interaction.guild_id is not None
        policy = await self.service.policy(interaction.guild_id)
        rules = await self.service.automod_rules(interaction.guild_id)
        locale = interaction_locale(interaction)
        await reply(
            interaction, show_text(policy, CATEGORIES, self.service.providers, rules, locale)
        )

    @app_commands.command(
        name="set",
        description=localized(
            _("Change a category's action, or what happens when a provider is down.")
        ),
    )
    @describe(
        category=_("The category to change"),
        action=_("allow, flag (report), hold (review first) or block; default undoes a change"),
        on_failure=_("When a provider is down: open (show, with a note) or closed (withhold)"),
    )
    @app_commands.choices(
        category=CATEGORY_CHOICES, action=ACTION_CHOICES, on_failure=FAILURE_CHOICES
    )
    @manage_guild_check
    async def set_(
        self,
        interaction: discord.Interaction,
        category: str | None = None,
        action: str | None = None,
        on_failure: str | None = None,
    ) -> None:
        """Change a category's action, or what happens when a provider is down."""
        assert interaction.guild_id is not None
        gid, actor = interaction.guild_id, interaction.user.id
        if (category is None) != (action is None) or (category is None and on_failure is None):
            raise ParameterError(
                "category",
                category or "",
                "a category with an action, or on_failure",
                _("Give a category together with an action, or on_failure (or both)."),
            )
        said: list[Msg] = []
        if category is not None and action is not None:
            name = parse_category(category)
            new = None if action == "default" else parse_action(action)
            before, _after = await self.service.set_action(gid, name, new, actor)
            policy = await self.service.policy(gid)
            said.append(
                _(
                    "`{category}` is now {action} (was {before}).",
                    category=name,
                    action=policy.configured(name),
                    before=before.actions.get(name) or _("the default"),
                )
            )
            if policy.configured(name) == "hold" and policy.channel_id is None:
                said.append(
                    _("-# No moderation channel is set, so hold acts as block until one is.")
                )
        if on_failure is not None:
            mode = None if on_failure == "default" else parse_failure_mode(on_failure)
            await self.service.set_failure_mode(gid, mode, actor)
            policy = await self.service.policy(gid)
            said.append(_("When a provider is down: {mode}.", mode=policy.on_failure))
        locale = interaction_locale(interaction)
        await reply(interaction, "\n".join(m.render(locale) for m in said))

    @app_commands.command(
        name="channel",
        description=localized(
            _("Set the channel for reports and the review queue (needs Manage Server).")
        ),
    )
    @describe(channel=_("Where reports and held texts go; leave out to have none"))
    @manage_guild_check
    async def channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        """Set the channel for reports and the review queue (needs Manage Server)."""
        assert interaction.guild_id is not None
        await self.service.set_channel(
            interaction.guild_id, channel.id if channel else None, interaction.user.id
        )
        if channel is None:
            await reply(interaction, _("No moderation channel now: `hold` acts as `block`."))
        else:
            await reply(
                interaction,
                _("Reports and held texts now go to <#{channel}>.", channel=channel.id),
            )

    @app_commands.command(
        name="words",
        description=localized(
            _("List or change this server's word list, in AutoMod's syntax (needs Manage Server).")
        ),
    )
    @describe(
        add=_("Keywords to withhold, separated by commas (cat, cat*, *cat, *cat*)"),
        allow=_("Keywords that never count, separated by commas"),
        regex=_("One regular expression to withhold (Rust/RE2 syntax)"),
        remove=_("Entries to remove, separated by commas (or one pattern exactly)"),
    )
    @manage_guild_check
    async def words(
        self,
        interaction: discord.Interaction,
        add: str | None = None,
        allow: str | None = None,
        regex: str | None = None,
        remove: str | None = None,
    ) -> None:
        """List or change this server's word list, in AutoMod's syntax (needs Manage Server)."""
        assert interaction.guild_id is not None
        locale = interaction_locale(interaction)
        if add is None and allow is None and regex is None and remove is None:
            policy = await self.service.policy(interaction.guild_id)
            await reply(interaction, words_text(policy, locale))
            return
        entries = parse_words(add, allow, regex)
        removals = [*split_entries(remove or ""), *([remove.strip()] if remove else [])]
        added, removed = await self.service.change_words(
            interaction.guild_id, interaction.user.id, entries, removals
        )
        await reply(
            interaction,
            _(
                "Word list: {added} added, {removed} removed.",
                added=len(added),
                removed=len(removed),
            ),
        )

    @app_commands.command(
        name="test",
        description=localized(_("Show every provider's verdict on a text (needs Manage Server).")),
    )
    @describe(text=_("The text to check; nothing is generated or posted"))
    @manage_guild_check
    async def test(self, interaction: discord.Interaction, text: str) -> None:
        """Show every provider's verdict on a text (needs Manage Server)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self.service.test(subject_of(interaction), text)
        await reply(interaction, test_text(report, interaction_locale(interaction)))

    @app_commands.command(
        name="history",
        description=localized(
            _("Verdicts and moderators' decisions, newest first (needs Manage Server).")
        ),
    )
    @describe(count=_("How many events to show (newest first)"))
    @manage_guild_check
    async def history(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10
    ) -> None:
        """Verdicts and moderators' decisions, newest first (needs Manage Server)."""
        assert interaction.guild_id is not None
        events = await self.service.history(interaction.guild_id, count)
        await reply(interaction, history_text(events, interaction_locale(interaction)))

    # -- the review queue ---------------------------------------------------------------

    async def decide(
        self, interaction: discord.Interaction, held_id: int, decision: Decision
    ) -> None:
        """A click on a review button: checked, decided once, carried out."""
        if not interaction.permissions.manage_messages:
            await reply(
                interaction,
                _("You need the Manage Messages permission to decide on held texts."),
            )
            return
        item = await self.service.held(held_id)
        if item is None or item.guild_id != interaction.guild_id:
            await reply(interaction, _("That held text is no longer available."))
            return
        await interaction.response.defer()
        decided = await self.service.decide(held_id, decision, interaction.user.id)
        if decided is None:
            await interaction.followup.send(
                _("Another moderator already decided on this.").render(
                    interaction_locale(interaction)
                ),
                ephemeral=True,
            )
            return
        server_locale = pick_locale(interaction.guild_locale)
        problem = None
        if decision == "approve":
            problem = await self.post_approved(decided, server_locale)
        elif decision in TIMEOUT_HOURS:
            problem = await self.time_out(decided, TIMEOUT_HOURS[decision])
        await interaction.edit_original_response(
            content=decided_text(decided, decision, interaction.user.id, server_locale),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )
        if problem is not None:
            await interaction.followup.send(
                problem.render(interaction_locale(interaction)), ephemeral=True
            )

    async def post_approved(self, item: HeldText, locale: str) -> Msg | None:
        """Post an approved text where it was asked for; a sentence if that failed."""
        channel = self.bot.get_partial_messageable(item.channel_id, guild_id=item.guild_id)
        try:
            for piece in approved_messages(item, locale):
                await channel.send(piece, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as err:
            log.warning("could not post approved text %s: %s", item.id, err)
            return _(
                "Approved, but Couplet couldn't post it in <#{channel}> (it needs to see "
                "and send messages there).",
                channel=item.channel_id,
            )
        return None

    async def time_out(self, item: HeldText, hours: int) -> Msg | None:
        """Time out the member who asked; a sentence if Discord refused."""
        until = discord.utils.utcnow() + timedelta(hours=hours)
        try:
            await self.bot.http.edit_member(
                item.guild_id,
                item.user_id,
                reason=f"Couplet: held text #{item.id} rejected",
                communication_disabled_until=until.isoformat(),
            )
        except discord.HTTPException as err:
            log.info("could not time out %s: %s", item.user_id, err)
            return _(
                "Rejected, but Couplet couldn't time <@{user}> out: it needs the Moderate "
                "Members permission and a role above theirs.",
                user=item.user_id,
            )
        return None
