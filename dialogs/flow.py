"""The contract every conversation flow follows, and the button-data conventions they share.

Button data is channel-neutral text: ``g:…`` for global actions (menu, cancel, language, start a
flow, see ``run_button``) and a typed payload packed as ``<flow>:<action>:<values>`` for a flow's own
buttons (``dialogs.buttons``): each flow's ``@on`` methods make its dispatch table, and a press that
no longer fits — its step has passed, its record changed — is recognised as stale by the engine
instead of being applied to a later question.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from dialogs.buttons import Payload, Route, routes_of, split
from dialogs.context import Context, Parse
from dialogs.types import Button, Incoming
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
    use_buttons_key: str = "common.use_buttons"  # said to text where the step wants a press
    presses: ClassVar[dict[str, Route]] = {}  # the dispatch table of its buttons: action -> payload, handler

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.presses = routes_of(cls, cls.presses)

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
        """Take what the person typed or sent (their presses go to ``press``): by default, point to the
        buttons of the step and show it again."""
        ctx.tell(self.use_buttons_key)
        await self.reprompt(ctx)

    def press(self, ctx: Context, data: str) -> Awaitable[None] | None:
        """The handling of a press on one of this flow's buttons, from the flow's dispatch table; None when
        the press is stale (the engine says so, once for every flow)."""
        _, action, value = split(data)
        route = self.presses.get(action)
        payload = route.payload.unpack(value) if route is not None else None
        if route is None or payload is None or not payload.current(ctx.state):
            return None
        handler: Callable[[Context, Payload], Awaitable[None]] = getattr(self, route.method)
        return handler(ctx, payload)

    def button(self, label: str, payload: Payload) -> Button:
        """A button of this flow carrying ``payload``."""
        return Button(label, payload.pack(self.name))

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


def run_button(flow: str, arg: str = "") -> str:
    """Data of a button that starts ``flow`` from anywhere (menus, digests, answers)."""
    return f"g:run:{flow}:{arg}" if arg else f"g:run:{flow}"
