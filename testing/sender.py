"""A fake outbox ``Sender``: records what it is asked to send and when, and fails on cue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dialogs.types import Reply


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Delivery:
    external_id: str
    text: str
    buttons: list[list[str]]
    at: datetime
    data: list[list[str | None]] = field(default_factory=list)


@dataclass
class FakeSender:
    """Delivers to identities of the ``test`` channel; ``fail(user, *errors)`` raises those errors in turn."""

    clock: Callable[[], datetime] = utcnow
    channels: frozenset[str] = frozenset({"test"})
    delivered: list[Delivery] = field(default_factory=list)
    attempts: list[tuple[str, datetime]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=lambda: defaultdict(list))

    def fail(self, external_id: str, *errors: Exception) -> None:
        self.failures[external_id].extend(errors)

    async def send(self, identity_channel: str, external_id: str, reply: Reply) -> None:
        assert identity_channel in self.channels
        self.attempts.append((external_id, self.clock()))
        if self.failures[external_id]:
            raise self.failures[external_id].pop(0)
        self.delivered.append(
            Delivery(external_id, reply.text, [[b.label for b in row] for row in reply.buttons], self.clock(),
                     [[b.data for b in row] for row in reply.buttons])
        )

    def to(self, external_id: str) -> list[Delivery]:
        return [d for d in self.delivered if d.external_id == external_id]
