"""What every flow's step tests share: the engine with every flow, on the test's database, at ``NOW``."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dialogs.context import DialogSettings
from dialogs.engine import Engine
from dialogs.registry import build_engine
from testing.factories import NOW


@pytest.fixture
def bot(sessions: async_sessionmaker[AsyncSession]) -> Engine:
    return build_engine(sessions, DialogSettings(), clock=lambda: NOW)
