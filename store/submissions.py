"""Per-person limits on needs and complaints: a daily count and the last submission's digest.

The counter row holds who and how many, not what: only a digest of the latest submission (enough to
recognise a double send within a minute), salted with the person so that equal texts from two people
cannot be matched to each other.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.inserts import insert_ignore
from store.models import SubmissionCount

DUPLICATE_WINDOW = timedelta(minutes=1)


class Verdict(Enum):
    ACCEPTED = "accepted"
    LIMIT = "limit"
    DUPLICATE = "duplicate"


def submission_digest(identity_id: int, kind: str, content: dict[str, Any]) -> str:
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(f"{identity_id}|{kind}|{canonical}".encode()).hexdigest()


async def submissions_on(session: AsyncSession, identity_id: int, day: date) -> int:
    count = await session.scalar(
        select(SubmissionCount.count).where(SubmissionCount.identity_id == identity_id, SubmissionCount.day == day)
    )
    return count or 0


async def register_submission(
    session: AsyncSession, identity_id: int, day: date, digest: str, now: datetime, limit: int
) -> Verdict:
    """Count one submission of ``identity_id`` on local ``day``, unless it repeats the last one
    within a minute or the day's limit is reached (then nothing is counted)."""
    latest = (
        await session.execute(
            select(SubmissionCount.last_digest, SubmissionCount.last_at)
            .where(SubmissionCount.identity_id == identity_id)
            .order_by(SubmissionCount.day.desc())
            .limit(1)
        )
    ).first()
    # the day's row may be yesterday's when a double send straddles local midnight
    if (
        latest is not None and latest.last_digest == digest
        and latest.last_at is not None and now - latest.last_at < DUPLICATE_WINDOW
    ):
        return Verdict.DUPLICATE
    await session.execute(insert_ignore(SubmissionCount, identity_id=identity_id, day=day, count=0))
    row = (
        await session.execute(
            select(SubmissionCount)
            .where(SubmissionCount.identity_id == identity_id, SubmissionCount.day == day)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if row.count >= limit:
        return Verdict.LIMIT
    await session.execute(
        update(SubmissionCount)
        .where(SubmissionCount.identity_id == identity_id, SubmissionCount.day == day)
        .values(count=SubmissionCount.count + 1, last_digest=digest, last_at=now)
        .execution_options(synchronize_session=False)
    )
    return Verdict.ACCEPTED
