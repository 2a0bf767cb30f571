"""Wiring: settings → database engine, migrations, dialog engine. One place, read top to bottom."""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from dialogs import i18n, rubrics
from dialogs.context import DialogSettings
from dialogs.engine import Engine
from dialogs.registry import build_engine
from dialogs.surveys import templates
from dialogs.understanding import Understanding
from store.db import capabilities, create_engine, sessionmaker
from store.demo import write_demo_package
from store.media import DirectoryMedia, MediaStore, MediaUnavailable, S3Media
from store.migrate import upgrade
from store.models import Organization, Project, Qualification
from store.outbox import notify_queued

if TYPE_CHECKING:
    from store.importer import ImportResult
    from store.importing.loader import Progress

log = logging.getLogger(__name__)


def dialog_settings(settings: Settings, bot_username: str | None = None) -> DialogSettings:
    return DialogSettings(
        zone=settings.zone,
        default_locale=settings.default_locale,
        admins=settings.admin_identities,
        invite_ttl_days=settings.invite_ttl_days,
        admin_share_max=settings.admin_share_max,
        disclosure_min_responses=settings.disclosure_min_responses,
        submissions_per_day=settings.submissions_per_day,
        bot_username=bot_username or settings.telegram_username,
        review_answer_hours=settings.review_answer_hours,
        review_weight=settings.review_weight,
        notice_days=settings.notice_days,
        holidays_file=str(settings.holidays_file) if settings.holidays_file else None,
        web_url=settings.web_url,
        project_code_prefix=settings.project_code_prefix,
    )


def media_store(settings: Settings) -> MediaStore:
    """The bucket when one is configured, else the media folder (a volume every process mounts)."""
    if settings.media_s3_bucket:
        return S3Media(settings.media_s3_url, settings.media_s3_bucket, region=settings.media_s3_region,
                       access_key=settings.media_s3_access_key, secret_key=settings.media_s3_secret_key)
    return DirectoryMedia(settings.media_dir)


async def check_media(media: MediaStore) -> bool:
    """Say in the log where media go, and loudly when they cannot go there now (the process runs on: text
    works, and each photo sent meanwhile is answered with a request to send it again)."""
    try:
        await media.check()
    except MediaUnavailable as exc:
        log.error("media cannot be stored: %s. Photos and files people send are refused until this is fixed", exc)
        return False
    log.info("media: %s", media.describe())
    return True


@dataclass
class App:
    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    media: MediaStore = field(default_factory=lambda: DirectoryMedia("media"))
    _understanding: Understanding | None = field(default=None, init=False, repr=False)

    @property
    def understanding(self) -> Understanding:
        """Free-text understanding, shared by every engine of this app; its model loads in the background."""
        if self._understanding is None:
            self._understanding = Understanding(self.sessions, zone=self.settings.zone, cache_dir=self.settings.nlu_cache)
        return self._understanding

    def engine(self, bot_username: str | None = None) -> Engine:
        self.understanding.warm_up()
        return build_engine(self.sessions, dialog_settings(self.settings, bot_username), understand=self.understanding,
                            media=self.media)

    async def close(self) -> None:
        await self.db.dispose()


async def settle_heap(app: App) -> None:
    """Once the NLU model is loaded, the objects alive (modules, pinyin and OpenCC dictionaries, the model:
    some 440,000) stay for the life of the process: frozen, the collector's full passes no longer walk them.

    Why it exists (a fast path): such a pass took 0.5 s here, every turn of every user waiting on it —
    the worst of bench/web.py's menu turns (p99) were those caught behind one."""
    try:
        await app.understanding.ready()
    except Exception as exc:  # the turns report a model that does not load; the heap is frozen anyway
        logging.getLogger(__name__).warning("NLU model not loaded: %s", exc)
    gc.collect()
    gc.freeze()


def use_data_folders(settings: Settings) -> None:
    """The operator's rubrics and survey templates replace or add to the bundled ones for this process."""
    rubrics.use_folder(settings.review_rubrics)
    templates.use_folder(settings.survey_templates)


async def open_app(settings: Settings, *, migrate: bool = True) -> App:
    use_data_folders(settings)
    i18n.set_hant_region(settings.hant_region)
    db = create_engine(settings.database_url)
    if capabilities(db).notifications:
        notify_queued(db)  # the dispatchers of every process hear of what this one queues
    if migrate:
        await upgrade(db)
    return App(settings, db, sessionmaker(db), media_store(settings))


async def is_empty(app: App) -> bool:
    async with app.sessions() as session:
        return (await session.scalar(select(func.count()).select_from(Project))) == 0


async def load_demo(app: App, now: datetime | None = None, progress: Progress | None = None) -> ImportResult:
    """Write the bundled demo package for today and import it."""
    from store.importer import import_package  # the importer is loaded only when the demo data is

    now = now or datetime.now(UTC)
    today = now.astimezone(app.settings.zone).date()
    with TemporaryDirectory(prefix="civicbot-demo-") as tmp:
        write_demo_package(Path(tmp), today)
        return await import_package(app.db, Path(tmp), zone=app.settings.zone, now=now, actor="demo-data",
                                    progress=progress)


async def demo_identity(app: App) -> str:
    """An organization a newcomer can act as to try the application (one on this year's qualified list)."""
    async with app.sessions() as session:
        uscc = await session.scalar(
            select(Organization.uscc)
            .join(Qualification, Qualification.organization_id == Organization.id)
            .where(Organization.barred_until.is_(None))
            .order_by(Qualification.year.desc(), Organization.id)
            .limit(1)
        )
    return f"org:{uscc}" if uscc else "staff:MZ"
