"""The contract every conversation flow follows, and the button-data conventions they share.

Button data is channel-neutral text: ``g:…`` for global actions (menu, cancel, language, start a
flow) and ``<flow>:<step>:<value>`` for a flow's own buttons, so a button pressed after its step
has passed can be recognised as stale instead of being applied to a later question.
"""

from __future__ import annotations

from dialogs.context import Context, Parse
from dialogs.types import Incoming
from nlu.normalize import fold

EVERYONE = frozenset({"resident", "org", "staff", "expert"})


class Flow:
    """A conversation with one purpose; ``start`` opens it, ``handle`` takes each later input."""

    name: str = ""
    commands: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    start_prefix: str | None = None  # /start payloads with this prefix open this flow
    roles: frozenset[str] = EVERYONE
    menu_key: str | None = None  # catalog key of this flow's menu button, if it has one
    menu_order: int = 100
    can_save: bool = False  # what was entered stays (a draft) when the person leaves
    refusal_key: str = "common.not_allowed"  # said to someone whose role cannot use it: how to get there

    def allows(self, role: str, admin: bool = False) -> bool:
        """The role rule: whether someone of ``role`` (``admin``: a configured admin) may use this flow.
        The engine asks it for each turn (``allowed``), channels for their command menus."""
        if "staff" in self.roles and admin:
            return True
        return role in self.roles or ("resident" in self.roles)

    def allowed(self, ctx: Context) -> bool:
        return self.allows(ctx.identity.role, ctx.is_admin)

    async def start(self, ctx: Context, payload: str | None, parse: Parse | None = None) -> None:
        """Open the flow: with a /start payload or a button's argument, or with the parse of the message
        that asked for it (free text the engine routed here by its intent). The parse is the turn's only:
        a flow keeps what it needs of it in its state, never the parse itself."""
        raise NotImplementedError

    async def handle(self, ctx: Context, msg: Incoming) -> None:
        raise NotImplementedError

    async def reprompt(self, ctx: Context) -> None:
        """Show the current question again (after a stale button or an interruption)."""
        await self.start(ctx, None)

    async def quit(self, ctx: Context) -> None:
        """End the flow at the person's wish (/cancel, "取消" confirmed): say what became of what was
        entered (a draft is kept where there are drafts)."""
        ctx.state.clear()
        ctx.tell("common.cancelled")


def label_key(text: str) -> str:
    """Text as compared with a button's label: folded, without emoji, marks or spaces ("✅ 提交" == "提交")."""
    return "".join(ch for ch in fold(text) if ch.isalnum())


def button_data(flow: str, step: str, value: str = "") -> str:
    return f"{flow}:{step}:{value}"


def split_button(data: str) -> tuple[str, str, str]:
    flow, _, rest = data.partition(":")
    step, _, value = rest.partition(":")
    return flow, step, value


def run_button(flow: str, arg: str = "") -> str:
    """Data of a button that starts ``flow`` from anywhere (menus, digests, answers)."""
    return f"g:run:{flow}:{arg}" if arg else f"g:run:{flow}"
