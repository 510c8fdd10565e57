"""Edit a card entry where it lives: its YAML deck file, or an uploaded deck's source.

form -> deckfile.roundtrip.edit_card (keeps the file's comments and layout) ->
deckfile.parse_deck (the same validation and messages as `flashcards check`) ->
importing.import_deck (upsert by stable ids, so the card keeps its history) ->
the file is written last, atomically. An invalid edit changes nothing anywhere.

The form carries the SHA-256 of the source it was made from; if the file changed in
the meantime (edited in an editor, synced from git), the edit is refused instead of
silently overwriting the newer text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from flashcards.db.models import SHARED_SCOPE, Card, Deck, Note, User
from flashcards.deckfile import CardSpec, DeckFileError, DeckSpec, Problem
from flashcards.deckfile.parse import DEFAULT_MAX_BYTES, parse_deck
from flashcards.deckfile.roundtrip import CardNotFoundError, edit_card
from flashcards.services.decks import visible_decks_clause
from flashcards.services.importing import DeckReport, import_deck, user_scope

# The fields the edit form offers, by kind of entry.
EDITABLE_FIELDS = {"basic": ("front", "back", "extra"), "cloze": ("cloze", "extra")}
# Fields an entry must keep; the others may be emptied (and are then removed).
REQUIRED_FIELDS = frozenset({"front", "back", "cloze"})


class EditError(Exception):
    """An edit that was refused; `problems` are shown to the user as they are."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class EditConflictError(EditError):
    """The source changed after the form was made."""


class EditNotAllowedError(EditError):
    """The user may see the card but not edit it (a shared deck, not an admin)."""


@dataclass(frozen=True)
class EditSource:
    """A card entry as it currently stands in its source, ready for the form."""

    card_id: int
    note: Note
    deck: Deck
    entry: CardSpec
    source: str  # the file's path, or the uploaded deck's name
    base_hash: str
    line: int | None

    @property
    def fields(self) -> tuple[str, ...]:
        return EDITABLE_FIELDS[self.entry.kind]

    def value(self, name: str) -> str:
        text: str | None = getattr(self.entry, name)
        return text or ""


@dataclass(frozen=True)
class EditResult:
    report: DeckReport
    changed: bool


def _load(session: Session, user: User, card_id: int) -> tuple[Card, Note, Deck]:
    row = session.execute(
        select(Card, Note, Deck)
        .join(Note, Note.id == Card.note_id)
        .join(Deck, Deck.id == Card.deck_id)
        .where(Card.id == card_id, visible_decks_clause(user.id))
    ).first()
    if row is None:
        raise EditError([f"There is no card {card_id}."])
    card, note, deck = row
    if deck.scope == SHARED_SCOPE and not user.is_admin:
        raise EditNotAllowedError(["Only an admin can edit the shared decks."])
    if deck.scope not in (SHARED_SCOPE, user_scope(user.id)):
        raise EditError([f"There is no card {card_id}."])
    if note.retired_at is not None:
        raise EditError(
            ["This card was removed from its deck file; there is nothing to edit."]
        )
    return card, note, deck


def _source_of(deck: Deck, max_bytes: int) -> tuple[bytes, str, str]:
    """The deck's current source bytes, how problems name it, and its default id."""
    if deck.source_path:
        path = Path(deck.source_path)
        try:
            if path.stat().st_size > max_bytes:
                raise EditError(
                    [f"{path}: the file is larger than {max_bytes:,} bytes"]
                )
            return path.read_bytes(), str(path), path.stem
        except OSError as error:
            raise EditError(
                [f"{path}: cannot read the deck file ({error.strerror}); "
                 "was it moved or deleted?"]
            ) from error
    if deck.source_text is not None:
        return deck.source_text.encode("utf-8"), f"{deck.slug}.yaml", deck.slug
    raise EditError(["This deck has no source file or stored source to edit."])


def _entry(spec: DeckSpec, key: str, source: str) -> CardSpec:
    for entry in spec.cards:
        if entry.id == key:
            return entry
    raise EditError(
        [f"{source}: card '{key}' is no longer in the file; it will be retired "
         "at the next sync."]
    )


def edit_source(
    session: Session, *, user: User, card_id: int, max_bytes: int = DEFAULT_MAX_BYTES
) -> EditSource:
    """The entry of `card_id` as its source has it now (not as last imported).

    Raises EditError when the card is unknown, not editable, or its source is gone
    or no longer valid.
    """
    card, note, deck = _load(session, user, card_id)
    data, source, default_id = _source_of(deck, max_bytes)
    try:
        spec = parse_deck(data, source=source, default_id=default_id, max_bytes=max_bytes)
    except DeckFileError as error:
        raise EditError(
            ["The deck's source has problems; fix them in the file first:"]
            + [str(p) for p in error.problems]
        ) from error
    entry = _entry(spec, note.key, source)
    return EditSource(
        card_id=card.id,
        note=note,
        deck=deck,
        entry=entry,
        source=source,
        base_hash=hashlib.sha256(data).hexdigest(),
        line=entry.line,
    )


def edit_entry(
    session: Session,
    *,
    user: User,
    card_id: int,
    values: Mapping[str, str],
    base_hash: str,
    now: dt.datetime,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> EditResult:
    """Write new field values of a card's entry into its source and re-import it.

    `values` holds the form's text for the editable fields; fields left as they
    are in the source are not touched, an emptied optional field is removed.

    Raises:
        EditConflictError: the source changed since `base_hash` was taken.
        EditError: the edit is invalid (the messages of `flashcards check`), or the
            card cannot be edited; nothing was changed.
    """
    current = edit_source(session, user=user, card_id=card_id, max_bytes=max_bytes)
    deck = current.deck
    data, source, default_id = _source_of(deck, max_bytes)
    if hashlib.sha256(data).hexdigest() != base_hash:
        raise EditConflictError(
            [f"{source} changed after you opened this card (edited elsewhere?); "
             "your edit was not saved. The form now shows the current text: "
             "make your change again."]
        )
    changes: dict[str, object] = {}
    for name in current.fields:
        if name not in values:
            continue
        new = _normalise(values[name])
        if new == _normalise(current.value(name)):
            continue
        if not new.strip():
            if name in REQUIRED_FIELDS:
                raise EditError([f"{source}: card '{current.note.key}': '{name}' "
                                 "cannot be empty"])
            changes[name] = None
        else:
            changes[name] = new
    if not changes:
        report = DeckReport(deck=deck.slug, name=deck.name, source=source)
        return EditResult(report=report, changed=False)
    try:
        new_data = edit_card(data, current.note.key, changes, source=source)
        spec = parse_deck(
            new_data, source=source, default_id=default_id, max_bytes=max_bytes
        )
    except DeckFileError as error:
        raise EditError([str(p) for p in error.problems]) from error
    except CardNotFoundError as error:
        raise EditError(
            [f"{source}: card '{current.note.key}' is no longer in the file"]
        ) from error
    except (ValueError, TypeError) as error:
        raise EditError([f"{source}: card '{current.note.key}': {error}"]) from error
    if spec.id != deck.slug:
        raise EditError([str(Problem(source, None, "the deck id must not change"))])
    with session.begin_nested():
        report = import_deck(
            session,
            spec,
            now=now,
            scope=deck.scope,
            owner_id=deck.owner_id,
            source_path=deck.source_path,
            source_text=None if deck.source_path else new_data.decode("utf-8-sig"),
        )
    if deck.source_path:
        _write_atomically(Path(deck.source_path), new_data)
    return EditResult(report=report, changed=True)


def _normalise(text: str) -> str:
    """Form text as the parser reads it: Unix newlines, no trailing whitespace."""
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip()


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace the file in one step, so a crash never leaves half a deck."""
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
