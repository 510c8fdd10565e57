"""Options blueprint: the user's time zone and day rollover, and deck option presets.

Presets hold the daily limits and the SM-2 settings (Anki's deck options); each deck
uses one (the "Default" preset unless chosen otherwise on the deck's page). Presets
are shared by everyone: with accounts on, only admins create or edit them.
"""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import (  # type: ignore[import-untyped]
    BooleanField,
    Field,
    FloatField,
    IntegerField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError  # type: ignore[import-untyped]

from flashcards.db.models import Deck, Preset, User
from flashcards.services.decks import visible_decks_clause
from flashcards.services.presets import (
    DEFAULT_PRESET_NAME,
    default_preset,
    parse_steps,
    preset_options,
)
from flashcards.web.app import app_state
from flashcards.web.auth import admin_required, current_user, is_admin

bp = Blueprint("options", __name__)

_ZONES = sorted(available_timezones() | {"UTC"})


class UserOptionsForm(FlaskForm):  # type: ignore[misc]
    timezone = SelectField("Time zone", choices=_ZONES)
    rollover_hour = IntegerField(
        "New day starts at (hour, 0–23)",
        validators=[NumberRange(0, 23, "Give an hour from 0 to 23.")],
    )


def _steps(form: FlaskForm, field: Field) -> None:
    try:
        parse_steps(field.data or "")
    except ValueError as error:
        raise ValidationError(str(error)) from None


class PresetForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    new_per_day = IntegerField(
        "New cards per day", validators=[NumberRange(0, 9999)]
    )
    reviews_per_day = IntegerField(
        "Maximum reviews per day", validators=[NumberRange(0, 99999)]
    )
    learning_steps = StringField(
        "Learning steps", validators=[Length(max=200), _steps],
        description="Minutes, or with units: 1m 10m 1h 1d.",
    )
    relearning_steps = StringField(
        "Relearning steps", validators=[Length(max=200), _steps]
    )
    graduating_interval = IntegerField(
        "Graduating interval (days)", validators=[NumberRange(1, 36500)]
    )
    easy_interval = IntegerField(
        "Easy interval (days)", validators=[NumberRange(1, 36500)]
    )
    starting_ease = FloatField("Starting ease", validators=[NumberRange(1.31, 5.0)])
    easy_bonus = FloatField("Easy bonus", validators=[NumberRange(1.0, 5.0)])
    hard_interval = FloatField("Hard interval", validators=[NumberRange(0.5, 2.0)])
    interval_modifier = FloatField(
        "Interval modifier", validators=[NumberRange(0.5, 2.0)]
    )
    lapse_multiplier = FloatField(
        "New interval after a lapse", validators=[NumberRange(0.0, 1.0)]
    )
    minimum_interval = IntegerField(
        "Minimum interval (days)", validators=[NumberRange(1, 36500)]
    )
    maximum_interval = IntegerField(
        "Maximum interval (days)", validators=[NumberRange(1, 36500)]
    )
    leech_threshold = IntegerField(
        "Leech threshold (lapses)", validators=[NumberRange(1, 99)]
    )
    leech_action = SelectField(
        "Leech action (tag it, or also suspend it)", choices=["tag", "suspend"]
    )
    bury_siblings = BooleanField("Bury related cards until the next day")


class NewPresetForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])


@bp.get("/options")
def index() -> str:
    """Your time zone and day rollover, and the list of option presets."""
    with app_state().sessions.begin() as session:
        user = current_user(session)
        default_preset(session)
        form = UserOptionsForm(timezone=user.timezone, rollover_hour=user.rollover_hour)
        presets = _presets_with_use(session, user)
    return render_template(
        "options/index.html", form=form, presets=presets, new_form=NewPresetForm()
    )


def _presets_with_use(session: Session, user: User) -> list[tuple[Preset, int]]:
    """Each preset and how many decks use it (admins count every deck, others
    only the decks they can see)."""
    default = default_preset(session)
    counted = select(Deck.preset_id, func.count()).group_by(Deck.preset_id)
    if not is_admin(user):
        counted = counted.where(visible_decks_clause(user.id))
    use: dict[int | None, int] = {
        preset_id: count for preset_id, count in session.execute(counted)
    }
    rows = []
    for preset in session.scalars(select(Preset).order_by(Preset.name)):
        count = use.get(preset.id, 0)
        if preset.id == default.id:
            count += use.get(None, 0)
        rows.append((preset, count))
    return rows


@bp.post("/options")
def save_user() -> Response | tuple[str, int]:
    """Save the time zone and the hour a new study day starts."""
    form = UserOptionsForm()
    with app_state().sessions.begin() as session:
        user = current_user(session)
        if not form.validate_on_submit():
            presets = _presets_with_use(session, user)
            return render_template(
                "options/index.html", form=form, presets=presets,
                new_form=NewPresetForm(),
            ), 400
        user.timezone = form.timezone.data or "UTC"
        user.rollover_hour = form.rollover_hour.data or 0
    flash("Saved: days now follow your time zone and rollover hour.", "success")
    return redirect(url_for("options.index"), code=303)


@bp.post("/options/presets")
@admin_required
def new_preset() -> Response | tuple[str, int]:
    """A new preset, starting from the Default preset's settings."""
    form = NewPresetForm()
    with app_state().sessions.begin() as session:
        current_user(session)
        name = (form.name.data or "").strip()
        if not form.validate_on_submit() or not name:
            flash("Give the new preset a name.", "error")
            return redirect(url_for("options.index"), code=303)
        if session.scalars(select(Preset).where(Preset.name == name)).first():
            flash(f"There is already a preset called “{name}”.", "error")
            return redirect(url_for("options.index"), code=303)
        base = default_preset(session)
        preset = Preset(name=name)
        for column in Preset.__table__.columns:
            if column.name not in ("id", "name"):
                setattr(preset, column.name, getattr(base, column.name))
        session.add(preset)
        session.flush()
        preset_id = preset.id
    flash(f"Preset “{name}” created from Default.", "success")
    return redirect(url_for("options.preset", preset_id=preset_id), code=303)


@bp.route("/options/presets/<int:preset_id>", methods=["GET", "POST"])
@admin_required
def preset(preset_id: int) -> Response | str | tuple[str, int]:
    """Edit one preset: daily limits, steps and the other SM-2 settings."""
    with app_state().sessions.begin() as session:
        current_user(session)
        found = session.get(Preset, preset_id)
        if found is None:
            abort(404, description="There is no such preset.")
        form = PresetForm(obj=found)
        if not form.is_submitted():
            return render_template("options/preset.html", form=form, preset=found)
        problem = None
        if form.validate():
            clash = session.scalars(
                select(Preset).where(
                    Preset.name == form.name.data, Preset.id != preset_id
                )
            ).first()
            renamed_default = (
                found.name == DEFAULT_PRESET_NAME and form.name.data != found.name
            )
            if clash is not None:
                form.name.errors = [*form.name.errors, "Another preset has this name."]
            elif renamed_default:
                form.name.errors = [
                    *form.name.errors,
                    "The Default preset keeps its name; create a new preset instead.",
                ]
            else:
                candidate = Preset()
                form.populate_obj(candidate)
                try:
                    preset_options(candidate)
                except ValueError as error:
                    problem = str(error)
                else:
                    form.populate_obj(found)
                    flash(f"Preset “{found.name}” saved.", "success")
                    return redirect(url_for("options.preset", preset_id=preset_id), 303)
        return render_template(
            "options/preset.html", form=form, preset=found, problem=problem
        ), 400
