"""Decks blueprint: the home page (deck tree with today's counts), a deck's page,
uploading a deck, and choosing a deck's options preset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm  # type: ignore[import-untyped]
from flask_wtf.file import FileField, FileRequired  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from flashcards.db.models import Deck, Preset, User
from flashcards.deckfile import DeckFileError
from flashcards.services.browse import last_studied
from flashcards.services.decks import DeckSummary, list_decks, visible_decks_clause
from flashcards.services.importing import user_scope
from flashcards.services.presets import default_preset
from flashcards.services.study import (
    QueueCounts,
    deck_tree_counts,
    study_queue,
)
from flashcards.services.uploads import upload_deck, upload_name
from flashcards.web.app import app_state, now
from flashcards.web.auth import current_user, forbidden, is_admin
from flashcards.web.rendering import text_html

bp = Blueprint("decks", __name__)

SEPARATOR = "::"


@dataclass
class DeckNode:
    """One row of the deck tree; `deck` is None for a parent that is only a name."""

    label: str
    full_name: str
    depth: int
    deck: DeckSummary | None = None
    counts: QueueCounts = field(default_factory=QueueCounts)
    cards: int = 0
    last_studied: dt.datetime | None = None
    children: list[DeckNode] = field(default_factory=list)


class UploadForm(FlaskForm):  # type: ignore[misc]
    deck_file = FileField(
        "Deck file (.yaml)", validators=[FileRequired("Choose a deck file to upload.")]
    )


class PresetChoiceForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token; the preset id is read and checked by the view."""


def build_tree(
    decks: list[DeckSummary],
    counts: dict[int, QueueCounts],
    studied: dict[int, dt.datetime],
) -> list[DeckNode]:
    """Nest decks by "::" in their names; parents add up their subdecks.

    `counts` are already rolled up (a deck's own and its subdecks' cards); a parent
    that is only a name adds up its children.
    """
    roots: list[DeckNode] = []
    by_name: dict[str, DeckNode] = {}
    for deck in sorted(decks, key=lambda d: d.name.split(SEPARATOR)):
        parts = deck.name.split(SEPARATOR)
        siblings = roots
        for depth, part in enumerate(parts[:-1]):
            name = SEPARATOR.join(parts[: depth + 1])
            node = by_name.get(name)
            if node is None:
                node = DeckNode(label=part, full_name=name, depth=depth)
                by_name[name] = node
                siblings.append(node)
            siblings = node.children
        node = DeckNode(
            label=parts[-1],
            full_name=deck.name,
            depth=len(parts) - 1,
            deck=deck,
            counts=counts.get(deck.id, QueueCounts()),
        )
        existing = by_name.get(deck.name)
        if existing is not None and existing.deck is None:
            # A name-only parent seen first (from "A::B") becomes the real deck "A".
            existing.deck = deck
            existing.counts = node.counts
            continue
        by_name.setdefault(deck.name, node)
        siblings.append(node)
    for root in roots:
        _fill(root, studied)
    return roots


def _fill(node: DeckNode, studied: dict[int, dt.datetime]) -> None:
    """Card totals and last-studied times up the tree; counts for name-only parents."""
    for child in node.children:
        _fill(child, studied)
    own_cards = node.deck.card_count if node.deck else 0
    node.cards = own_cards + sum(child.cards for child in node.children)
    times = [c.last_studied for c in node.children if c.last_studied is not None]
    if node.deck is not None and node.deck.id in studied:
        times.append(studied[node.deck.id])
    node.last_studied = max(times) if times else None
    if node.deck is None:
        node.counts = _sum(child.counts for child in node.children)


def _sum(items: Iterable[QueueCounts]) -> QueueCounts:
    new = learning = review = 0
    for counts in items:
        new += counts.new
        learning += counts.learning
        review += counts.review
    return QueueCounts(new=new, learning=learning, review=review)


def flatten(nodes: list[DeckNode]) -> list[DeckNode]:
    """Pre-order: each deck followed by its subdecks."""
    rows: list[DeckNode] = []
    for node in nodes:
        rows.append(node)
        rows.extend(flatten(node.children))
    return rows


def visible_deck(session: Session, user: User, deck_id: int) -> Deck:
    """The deck if this user may see it; 404 otherwise."""
    deck = session.scalars(
        select(Deck).where(Deck.id == deck_id, visible_decks_clause(user.id))
    ).one_or_none()
    if deck is None:
        abort(404, description="There is no such deck. Pick one from the deck list.")
    return deck


@bp.get("/")
def index() -> str:
    """The deck tree with today's new / learning / due counts, or how to start."""
    state = app_state()
    moment = now()
    with state.sessions.begin() as session:
        user = current_user(session)
        decks = list_decks(session, user_id=user.id)
        counts = deck_tree_counts(session, user=user, now=moment)
        studied = last_studied(session, user=user)
    tree = build_tree(decks, counts, studied)
    totals = _sum(node.counts for node in tree)
    return render_template(
        "decks/index.html",
        rows=flatten(tree),
        totals=totals,
        total_cards=sum(d.card_count for d in decks),
        deck_count=len(decks),
        # Where the decks folder is on the server is for whoever looks after it
        # (everyone in local mode, admins with accounts), not for every user.
        decks_dir=state.settings.decks_dir if is_admin(user) else None,
    )


@bp.get("/decks/<int:deck_id>")
def deck(deck_id: int) -> str:
    """One deck: today's counts, its description, where it comes from, its options."""
    state = app_state()
    with state.sessions.begin() as session:
        user = current_user(session)
        found = visible_deck(session, user, deck_id)
        queue = study_queue(session, user=user, deck=found, now=now())
        presets = list(session.scalars(select(Preset).order_by(Preset.name)))
        current = found.preset or default_preset(session)
        form = PresetChoiceForm()
        summary = next(
            (d for d in list_decks(session, user_id=user.id) if d.id == found.id), None
        )
        description = text_html(found.description, found)
        uploaded = found.scope == user_scope(user.id)
        may_choose_preset = uploaded or is_admin(user)
    return render_template(
        "decks/deck.html",
        deck=found,
        counts=queue.counts,
        next_learning_at=queue.next_learning_at,
        form=form,
        preset=current,
        presets=presets,
        card_count=summary.card_count if summary else 0,
        description=description,
        uploaded=uploaded,
        may_choose_preset=may_choose_preset,
    )


@bp.post("/decks/<int:deck_id>/preset")
def choose_preset(deck_id: int) -> Response | tuple[Response | str, int]:
    """Use another options preset for this deck (your own decks; shared ones: admins)."""
    state = app_state()
    with state.sessions.begin() as session:
        user = current_user(session)
        found = visible_deck(session, user, deck_id)
        if found.scope != user_scope(user.id) and not is_admin(user):
            return forbidden(
                "Only an admin chooses the preset of a shared deck; it applies to "
                "everyone who studies it."
            )
        chosen = session.get(Preset, request.form.get("preset_id", type=int) or 0)
        if chosen is None:
            abort(400, description="Choose one of the listed presets.")
        found.preset_id = chosen.id
        name = chosen.name
    flash(f"“{found.name}” now uses the options preset “{name}”.", "success")
    return redirect(url_for("decks.deck", deck_id=deck_id), code=303)


@bp.route("/decks/upload", methods=["GET", "POST"])
def upload() -> Response | str | tuple[str, int]:
    """Upload a YAML deck: it becomes your own deck, or nothing changes."""
    state = app_state()
    form = UploadForm()
    if not form.is_submitted():
        return render_template("decks/upload.html", form=form, problems=None)
    if not form.validate():
        return render_template("decks/upload.html", form=form, problems=None), 400
    file = form.deck_file.data
    data = file.read(state.settings.max_deck_bytes + 1)
    try:
        with state.sessions.begin() as session:
            user = current_user(session)
            result = upload_deck(
                session,
                user=user,
                data=data,
                filename=file.filename,
                now=now(),
                max_bytes=state.settings.max_deck_bytes,
            )
    except DeckFileError as error:
        return render_template(
            "decks/upload.html",
            form=form,
            problems=[str(p) for p in error.problems],
            filename=upload_name(file.filename),
        ), 400
    report = result.report
    flash(f"{report.source}: ok ({result.card_count} cards) — {report.summary()}", "success")
    for warning in report.warnings:
        flash(f"warning: {warning}", "warning")
    return redirect(url_for("decks.deck", deck_id=result.deck_id), code=303)
