"""One turn, end to end: read the conversation, skip re-deliveries, route, run the flow, end the turn.

Every turn runs on a connection of its own (``store.conversations.turn_connection``): the bookkeeping —
identity and conversation, the incoming's de-duplication key, the state saved only when the turn changed it —
runs there directly, and the flow gets an ORM session joined to it when it first uses one (a menu or a
help page never does); what it writes commits with the turn's end. A turn ends only on the conversation it
read (``TurnConnection.end``), so one user's turns take effect one after the other, in one process or many
(a turn overtaken by another writes nothing and runs again), and a message delivered again is recognised
by its key in ``handled_incoming``: the channel contract (``bot.channels.contract``) relies on both and adds
no second one.

A channel runs a turn with ``turn``: its replies are written in the turn's transaction, and the
``Turn`` it gets back carries their id. Once the replies are sent the channel marks them so
(``store.conversations.mark_replies_sent``, in a batch if it likes); when it starts, it sends what
``store.conversations.unsent_replies`` still holds, each chat's in order, before anything new from that
chat. A process killed between the commit and the send thus loses no reply (one may go out twice).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs import i18n
from dialogs.buttons import Stale, split
from dialogs.context import Context, DialogSettings, Parse, Understand
from dialogs.fields import NO_WORDS, YES_WORDS
from dialogs.flow import Flow, label_key
from dialogs.state import State
from dialogs.types import Button, Incoming, Reply
from nlu.numbers import parse_number
from store.conversations import Ending, Overtaken, TurnConnection, handled_key, turn_connection
from store.media import DirectoryMedia, MediaStore
from store.models import Identity

log = logging.getLogger(__name__)

GLOBAL_COMMANDS = ("start", "help", "menu", "cancel", "lang")
MAX_TEXT = 4000  # anything longer is cut before it reaches a flow; fields have their own limits
# typed inside any flow, these offer to leave it (an answer that is just this word is unlikely)
LEAVE_WORDS = frozenset({"取消", "退出", "离开", "不填了", "cancel", "quit", "exit", "leave", "stop"})
LABEL_MAX = 30  # longer text is an answer, never a button's label typed out
# answers to that offer, besides its buttons' labels
_LEAVE_YES = YES_WORDS | LEAVE_WORDS
_LEAVE_NO = NO_WORDS | {"继续", "continue"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _snapshot(flow: str | None, step: str | None, slots: dict[str, Any]) -> str:
    """A conversation's state as text, to tell whether a turn changed it (slots nest dicts and lists)."""
    return json.dumps([flow, step, slots], sort_keys=True, ensure_ascii=False, default=str)


TURN_ATTEMPTS = 5  # runs of a turn overtaken each time (one person's messages at once in as many processes)


@dataclass
class Turn:
    """What one incoming came to: the replies to send and, when they were kept with the turn, the id to
    pass to ``mark_replies_sent`` once they are sent (None: nothing kept, nothing to mark)."""

    replies: list[Reply]
    reply_id: int | None = None
    # set when the replies are an earlier turn's, kept and not yet marked sent (the incoming came again):
    # when they were kept. Another process may be sending them right now.
    kept_at: datetime | None = None


class Engine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: DialogSettings,
        flows: Iterable[Flow],
        *,
        understand: Understand | None = None,
        clock: Callable[[], datetime] = utcnow,
        media: MediaStore | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        # where channels keep what people send and flows read it back (a folder unless the bot says otherwise)
        self.media: MediaStore = media or DirectoryMedia("media")
        self.flows: dict[str, Flow] = {}
        self.commands: dict[str, Flow] = {}
        self.intents: dict[str, Flow] = {}
        self.prefixes: dict[str, Flow] = {}
        for flow in flows:
            self.flows[flow.name] = flow
            for command in flow.commands:
                self.commands[command] = flow
            for intent in flow.intents:
                self.intents[intent] = flow
            if flow.start_prefix:
                self.prefixes[flow.start_prefix] = flow
        self.understand = understand
        self.clock = clock
        self._menus: dict[tuple[str, bool, str], list[list[Button]]] = {}

    async def turn(self, incoming: Incoming) -> Turn:
        """Turn one incoming into replies kept with the turn until the channel marks them sent. An incoming
        already handled is not run again: it gets the replies its first turn left unsent, if any."""
        return await self._guarded(incoming, keep=True)

    async def handle(self, incoming: Incoming) -> list[Reply]:
        """The replies only, not kept: for callers that have nothing to recover after a crash (tests, benches)."""
        return (await self._guarded(incoming, keep=False)).replies

    async def _guarded(self, incoming: Incoming, *, keep: bool) -> Turn:
        try:
            for _ in range(TURN_ATTEMPTS - 1):
                try:
                    return await self._turn(incoming, keep)
                except Overtaken:  # rolled back; again, on what the other turn left (its kept replies, if it was this message)
                    continue
            return await self._turn(incoming, keep)
        except Exception:  # a flow's bug or the database: the person is told, the turn is rolled back
            log.exception("turn failed for %s:%s (%s)", incoming.channel, incoming.user_id, incoming.id)
            locale = i18n.normalize_locale(incoming.locale) or self.settings.default_locale
            return Turn([Reply(i18n.t(locale, "common.error"))])

    async def _turn(self, incoming: Incoming, keep: bool) -> Turn:
        now = self.clock()
        key = handled_key(incoming.channel, incoming.id)
        async with turn_connection(self.sessions.kw["bind"]) as turn:
            identity, conversation, handled = await turn.open(
                incoming.channel, incoming.user_id, key, now, incoming.display_name)
            if handled:
                unsent = await turn.unsent_of(incoming.channel, incoming.user_id, key) if keep else None
                if unsent is None:
                    return Turn([])
                return Turn([Reply.from_json(reply) for reply in unsent[1]], unsent[0], unsent[2])
            # compared with what the row holds: a row saved by an older release is written again, migrated
            before = _snapshot(conversation.flow, conversation.step, conversation.slots)
            state = State.from_json(conversation.flow, conversation.step, conversation.slots)
            locale = identity.locale or i18n.normalize_locale(incoming.locale) or self.settings.default_locale
            # the flow's session, in the turn's transaction (its commit leaves the transaction to the
            # turn), made if the flow uses it
            ctx = Context(
                session=lambda: self._session(turn, identity), identity=identity, state=state, locale=locale,
                now=now, settings=self.settings, incoming=incoming, understand=self.understand, follow_up=state.topic,
                media=self.media,
            )
            try:
                await self._route(ctx, incoming)
                # no dead ends: a turn that ends a flow with a bare message ("已取消。", "提交成功") ends on the menu
                ended = (conversation.flow is not None or ctx.opened) and ctx.state.flow is None
                if not ctx.replies or (ended and not ctx.replies[-1].buttons):
                    await self.show_menu(ctx)
                if ctx.opened_session is None and inspect(identity).modified:
                    ctx.session.add(identity)  # the identity changed (a language chosen): it is written below
                if ctx.opened_session is not None:
                    await ctx.opened_session.flush()
            finally:
                if ctx.opened_session is not None:
                    await ctx.opened_session.close()
            state = ctx.state
            slots = state.to_json()
            # saved when changed (a menu or an answer changes nothing), and when the flow wrote through its
            # session: a turn that wrote depends on what it read, so a turn of the same person that read the
            # same is overtaken by it
            changed = _snapshot(state.flow, state.step, slots) != before or ctx.opened_session is not None
            ending = Ending((state.flow, state.step, slots) if changed else None,
                            [reply.to_json() for reply in ctx.replies] if keep else None)
            return Turn(ctx.replies, await turn.end(conversation, ending, incoming.channel, incoming.user_id, key, now))

    def _session(self, turn: TurnConnection, identity: Identity) -> AsyncSession:
        session = self.sessions(bind=turn.conn, join_transaction_mode="rollback_only")
        session.add(identity)
        return session

    async def _route(self, ctx: Context, msg: Incoming) -> None:
        if msg.text is not None and len(msg.text) > MAX_TEXT:
            msg = Incoming(**{**msg.__dict__, "text": msg.text[:MAX_TEXT]})
            ctx.incoming = msg
        if msg.command is not None:
            await self._command(ctx, msg.command, msg.payload)
            return
        if msg.button is not None:
            await self._button(ctx, msg)
            return
        active = self.flows.get(ctx.state.flow or "")
        if active is not None:
            if not active.allowed(ctx):
                await self._refuse(ctx, active)
                return
            offered, ctx.state.leave_offered = ctx.state.leave_offered, False
            key = label_key(msg.text or "")
            if offered and key in _LEAVE_YES | {label_key(ctx.t("common.leave_yes"))}:
                await active.quit(ctx)
                return
            if offered and key in _LEAVE_NO | {label_key(ctx.t("common.leave_no"))}:
                await active.reprompt(ctx)
                return
            if key in LEAVE_WORDS:
                self._offer_leave(ctx, active)
                return
            msg = await self._typed_button(ctx, active, msg)
            if msg.button is not None:
                await self._button(ctx, msg)
                return
            await active.handle(ctx, msg)
            return
        if msg.text and msg.text.strip():
            pressed = self._menu_button(ctx, msg.text)
            if pressed is not None:  # a menu button's label typed: "反映问题", "问题反映进度"
                await self._button(ctx, replace(msg, text=None, button=pressed))
                return
            await self._free_text(ctx, msg.text)
            return
        await self.show_menu(ctx)

    async def _command(self, ctx: Context, command: str, payload: str | None) -> None:
        if command == "start":
            if payload:
                flow = self.prefixes.get(payload[:1])
                if flow is not None and flow.name == ctx.state.flow and flow.allowed(ctx):
                    await flow.start(ctx, payload)  # the same link again: the flow decides (e.g. resume)
                    return
                if flow is not None:
                    await self.open(ctx, flow, payload)
                    return
                ctx.tell("common.bad_start_payload")
            ctx.state.clear()
            ctx.tell("common.welcome")
            await self.show_menu(ctx)
            return
        if command in ("menu", "help"):
            if command == "help":
                ctx.say(self.help_text(ctx))
            await self.show_menu(ctx)
            return
        if command == "cancel":
            await self.cancel(ctx)
            return
        if command == "lang":
            await self._language(ctx, payload)
            return
        flow = self.commands.get(command)
        if flow is None:
            ctx.tell("common.unknown_command", command=command)
            await self.show_menu(ctx)
            return
        await self.open(ctx, flow, payload)

    async def _button(self, ctx: Context, msg: Incoming) -> None:
        data = msg.button or ""
        if data.startswith("g:"):
            action, _, arg = data[2:].partition(":")
            if action == "menu":
                await self.show_menu(ctx)
            elif action == "cancel":
                await self.cancel(ctx)
            elif action in ("leave", "stay"):
                await self._leave_or_stay(ctx, action == "leave")
            elif action == "lang":
                await self._language(ctx, arg)
            elif action == "run":
                name, _, flow_arg = arg.partition(":")
                flow = self.flows.get(name)
                if flow is None:
                    await self._stale(ctx)
                else:
                    await self.open(ctx, flow, flow_arg or None)
            else:
                await self._stale(ctx)
            return
        flow_name, _, _ = split(data)
        active = self.flows.get(ctx.state.flow or "")
        if active is None or flow_name != active.name:
            await self._stale(ctx)
            return
        if not active.allowed(ctx):
            await self._refuse(ctx, active)
            return
        ctx.state.leave_offered = False  # a button of the flow itself: the offer was passed by
        shown, saved = len(ctx.replies), ctx.state.copy()
        try:
            pressed = active.press(ctx, data)
            if pressed is None:
                raise Stale(data)
            await pressed
        except Stale:  # what the flow said before it found out is dropped: one answer for every stale press
            del ctx.replies[shown:]
            ctx.state.restore(saved)
            await self._stale(ctx)

    async def _typed_button(self, ctx: Context, flow: Flow, msg: Incoming) -> Incoming:
        """A button's label typed instead of pressed is that button, on every step of every flow that
        can show its step again: "提交" on a summary, "上一题", "跳过", "返回列表"…

        The step's screen is built again, and not sent, to know its buttons.
        """
        text = (msg.text or "").strip()
        if msg.media is not None or not text or len(text) > LABEL_MAX or type(flow).reprompt is Flow.reprompt:
            return msg
        key = label_key(text)
        if not key or parse_number(text) is not None:  # a number is read as one (a rating's too) by the step itself
            return msg
        shown, saved = len(ctx.replies), ctx.state.copy()
        await flow.reprompt(ctx)
        screen = ctx.replies[shown:]
        del ctx.replies[shown:]
        ctx.state.restore(saved)
        for reply in screen:
            for row in reply.buttons:
                for button in row:
                    if button.data and label_key(button.label) == key:
                        return replace(msg, text=None, button=button.data)
        return msg

    def _offer_leave(self, ctx: Context, flow: Flow) -> None:
        ctx.state.leave_offered = True
        ctx.tell("common.leave_offer_draft" if flow.can_save else "common.leave_offer", buttons=[[
            Button(ctx.t("common.leave_yes"), "g:leave"), Button(ctx.t("common.leave_no"), "g:stay"),
        ]])

    async def _leave_or_stay(self, ctx: Context, leave: bool) -> None:
        ctx.state.leave_offered = False
        active = self.flows.get(ctx.state.flow or "")
        if active is None or not active.allowed(ctx):
            await self._stale(ctx)
        elif leave:
            await active.quit(ctx)
        else:
            await active.reprompt(ctx)

    async def _free_text(self, ctx: Context, text: str) -> None:
        self._follow_language(ctx, text)
        if self.understand is None:
            ctx.tell("common.not_understood")
            await self.show_menu(ctx)
            return
        parse = self.understand(text)
        intent = parse.get("intent", {}).get("name") or "out_of_scope"
        if intent in ("greet", "thanks", "goodbye"):
            ctx.tell(f"common.intent_{intent}")
            if intent == "greet":
                await self.show_menu(ctx)
            return
        if intent == "help":
            ctx.say(self.help_text(ctx))
            await self.show_menu(ctx)
            return
        if intent == "cancel":
            await self.cancel(ctx)
            return
        flow = self.intents.get(intent)
        if flow is None:
            ctx.tell("common.out_of_scope")
            await self.show_menu(ctx)
            return
        await self.open(ctx, flow, None, parse=parse)

    async def open(self, ctx: Context, flow: Flow, payload: str | None, *, parse: Parse | None = None) -> None:
        """Start ``flow`` (checking its role) in place of whatever was going on."""
        if not flow.allowed(ctx):
            await self._refuse(ctx, flow)
            return
        ctx.state.clear()
        ctx.state.flow = flow.name
        ctx.opened = True
        await flow.start(ctx, payload, parse)

    async def cancel(self, ctx: Context) -> None:
        active = self.flows.get(ctx.state.flow or "")
        if active is not None:
            await active.quit(ctx)  # the flow says what happens to what was entered (a draft is kept)
        else:
            was_active = ctx.state.flow is not None
            ctx.state.clear()
            ctx.tell("common.cancelled" if was_active else "common.nothing_to_cancel")
        ctx.state.clear()
        await self.show_menu(ctx)

    async def _refuse(self, ctx: Context, flow: Flow | None = None) -> None:
        ctx.state.clear()
        ctx.tell(flow.refusal_key if flow is not None else "common.not_allowed")
        await self.show_menu(ctx)

    async def _stale(self, ctx: Context) -> None:
        ctx.tell("common.stale_button")
        active = self.flows.get(ctx.state.flow or "")
        if active is not None and active.allowed(ctx):
            await active.reprompt(ctx)
        else:
            ctx.state.clear()
            await self.show_menu(ctx)

    def _follow_language(self, ctx: Context, text: str) -> None:
        """A conversation has one language, the saved one: /lang changes it, and so does a message
        clearly written in another language (outside a form, where typed names would mislead)."""
        written = i18n.language_of(text, ctx.locale)
        if written != ctx.locale:
            ctx.identity.locale = written
            ctx.locale = written

    async def _language(self, ctx: Context, choice: str | None) -> None:
        if choice in i18n.LOCALES:
            ctx.identity.locale = choice
            ctx.locale = choice
            ctx.tell("common.language_set")
            active = self.flows.get(ctx.state.flow or "")
            if active is not None and active.allowed(ctx):
                await active.reprompt(ctx)
            return
        ctx.tell(
            "common.choose_language",
            buttons=[[Button(i18n.t(code, "common.language_name"), f"g:lang:{code}") for code in i18n.LOCALES]],
        )

    def _menu_button(self, ctx: Context, text: str) -> str | None:
        key = label_key(text)
        if not key or len(text) > LABEL_MAX:
            return None
        return next((b.data for row in self._menu_rows(ctx) for b in row if b.data and label_key(b.label) == key), None)

    def menu_flows(self, ctx: Context) -> list[Flow]:
        flows = [f for f in self.flows.values() if f.menu_key and f.allowed(ctx)]
        return sorted(flows, key=lambda f: f.menu_order)

    def _menu_rows(self, ctx: Context) -> list[list[Button]]:
        # what a menu shows depends on the role, administrator or not, and the language: built once each
        key = (ctx.identity.role, ctx.is_admin, ctx.locale)
        rows = self._menus.get(key)
        if rows is None:
            rows = [[Button(ctx.t(f.menu_key or ""), f"g:run:{f.name}")] for f in self.menu_flows(ctx)]
            rows.append([Button(ctx.t("common.menu_language"), "g:lang")])
            self._menus[key] = rows
        return rows

    async def show_menu(self, ctx: Context) -> None:
        role_key = "staff" if ctx.is_staff else ctx.identity.role
        ctx.tell(f"common.menu_title_{role_key}", buttons=self._menu_rows(ctx))

    def help_text(self, ctx: Context) -> str:
        lines = [ctx.t("common.help_intro")]
        for flow in self.menu_flows(ctx):
            if flow.commands:
                lines.append(f"/{flow.commands[0]} — {ctx.t(flow.menu_key or '')}")
        lines.append(ctx.t("common.help_globals"))
        return "\n".join(lines)
