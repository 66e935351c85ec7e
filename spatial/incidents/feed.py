"""The live feed of incident events: one LISTEN connection per process, fanned out to subscribers.

Every new row of ``incidents.incident_event`` sends ``NOTIFY onemap_incident_event`` from a
trigger (migration 0008), so the notification leaves when the writing transaction commits and
never for one rolled back, whatever code path appended the event. ``EventFeed`` keeps one
asynchronous psycopg connection listening while anyone subscribes and puts each notification
(``{"event_id", "incident_id", "action", "state", "at"}``) into every subscriber's queue; nobody
polls. A subscriber that falls behind (its queue full) or a listening connection that broke is
told to catch up (``RESYNC``): it reads the log after the last event it sent (``events_after``),
which is also how a client resumes after a reconnect (``Last-Event-ID``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

log = logging.getLogger(__name__)
CHANNEL = "onemap_incident_event"
QUEUE_SIZE = 1000
RECONNECT_S = 1.0
EVENTS_AFTER = text(
    "SELECT id AS event_id, incident_id, action, to_state AS state, at FROM incidents.incident_event "
    "WHERE id > :after ORDER BY id LIMIT :limit"
)
LAST_EVENT = text("SELECT coalesce(max(id), 0) FROM incidents.incident_event")
RESYNC: dict[str, Any] = {"resync": True}


def events_after(conn: Connection, after: int, limit: int = 500) -> list[dict[str, Any]]:
    """Events with an id above ``after``, oldest first: the shape of a notification."""
    rows = conn.execute(EVENTS_AFTER, {"after": after, "limit": limit}).mappings()
    return [{**row, "at": row["at"].isoformat() if isinstance(row["at"], dt.datetime) else row["at"]} for row in rows]


def last_event_id(conn: Connection) -> int:
    """The id of the newest event (0: none yet)."""
    return int(conn.execute(LAST_EVENT).scalar_one())


@dataclass(eq=False)
class Subscription:
    """One subscriber's queue of notifications (``RESYNC``: read the log to catch up)."""

    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def offer(self, item: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:  # a slow reader: drop what waits, it will read the log instead
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)


class EventFeed:
    """LISTEN on ``CHANNEL`` while there are subscribers; one connection for all of them."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def subscribe(self, wait_s: float = 10.0) -> Subscription:
        """A new subscription, once the feed listens (so nothing committed from now on is missed)."""
        subscription = Subscription()
        self.subscriptions.add(subscription)
        if self._task is None or self._task.done():
            self._listening.clear()
            self._task = asyncio.create_task(self._listen())
        try:
            await asyncio.wait_for(self._listening.wait(), wait_s)
        except TimeoutError:
            self.unsubscribe(subscription)
            raise
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription; the last one out stops the listening connection."""
        self.subscriptions.discard(subscription)
        if not self.subscriptions and self._task is not None:
            self._task.cancel()
            self._task = None

    def _broadcast(self, item: dict[str, Any]) -> None:
        for subscription in list(self.subscriptions):
            subscription.offer(item)

    async def _listen(self) -> None:
        import psycopg

        first = True
        while self.subscriptions:
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if not first:  # what was committed while we did not listen is in the log
                        self._broadcast(RESYNC)
                    first = False
                    self._listening.set()
                    async for note in conn.notifies():
                        with contextlib.suppress(ValueError):
                            self._broadcast(json.loads(note.payload))
            except Exception as err:  # a lost connection (psycopg.Error, OSError) or anything odd: listen again
                log.warning("the incident event feed lost its connection (%s); listening again", type(err).__name__)
                await asyncio.sleep(RECONNECT_S)
