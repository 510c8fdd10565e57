"""Today's study queues kept in memory between answers, as Anki keeps its own.

Place in the data flow: `study.study_queue` builds a deck tree's queue from the
database (counts, then the cards in the order they will be shown) and keeps it
here; `study.answer_card` then moves the answered card out of the kept queue (and
back into its learning list when it returns today), so answering and fetching the
next card costs a few statements instead of recounting the whole tree.

A kept queue is only used while nothing else has changed what the user can study.
Every such change bumps `users.queue_stamp`, and a queue built at another stamp is
dropped. That keeps several web workers honest: each keeps its own queues, and an
answer given through one makes the others' stale.

- Answers bump the user's stamp (`card_answered`) and carry a kept queue over only
  when the stamp they replaced is the one it was built at, so nothing done in
  between is missed.
- Bury, suspend, undo, reset and set-due bump the user's stamp (`queues_changed`).
- Changes to decks, cards, presets (every user) or a user's day settings are seen
  by a flush hook, and the stamps are bumped once, when the transaction commits: an
  import does not hold every user's row locked while it runs.

Queues built or carried over in a transaction are only published when it commits;
a rollback (of the transaction or of a savepoint in it) throws them away.
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
from typing import Any, cast

from sqlalchemy import Table, event, inspect, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from flashcards.db.models import Card, Deck, Preset, User

# A backstop, not the mechanism: even with every change bumping the stamp, a queue
# is rebuilt from the database at least this often.
MAX_AGE_SECONDS = 600.0
# Queues kept per database (each user's decks and subdecks they study).
MAX_QUEUES = 512
# Set to False (tests, benchmarks) to build every queue from the database.
enabled = True

_USERS = cast(Table, User.__table__)


@dataclass(frozen=True)
class KeptQueue:
    """One deck tree's queue for one user and day, in the order cards will come.

    `learning` holds (due, card id) for every learning card due before tomorrow,
    soonest first; `reviews` and `new` hold the card ids today's limits allow, in
    the order they will be shown. The counts are their lengths. `learning_later`
    holds learning cards due tomorrow or later (the build reads those of
    tomorrow's first minutes; answers add any): not counted today, but the
    soonest is offered by the learn-ahead at the very end of the day.
    """

    stamp: int
    today: int
    tomorrow_starts: dt.datetime
    learning: tuple[tuple[dt.datetime, int], ...]
    learning_later: tuple[tuple[dt.datetime, int], ...]
    reviews: tuple[int, ...]
    new: tuple[int, ...]
    # The deck settings (study.DeckSettings) of each preset the tree's decks use,
    # so that answering need not load the presets again.
    settings: tuple[tuple[int | None, object], ...] = ()
    built_at: float = field(default_factory=time.monotonic)

    def contains(self, card_id: int) -> bool:
        return (
            card_id in self.reviews
            or card_id in self.new
            or any(entry[1] == card_id for entry in self.learning)
            or any(entry[1] == card_id for entry in self.learning_later)
        )


_Key = tuple[int, int, int]  # user id, deck id, day


class _QueueStore:
    """The kept queues of one database, least recently used dropped first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queues: OrderedDict[_Key, KeptQueue] = OrderedDict()


_stores: weakref.WeakKeyDictionary[Engine, _QueueStore] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def _store(session: Session) -> _QueueStore:
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    with _stores_lock:
        store = _stores.get(engine)
        if store is None:
            store = _stores[engine] = _QueueStore()
        return store


# --- what a transaction has staged (session.info) -----------------------------------

_STAGED = "flashcards.kept_queues"  # {key: queue, or None for "dropped"}
_CHANGED_FOR = "flashcards.queues_changed_for"  # user ids, or None for everyone


def _staged(session: Session) -> dict[_Key, KeptQueue | None]:
    staged: dict[_Key, KeptQueue | None] = session.info.setdefault(_STAGED, {})
    return staged


def _unusable(session: Session) -> bool:
    """A change seen in this transaction is not in the stamps yet (see the hook)."""
    return _CHANGED_FOR in session.info


def _fresh(kept: KeptQueue) -> bool:
    return time.monotonic() - kept.built_at <= MAX_AGE_SECONDS


# --- the interface for the study service --------------------------------------------


def kept_queue(session: Session, user: User, deck_id: int, today: int) -> KeptQueue | None:
    """The kept queue for this deck tree, if it is still current."""
    if not enabled or _unusable(session):
        return None
    key = (user.id, deck_id, today)
    staged = session.info.get(_STAGED, {})
    if key in staged:
        kept = staged[key]
        usable = kept is not None and kept.stamp == user.queue_stamp and _fresh(kept)
        return kept if usable else None
    store = _store(session)
    with store.lock:
        kept = store.queues.get(key)
        if kept is None:
            return None
        if kept.stamp < user.queue_stamp or not _fresh(kept):
            del store.queues[key]
            return None
        if kept.stamp > user.queue_stamp:
            return None  # built after this transaction began: not for it
        store.queues.move_to_end(key)
        return kept


def kept_settings(session: Session, user: User, preset_id: int | None) -> object | None:
    """The settings a current kept queue of this user holds for this preset."""
    if not enabled or _unusable(session):
        return None
    staged: dict[_Key, KeptQueue | None] = session.info.get(_STAGED, {})
    candidates = [
        kept
        for key, kept in staged.items()
        if key[0] == user.id and kept is not None
    ]
    if not candidates:
        store = _store(session)
        with store.lock:
            candidates = [
                kept for key, kept in store.queues.items() if key[0] == user.id
            ]
    for kept in candidates:
        if kept.stamp == user.queue_stamp:
            for kept_preset, settings in kept.settings:
                if kept_preset == preset_id:
                    return settings
    return None


def keep_queue(session: Session, user: User, deck_id: int, kept: KeptQueue) -> None:
    """Keep a queue just built; it is published when the transaction commits."""
    if enabled and not _unusable(session):
        _staged(session)[(user.id, deck_id, kept.today)] = kept


def forget_queue(session: Session, user: User, deck_id: int, today: int) -> None:
    key = (user.id, deck_id, today)
    _staged(session)[key] = None
    store = _store(session)
    with store.lock:
        store.queues.pop(key, None)


def _bump(user_id: int | None) -> Any:
    """UPDATE users: the stamp of one user (None: of everyone) goes up by one."""
    statement = update(_USERS).values(queue_stamp=_USERS.c.queue_stamp + 1)
    if user_id is not None:
        statement = statement.where(_USERS.c.id == user_id)
    return statement.returning(_USERS.c.id, _USERS.c.queue_stamp)


def queues_changed(session: Session, user_id: int | None = None) -> None:
    """Record now that what `user_id` (None: every user) can study has changed.

    Call it in the transaction that makes the change; kept queues built before it
    are dropped when next asked for. User objects the session holds get the new
    stamp, so a queue asked for later in the same transaction sees the change.
    """
    for bumped_id, stamp in session.connection().execute(_bump(user_id)):
        held = session.identity_map.get(identity_key(User, bumped_id))
        if held is not None:
            set_committed_value(held, "queue_stamp", stamp)


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
    _user_id, stamp = session.execute(_bump(user.id)).one()
    set_committed_value(user, "queue_stamp", stamp)
    if not enabled:
        return
    hidden = set(hidden_card_ids)
    store = _store(session)
    staged = _staged(session)
    candidates: dict[_Key, KeptQueue | None] = {}
    with store.lock:
        for key in [key for key in store.queues if key[0] == user.id]:
            candidates[key] = store.queues.pop(key)  # dropping is always safe
    candidates.update((key, kept) for key, kept in staged.items() if key[0] == user.id)
    for key, kept in candidates.items():
        carried = None
        if kept is not None and kept.stamp == stamp - 1 and kept.contains(card_id):
            carried = _carry_over(kept, card_id, learning_due, hidden)
        staged[key] = replace(carried, stamp=stamp) if carried is not None else None


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
    gone = {card_id, *hidden}
    learning = [entry for entry in kept.learning if entry[1] not in gone]
    later = [entry for entry in kept.learning_later if entry[1] not in gone]
    if learning_due is not None:
        today = learning_due < kept.tomorrow_starts
        bisect.insort(learning if today else later, (learning_due, card_id))
    return replace(
        kept,
        learning=tuple(learning),
        learning_later=tuple(later),
        reviews=tuple(c for c in kept.reviews if c != card_id),
        new=tuple(c for c in kept.new if c != card_id),
    )


def forget_all() -> None:
    """Drop every kept queue of every database (benchmarks, tests)."""
    with _stores_lock:
        stores = list(_stores.values())
    for store in stores:
        with store.lock:
            store.queues.clear()


# --- session events -------------------------------------------------------------------


@event.listens_for(Session, "before_flush")
def _settings_changed(session: Session, _context: object, _instances: object) -> None:
    """Note changes to decks, cards, presets or a user's day settings.

    The stamps are bumped once, at commit (`_bump_before_commit`); until then this
    transaction uses no kept queue. Progress rows are left to the study service,
    which bumps (or, for an answer, carries the kept queues over) itself; card
    content changes come through `importing.import_deck`, which always touches its
    Deck row.
    """
    if session.info.get(_CHANGED_FOR, ()) is None:
        return  # everyone already
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, (Deck, Card, Preset)):
            session.info[_CHANGED_FOR] = None
            return
    for obj in session.dirty:
        if isinstance(obj, User):
            state = inspect(obj)
            if any(
                state.attrs[name].history.has_changes()
                for name in ("timezone", "rollover_hour")
            ):
                session.info.setdefault(_CHANGED_FOR, set()).add(obj.id)


@event.listens_for(Session, "before_commit")
def _bump_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.flush()  # the hook above sees the last changes
    if _CHANGED_FOR not in session.info:
        return
    changed_for: set[int] | None = session.info.pop(_CHANGED_FOR)
    if changed_for is None:
        queues_changed(session)
    else:
        for user_id in sorted(changed_for):
            queues_changed(session, user_id)


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    """The outermost transaction committed: its queues become everyone's."""
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction may still roll back
    staged: dict[_Key, KeptQueue | None] = session.info.pop(_STAGED, {})
    if not staged:
        return
    store = _store(session)
    with store.lock:
        for key, kept in staged.items():
            if kept is None:
                store.queues.pop(key, None)
                continue
            store.queues[key] = kept
            store.queues.move_to_end(key)
        while len(store.queues) > MAX_QUEUES:
            store.queues.popitem(last=False)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _previous: SessionTransaction) -> None:
    """Whatever was staged may rest on writes that are gone: drop it all."""
    session.info.pop(_STAGED, None)
    if not session.in_transaction():
        session.info.pop(_CHANGED_FOR, None)
    # Stamps set on held users may have been rolled back with a savepoint.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, User):
            session.expire(obj, ["queue_stamp"])


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    """Closed without committing (or the commit failed): nothing is published."""
    if transaction.parent is None:
        session.info.pop(_STAGED, None)
        session.info.pop(_CHANGED_FOR, None)
