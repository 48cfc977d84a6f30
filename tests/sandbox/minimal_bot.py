"""A small discord.py bot used to exercise the emulator (not Couplet's bot)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands


class EchoView(discord.ui.View):
    """Two buttons and a select; each edits the message it sits on."""

    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="Again", custom_id="again")
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(content=f"clicked by {interaction.user.name}")

    @discord.ui.button(label="Later", custom_id="later")
    async def later(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(
            content="edited after a deferred update", view=None
        )

    @discord.ui.select(
        custom_id="pick", options=[discord.SelectOption(label=x, value=x) for x in "abc"]
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[Any]) -> None:
        await interaction.response.send_message(f"picked {select.values[0]}", ephemeral=True)


class PromptModal(discord.ui.Modal, title="Write a prompt"):
    prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Prompt", custom_id="prompt", style=discord.TextStyle.paragraph, max_length=400
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"prompt was {self.prompt.value!r}")


class MiniBot(commands.Bot):
    """Defines one command per emulator feature under test."""

    def __init__(self, *, sync_guilds: list[int] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("intents", discord.Intents.default())
        super().__init__(command_prefix="!", guild_ready_timeout=0.1, **kwargs)
        self.sync_guilds = sync_guilds
        self.gate = asyncio.Event()
        self.seen: list[discord.Interaction] = []
        self.tree.on_error = self.on_tree_error  # type: ignore[method-assign]
        self._add_commands()

    async def setup_hook(self) -> None:
        if self.sync_guilds:
            for gid in self.sync_guilds:
                guild = discord.Object(gid)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    async def on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        # Check failures are expected answers; anything else is a bug and is logged at ERROR.
        if isinstance(error, app_commands.CheckFailure):
            await interaction.response.send_message(
                f"refused: {type(error).__name__}", ephemeral=True
            )
            return
        import logging

        logging.getLogger("discord.app_commands.tree").error("command failed", exc_info=error)

    def _add_commands(self) -> None:
        tree = self.tree

        @tree.command()
        @app_commands.describe(text="What to repeat", times="How many times")
        async def echo(
            interaction: discord.Interaction, text: str, times: app_commands.Range[int, 1, 5] = 1
        ) -> None:
            """Repeat some text."""
            await interaction.response.send_message(" ".join([text] * times))

        @tree.command()
        @app_commands.choices(
            colour=[app_commands.Choice(name=c, value=c) for c in ("red", "blue")]
        )
        async def paint(
            interaction: discord.Interaction,
            colour: app_commands.Choice[str],
            ratio: float = 0.5,
            loud: bool = False,
        ) -> None:
            """Choices, numbers and booleans."""
            await interaction.response.send_message(f"{colour.value} {ratio} {loud}")

        @tree.command()
        async def slow(interaction: discord.Interaction, text: str) -> None:
            """Defer, then answer with a followup."""
            await interaction.response.defer(thinking=True)
            await interaction.followup.send(f"slow {text}")
            await interaction.followup.send("second followup")

        @tree.command()
        async def edits(interaction: discord.Interaction) -> None:
            """Answer, then edit the original twice."""
            await interaction.response.send_message("first")
            await interaction.edit_original_response(content="second")
            msg = await interaction.original_response()
            await interaction.edit_original_response(content=f"third (was {msg.content})")

        @tree.command()
        async def lifecycle(interaction: discord.Interaction) -> None:
            """Followup edit and delete, then delete the original."""
            await interaction.response.send_message("original")
            keep = await interaction.followup.send("kept", wait=True)
            gone = await interaction.followup.send("to delete", wait=True)
            await keep.edit(content="kept (edited)")
            await gone.delete()
            await interaction.delete_original_response()

        @tree.command()
        async def secret(interaction: discord.Interaction) -> None:
            """An ephemeral answer."""
            await interaction.response.send_message("only you", ephemeral=True)

        @tree.command()
        async def buttons(interaction: discord.Interaction) -> None:
            """A message with buttons and a select."""
            await interaction.response.send_message("press a button", view=EchoView())

        @tree.command()
        async def ask(interaction: discord.Interaction) -> None:
            """Open a modal."""
            await interaction.response.send_modal(PromptModal())

        async def model_choices(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            names = ["gemma-3-270m", "gemma-2b", "gpt-3.5-turbo-instruct", "davinci-002"]
            return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

        @tree.command()
        @app_commands.autocomplete(model=model_choices)
        async def pick_model(interaction: discord.Interaction, model: str) -> None:
            """Autocomplete a model name."""
            await interaction.response.send_message(model)

        async def too_many(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=f"c{i}", value=f"c{i}") for i in range(30)]

        @tree.command()
        @app_commands.autocomplete(thing=too_many)
        async def greedy(interaction: discord.Interaction, thing: str) -> None:
            """Autocomplete that returns too many choices."""
            await interaction.response.send_message(thing)

        @tree.context_menu(name="Quote message")
        async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(
                f"{message.author.name} said: {message.content}"
            )

        @tree.command()
        async def upload(interaction: discord.Interaction, name: str) -> None:
            """Send a file back."""
            data = io.BytesIO(f"file {name}".encode())
            await interaction.response.send_message(
                "here", file=discord.File(data, filename=f"{name}.txt")
            )

        @tree.command()
        async def measure(interaction: discord.Interaction, file: discord.Attachment) -> None:
            """Download an attachment option and report its size."""
            data = await file.read()
            await interaction.response.send_message(f"{file.filename}: {len(data)} bytes")

        @tree.command()
        async def long(interaction: discord.Interaction, size: int) -> None:
            """Send `size` characters (over 2000 must be refused)."""
            await interaction.response.send_message("x" * size)

        @tree.command()
        async def wait(interaction: discord.Interaction) -> None:
            """Answer only after the test opens the gate."""
            self.seen.append(interaction)
            await self.gate.wait()
            await interaction.response.send_message("late answer")

        @tree.command()
        async def twice(interaction: discord.Interaction) -> None:
            """Acknowledge twice over the wire and report Discord's error code."""
            await interaction.response.defer()
            interaction.response._response_type = None  # bypass discord.py's own guard
            try:
                await interaction.response.send_message("again")
            except discord.HTTPException as err:
                await interaction.followup.send(f"refused {err.code}")

        @tree.command()
        async def perms(interaction: discord.Interaction) -> None:
            """Report the member's and the bot's permissions."""
            p, a = interaction.permissions, interaction.app_permissions
            await interaction.response.send_message(
                f"manage_guild={p.manage_guild} administrator={p.administrator} "
                f"send={p.send_messages} "
                f"app_send={a.send_messages} app_admin={a.administrator}"
            )

        @tree.command()
        @app_commands.default_permissions(manage_guild=True)
        @app_commands.checks.has_permissions(manage_guild=True)
        async def admin_only(interaction: discord.Interaction) -> None:
            """Needs Manage Server at run time."""
            await interaction.response.send_message("allowed")

        @tree.command()
        async def where(interaction: discord.Interaction) -> None:
            """Report the guild, channel and shard."""
            guild = interaction.guild
            assert guild is not None
            await interaction.response.send_message(
                f"{guild.name} #{getattr(interaction.channel, 'name', None)} shard={guild.shard_id}"
            )

        @tree.command()
        async def ping_all(interaction: discord.Interaction) -> None:
            """Post mentions with pings disabled, in the reply and in the channel."""
            text = f"@everyone {interaction.user.mention}"
            await interaction.response.send_message(
                text, allowed_mentions=discord.AllowedMentions.none()
            )
            assert interaction.channel is not None
            await interaction.channel.send(text, allowed_mentions=discord.AllowedMentions.none())  # type: ignore[union-attr]

        preset = app_commands.Group(name="preset", description="Manage presets")

        @preset.command(name="create")
        async def preset_create(
            interaction: discord.Interaction, name: str, temperature: float
        ) -> None:
            """Create a preset."""
            await interaction.response.send_message(f"created {name} at {temperature}")

        tree.add_command(preset)
