"""Option values that point at things (members, roles, channels, files) and the `resolved`
data Discord sends along with them."""

from __future__ import annotations

from typing import Any

from bot.sandbox import messages
from bot.sandbox import permissions as perm
from bot.sandbox.interactions import Upload
from bot.sandbox.messages import IncomingFile
from bot.sandbox.options import ATTACHMENT, CHANNEL, MENTIONABLE, ROLE, USER, OptionError
from bot.sandbox.state import EmulatorState
from bot.sandbox.world import Guild, Member, Role

Resolved = dict[str, dict[str, Any]]


def member_resolved(member: Member) -> Resolved:
    """`resolved.users` and `resolved.members` for one member."""
    data = member.payload(with_permissions=True)
    user = data.pop("user")
    return {"users": {str(member.id): user}, "members": {str(member.id): data}}


class OptionResolver:
    """Turns a test's option value (a name, an id, an object, a file) into Discord's id and
    resolved data, within one guild; a `resolve` callable for `options.build_options`."""

    def __init__(self, state: EmulatorState, guild: Guild) -> None:
        self.state = state
        self.guild = guild

    def __call__(self, otype: int, value: Any, opt: dict[str, Any]) -> tuple[str, Resolved]:
        name = opt["name"]
        if otype in (USER, MENTIONABLE) and not isinstance(value, Role):
            try:
                member = self.state.member_in(self.guild, value)
            except LookupError:
                if otype == USER:
                    raise OptionError(f"option {name!r}: no member {value!r}.") from None
            else:
                return str(member.id), member_resolved(member)
        if otype in (ROLE, MENTIONABLE):
            try:
                role = value if isinstance(value, Role) else self.guild.role(value)
            except LookupError:
                raise OptionError(f"option {name!r}: no role {value!r}.") from None
            return str(role.id), {"roles": {str(role.id): role.payload()}}
        if otype == CHANNEL:
            return self._channel(value, opt)
        if otype == ATTACHMENT:
            return self._attachment(value)
        raise OptionError(f"option {name!r}: cannot resolve {value!r}.")

    def _channel(self, value: Any, opt: dict[str, Any]) -> tuple[str, Resolved]:
        try:
            channel = self.state.channel_in(self.guild, value)
        except LookupError:
            raise OptionError(f"option {opt['name']!r}: no channel {value!r}.") from None
        types = opt.get("channel_types")
        if types and channel.type not in types:
            raise OptionError(
                f"option {opt['name']!r}: channel type {channel.type} not in {types}."
            )
        data = channel.payload()
        data["permissions"] = str(perm.ALL_PERMISSIONS)
        return str(channel.id), {"channels": {str(channel.id): data}}

    def _attachment(self, value: Any) -> tuple[str, Resolved]:
        """A file the user attaches: `(filename, bytes or str)` or `{"filename", "data"}`."""
        if isinstance(value, dict):
            filename, blob = value["filename"], value["data"]
        else:
            filename, blob = value
        if isinstance(blob, str):
            blob = blob.encode()
        aid = self.state.ids.next()
        upload = IncomingFile(0, filename, bytes(blob))
        self.state.attachments[aid] = Upload(filename, upload.data, 0)
        data = messages.attachment_payload(aid, upload, self.state.base_url, None)
        return str(aid), {"attachments": {str(aid): data}}
