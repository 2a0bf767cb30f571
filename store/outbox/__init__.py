"""The outbox: every message that is not a direct answer is queued here, once per de-duplication key.

States: ``pending → sending → sent``; ``failed`` (retried at ``next_attempt_at``), ``dead`` (final,
reason in ``last_error``) and ``cancelled``. A claim moves due rows to ``sending`` atomically
(PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite ``UPDATE … RETURNING`` under its single write lock)
and stamps them with the claimer, the moment and a short lease that the claimer renews while it works;
a row left in ``sending`` by a killed process is retried once its lease has run out (or at once, when
its claimer is known to be dead). Only the claimer settles a row it holds.

One module a concern: ``queueing`` (enqueue, insert_selected, enqueue_selected), ``wakeup`` (a commit that
queued tells the dispatchers), ``lifecycle`` (claim, renew, settle, recover) and ``listing`` (counts, the
``civicbot outbox`` list). Import from here.
"""

from store.outbox.lifecycle import (
    INTERRUPTED,
    WAITING,
    Claimed,
    claim,
    claimers,
    defer_due,
    mark_cancelled,
    mark_dead,
    mark_failed,
    mark_identity_unreachable,
    mark_sent,
    next_due,
    recover_stuck,
    release,
    renew,
)
from store.outbox.listing import Listed, counts, department_people, list_messages, waiting_count
from store.outbox.queueing import Outgoing, enqueue, enqueue_selected, insert_selected, queued_keys
from store.outbox.wakeup import (
    LISTEN_CHECK_SECONDS,
    LISTEN_RETRY_SECONDS,
    NOTIFY_CHANNEL,
    listen_queued,
    notify_queued,
    watch_queued,
)

__all__ = [
    "INTERRUPTED", "LISTEN_CHECK_SECONDS", "LISTEN_RETRY_SECONDS", "NOTIFY_CHANNEL", "WAITING", "Claimed", "Listed",
    "Outgoing", "claim", "claimers", "counts", "defer_due", "department_people", "enqueue", "enqueue_selected",
    "insert_selected", "list_messages", "listen_queued", "mark_cancelled", "mark_dead", "mark_failed",
    "mark_identity_unreachable", "mark_sent", "next_due", "notify_queued", "queued_keys", "recover_stuck", "release",
    "renew", "waiting_count", "watch_queued",
]
