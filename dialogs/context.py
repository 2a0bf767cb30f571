"""What a flow sees during one turn: the session, who is talking, their state, and how to answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from dialogs import i18n
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


@dataclass
class State:
    """The conversation row's content while a turn runs."""

    flow: str | None = None
    step: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)

    def clear(self) -> None:
        self.flow, self.step, self.slots = None, None, {}


class Understand(Protocol):
    def __call__(self, text: str) -> dict[str, Any]: ...


Notify = Callable[..., Awaitable[None]]


RowT = TypeVar("RowT")


class TurnSession:
    """A turn's ORM session, made when a flow first uses it: a menu, a help page or a choice of
    language needs none, and making one, adding the identity to it and closing it again is a good part
    of such a turn. Stands in for the ``AsyncSession`` (every attribute is the session's)."""

    def __init__(self, make: Callable[[], AsyncSession]) -> None:
        self._make = make
        self.opened: AsyncSession | None = None

    def open(self) -> AsyncSession:
        if self.opened is None:
            self.opened = self._make()
        return self.opened

    def __getattr__(self, name: str) -> Any:
        return getattr(self.open(), name)


@dataclass
class Context:
    session: AsyncSession
    identity: Identity
    state: State
    locale: str
    now: datetime
    settings: DialogSettings
    incoming: Incoming
    understand: Understand | None = None
    # photos and documents people sent, and files made for them: shared by every process
    media: MediaStore = field(default_factory=lambda: DirectoryMedia("media"))
    replies: list[Reply] = field(default_factory=list)
    opened: bool = False  # a flow was started this turn (the engine ends a finished one on the menu)
    # lookups a turn would otherwise repeat (choices shown on a summary, an eligibility check …)
    memo: dict[Any, Any] = field(default_factory=dict)
    # rows read this turn, held so the session's identity map (which holds them only weakly) keeps them
    _rows: dict[tuple[type, Any], Any] = field(default_factory=dict, repr=False)

    async def get(self, model: type[RowT], key: Any) -> RowT | None:
        """``session.get``, read at most once per turn: a row nobody holds would otherwise be dropped by
        the identity map and read again by the next check that wants it."""
        row = self._rows.get((model, key))
        if row is not None:
            state = inspect(row)
            if not (state.deleted or state.was_deleted or state.detached):
                return row  # type: ignore[no-any-return]
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
