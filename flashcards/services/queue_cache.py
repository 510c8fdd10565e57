"""Today's study queues kept in memory between answers, as Anki keeps its own.

Place in the data flow: `study.study_queue` builds a deck tree's queue from the
database (counts, then the cards in the order they will be shown) and keeps it
here; `study.answer_card` then moves the answered card out of the kept queue (and
back into its learning list when it returns today), so answering and fetching the
next card costs a few statements instead of recounting the whole tree.

A kept queue is only used while nothing else has changed what the user can study.
Every such change (an answer, bury, suspend, undo, an import, presets, settings)
bumps `users.queue_stamp` in the same transaction (`queues_changed`), and a queue
built at another stamp is dropped. That keeps several web workers honest: each
keeps its own queues, and an answer given through one makes the others' stale.
An answer bumps the stamp too, and updates a kept queue only when the stamp it
replaced is the one that queue was built at, so nothing done in between is missed.
Rolled-back transactions drop the queues they touched.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import cast

from sqlalchemy import Table, event, inspect, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from flashcards.db.models import Card, Deck, Preset, User

# A backstop, not the mechanism: even with every change bumping the stamp, a queue
# is rebuilt from the database at least this often.
MAX_AGE_SECONDS = 600.0
# Queues kept per database (each user's decks and subdecks they study).
MAX_QUEUES = 512


@dataclass(frozen=True)
class KeptQueue:
    """One deck tree's queue for one user and day, in the order cards will come.

    `learning` holds (due, card id) for every learning card due before tomorrow,
    soonest first; `reviews` and `new` hold the card ids today's limits allow, in
    the order they will be shown. The counts are their lengths.
    """

    stamp: int
    today: int
    tomorrow_starts: dt.datetime
    deck_ids: frozenset[int]
    learning: tuple[tuple[dt.datetime, int], ...]
    reviews: tuple[int, ...]
    new: tuple[int, ...]
    built_at: float = field(default_factory=time.monotonic)

    def contains(self, card_id: int) -> bool:
        return (
            card_id in self.reviews
            or card_id in self.new
            or any(entry[1] == card_id for entry in self.learning)
        )


_Key = tuple[int, int, int]  # user id, deck id, day


class _QueueStore:
    """The kept queues of one database, least recently used dropped first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queues: OrderedDict[_Key, KeptQueue] = OrderedDict()


_stores: weakref.WeakKeyDictionary[Engine, _QueueStore] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()
# Set to False (tests, benchmarks) to build every queue from the database.
enabled = True


def _store(session: Session) -> _QueueStore:
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    with _stores_lock:
        store = _stores.get(engine)
        if store is None:
            store = _stores[engine] = _QueueStore()
        return store


def kept_queue(session: Session, user: User, deck_id: int, today: int) -> KeptQueue | None:
    """The kept queue for this deck tree, if it is still current."""
    if not enabled:
        return None
    store = _store(session)
    key = (user.id, deck_id, today)
    with store.lock:
        kept = store.queues.get(key)
        if kept is None:
            return None
        too_old = time.monotonic() - kept.built_at > MAX_AGE_SECONDS
        if kept.stamp != user.queue_stamp or too_old:
            del store.queues[key]
            return None
        store.queues.move_to_end(key)
        return kept


def keep_queue(session: Session, user: User, deck_id: int, kept: KeptQueue) -> None:
    if not enabled:
        return
    store = _store(session)
    with store.lock:
        store.queues[(user.id, deck_id, kept.today)] = kept
        store.queues.move_to_end((user.id, deck_id, kept.today))
        while len(store.queues) > MAX_QUEUES:
            store.queues.popitem(last=False)


def forget_queue(session: Session, user: User, deck_id: int, today: int) -> None:
    store = _store(session)
    with store.lock:
        store.queues.pop((user.id, deck_id, today), None)


def queues_changed(session: Session, user_id: int | None = None) -> None:
    """Record that what `user_id` (None: every user) can study has changed.

    Call it in the transaction that makes the change; kept queues built before it
    are dropped when next asked for. User objects the session holds get the new
    stamp, so a queue asked for later in the same transaction sees the change.
    """
    users = cast(Table, User.__table__)
    statement = update(users).values(queue_stamp=users.c.queue_stamp + 1)
    if user_id is not None:
        statement = statement.where(users.c.id == user_id)
    bumped = session.connection().execute(
        statement.returning(users.c.id, users.c.queue_stamp)
    )
    for bumped_id, stamp in bumped:
        held = session.identity_map.get(identity_key(User, bumped_id))
        if held is not None:
            set_committed_value(held, "queue_stamp", stamp)


@event.listens_for(Session, "before_flush")
def _settings_changed(session: Session, _context: object, _instances: object) -> None:
    """Bump the stamps when decks, cards, presets or a user's day settings change.

    Progress rows are left to the study service, which bumps (or, for an answer,
    carries the kept queues over) itself; card content changes come through
    `importing.import_deck`, which always touches its Deck row.
    """
    everyone = False
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, (Deck, Card, Preset)):
            everyone = True
            break
    if everyone:
        queues_changed(session)
        return
    for obj in session.dirty:
        if isinstance(obj, User):
            state = inspect(obj)
            if any(
                state.attrs[name].history.has_changes()
                for name in ("timezone", "rollover_hour")
            ):
                queues_changed(session, obj.id)


def card_answered(
    session: Session,
    user: User,
    *,
    card_id: int,
    learning_due: dt.datetime | None,
    hidden_card_ids: Iterable[int],
) -> None:
    """Bump the stamp for an answer and carry the user's kept queues over it.

    `learning_due` is when the card comes back if it is (re)learning; the
    `hidden_card_ids` (siblings buried by the answer) leave every queue. A kept
    queue is carried over only when it was current just before this answer and
    held the card; any other is dropped and rebuilt when next asked for.
    """
    users = cast(Table, User.__table__)
    stamp = session.execute(
        update(users)
        .where(users.c.id == user.id)
        .values(queue_stamp=users.c.queue_stamp + 1)
        .returning(users.c.queue_stamp)
    ).scalar_one()
    set_committed_value(user, "queue_stamp", stamp)
    if not enabled:
        return
    hidden = set(hidden_card_ids)
    store = _store(session)
    touched: list[_Key] = []
    with store.lock:
        for key, kept in list(store.queues.items()):
            if key[0] != user.id:
                continue
            del store.queues[key]
            if kept.stamp != stamp - 1 or not kept.contains(card_id):
                continue
            carried = _carry_over(kept, card_id, learning_due, hidden)
            if carried is not None:
                store.queues[key] = replace(carried, stamp=stamp)
                touched.append(key)
    _drop_on_rollback(session, store, touched)


def _carry_over(
    kept: KeptQueue,
    card_id: int,
    learning_due: dt.datetime | None,
    hidden: set[int],
) -> KeptQueue | None:
    """The queue after the answer, or None when it must be rebuilt.

    A buried sibling that was in today's new or review list would let another
    card take its place under the daily limit, which only a rebuild can tell.
    """
    if hidden.intersection(kept.reviews) or hidden.intersection(kept.new):
        return None
    learning = [
        entry
        for entry in kept.learning
        if entry[1] != card_id and entry[1] not in hidden
    ]
    if learning_due is not None and learning_due < kept.tomorrow_starts:
        bisect.insort(learning, (learning_due, card_id))
    return replace(
        kept,
        learning=tuple(learning),
        reviews=tuple(c for c in kept.reviews if c != card_id),
        new=tuple(c for c in kept.new if c != card_id),
    )


def _drop_on_rollback(session: Session, store: _QueueStore, keys: list[_Key]) -> None:
    """If the transaction that carried these queues over rolls back, drop them."""
    if keys:
        session.info.setdefault("kept_queues_touched", []).extend(keys)
        session.info["kept_queue_store"] = store


@event.listens_for(Session, "after_soft_rollback")
def _on_rollback(session: Session, _previous: object) -> None:
    store: _QueueStore | None = session.info.pop("kept_queue_store", None)
    keys = session.info.pop("kept_queues_touched", [])
    if store is not None:
        with store.lock:
            for key in keys:
                store.queues.pop(key, None)


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    session.info.pop("kept_queue_store", None)
    session.info.pop("kept_queues_touched", None)


def forget_all() -> None:
    """Drop every kept queue of every database (a restored backup, benchmarks)."""
    with _stores_lock:
        stores = list(_stores.values())
    for store in stores:
        with store.lock:
            store.queues.clear()
