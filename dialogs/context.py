"""What a flow sees during one turn: the session, who is talking, their state, and how to answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs import i18n
from dialogs.state import State
from dialogs.types import Attachment, Button, Incoming, Reply
from store.media import DirectoryMedia, MediaStore
from store.models import Identity
from store.workdays import WorkCalendar, work_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class DialogSettings:
    """The part of the configuration that conversations need (built by the bot from its settings)."""

    zone: ZoneInfo = SHANGHAI
    default_locale: str = "zh-Hans"
    admins: frozenset[tuple[str, str]] = frozenset()
    invite_ttl_days: int = 7
    admin_share_max: float = 0.15
    disclosure_min_responses: int = 5
    submissions_per_day: int = 5
    bot_username: str | None = None
    review_answer_hours: int = 48
    review_weight: float = 0.8
    notice_days: int = 5
    holidays_file: str | None = None
    web_url: str | None = None  # the web chat's public base URL: survey links that open in any browser
    project_code_prefix: str | None = None  # None: the prefix most of the existing project codes have

    def work_calendar(self) -> WorkCalendar:
        """Working days for the public notice: the official calendar and the operator's holidays file."""
        return work_calendar(Path(self.holidays_file) if self.holidays_file else None)


Parse = dict[str, Any]  # what ``Understand`` makes of a text: "text", "intent", "entities" (nlu.parser)
Suggestion = tuple[str, str, float]  # a known name resembling a text: its value, its label, a score (0–100)


class Understand(Protocol):
    """The engine's language understanding (``dialogs.understanding.Understanding``; ``PlainUnderstand``
    for a parse function alone)."""

    def __call__(self, text: str) -> Parse:
        """The intent and entities of ``text`` (the parse keeps the text: it lives for one turn only)."""
        ...

    def suggest(self, kind: str, text: str, limit: int = 5) -> list[Suggestion]:
        """The known names of ``kind`` (project, organization, category, district…) resembling ``text``,
        best first; none when there is no name index."""
        ...

    async def with_names(self, parse: Parse, session: AsyncSession) -> Parse:
        """``parse`` made again with the database's names if they were not loaded yet when it was made."""
        ...


class PlainUnderstand:
    """An ``Understand`` made of a parse function alone: no name index to suggest from, no names to load."""

    def __init__(self, parse: Callable[[str], Parse]) -> None:
        self._parse = parse

    def __call__(self, text: str) -> Parse:
        return self._parse(text)

    def suggest(self, kind: str, text: str, limit: int = 5) -> list[Suggestion]:
        return []

    async def with_names(self, parse: Parse, session: AsyncSession) -> Parse:
        return parse


Notify = Callable[..., Awaitable[None]]


RowT = TypeVar("RowT")


class Context:
    """One turn as a flow sees it. ``session`` is the turn's ORM session, made when a flow first uses it
    (a menu, a help page or a choice of language needs none: making one, adding the identity to it and
    closing it again is a good part of such a turn); ``opened_session`` tells the engine whether one was."""

    def __init__(
        self,
        session: AsyncSession | Callable[[], AsyncSession],
        identity: Identity,
        state: State,
        locale: str,
        now: datetime,
        settings: DialogSettings,
        incoming: Incoming,
        understand: Understand | None = None,
        follow_up: str | None = None,
        media: MediaStore | None = None,
    ) -> None:
        if isinstance(session, AsyncSession):
            self._session: AsyncSession | None = session
            self._make_session: Callable[[], AsyncSession] | None = None
        else:
            self._session, self._make_session = None, session
        self.identity = identity
        self.state = state
        self.locale = locale
        self.now = now
        self.settings = settings
        self.incoming = incoming
        self.understand = understand
        # photos and documents people sent, and files made for them: shared by every process
        self.media: MediaStore = media if media is not None else DirectoryMedia("media")
        # the context for follow-ups as the turn found it (``State.topic``): opening a flow clears the state
        self.follow_up = follow_up
        self.replies: list[Reply] = []
        self.opened = False  # a flow was started this turn (the engine ends a finished one on the menu)
        # lookups a turn would otherwise repeat (choices shown on a summary, an eligibility check …)
        self.memo: dict[Any, Any] = {}
        # rows read this turn, held so the session's identity map (which holds them only weakly) keeps them
        self._rows: dict[tuple[type, Any], Any] = {}

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            assert self._make_session is not None
            self._session = self._make_session()
        return self._session

    @property
    def opened_session(self) -> AsyncSession | None:
        """The session if this turn made or was given one (None: no flow needed it)."""
        return self._session

    async def get(self, model: type[RowT], key: Any) -> RowT | None:
        """``session.get``, read at most once per turn: a row nobody holds would otherwise be dropped by
        the identity map and read again by the next check that wants it."""
        row = self._rows.get((model, key))
        if row is not None:
            state = inspect(row)
            if not (state.deleted or state.was_deleted or state.detached):
                return row  # type: ignore[no-any-return]  # the row kept under (model, key) is a model
        row = await self.session.get(model, key)
        if row is not None:
            self._rows[(model, key)] = row
        return row

    @property
    def today(self) -> date:
        return self.now.astimezone(self.settings.zone).date()

    @property
    def is_admin(self) -> bool:
        return (self.identity.channel, self.identity.external_id) in self.settings.admins

    @property
    def is_staff(self) -> bool:
        return self.is_admin or self.identity.role == "staff"

    def staff_of(self, department_id: int) -> bool:
        return self.is_admin or (self.identity.role == "staff" and self.identity.department_id == department_id)

    @property
    def organization_id(self) -> int | None:
        return self.identity.organization_id if self.identity.role == "org" else None

    def t(self, key: str, /, **values: object) -> str:
        return i18n.t(self.locale, key, **values)

    def money(self, fen: int | None) -> str:
        return i18n.money(self.locale, fen)

    def local_day(self, moment: datetime) -> date:
        """The reader's local day of a moment (stored in UTC): the only day a person is ever shown."""
        return moment.astimezone(self.settings.zone).date()

    def amounts(self, fens: Iterable[int | None]) -> Callable[[int | None], str]:
        """The money formatter of a screen that shows ``fens`` (one unit for all of them)."""
        return i18n.amounts(self.locale, list(fens))

    def day(self, value: date | None) -> str:
        """A day in the reader's language; a moment (a datetime) is shown as its local day, never the UTC one."""
        if isinstance(value, datetime):
            value = self.local_day(value)
        return i18n.day(self.locale, value)

    def moment(self, value: datetime | None) -> str:
        return i18n.moment(self.locale, value, self.settings.zone)

    def button(self, key: str, data: str, /, **values: object) -> Button:
        return Button(self.t(key, **values), data)

    def say(
        self,
        text: str,
        buttons: Sequence[Sequence[Button]] = (),
        *,
        image: Attachment | None = None,
        document: Attachment | None = None,
    ) -> Reply:
        reply = Reply(text, [list(row) for row in buttons], image=image, document=document)
        self.replies.append(reply)
        return reply

    def tell(self, key: str, /, buttons: Sequence[Sequence[Button]] = (), **values: object) -> Reply:
        return self.say(self.t(key, **values), buttons)
