"""Read-side queries about decks: the deck list with card counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from flashcards.db.models import SHARED_SCOPE, Card, Deck
from flashcards.services.importing import user_scope


@dataclass(frozen=True)
class DeckSummary:
    id: int
    slug: str
    name: str
    description: str | None
    card_count: int
    source_path: str | None


def visible_decks_clause(user_id: int | None):  # type: ignore[no-untyped-def]
    """Shared decks, plus the user's own uploads."""
    if user_id is None:
        return Deck.scope == SHARED_SCOPE
    return or_(Deck.scope == SHARED_SCOPE, Deck.scope == user_scope(user_id))


def list_decks(session: Session, *, user_id: int | None) -> list[DeckSummary]:
    """Every deck the user can see, with its number of live cards, by name."""
    live_cards = (
        select(Card.deck_id, func.count().label("n"))
        .where(Card.retired_at.is_(None))
        .group_by(Card.deck_id)
        .subquery()
    )
    rows = session.execute(
        select(Deck, func.coalesce(live_cards.c.n, 0))
        .outerjoin(live_cards, live_cards.c.deck_id == Deck.id)
        .where(visible_decks_clause(user_id))
        .order_by(Deck.name)
    )
    return [
        DeckSummary(d.id, d.slug, d.name, d.description, n, d.source_path)
        for d, n in rows
    ]
