"""The YAML deck format (format 1): parse, validate, render Markdown and math.

Pure: imports nothing else of ours, and neither Flask nor SQLAlchemy.
"""

from flashcards.deckfile.spec import CardSpec, DeckFileError, DeckSpec, Problem

__all__ = ["CardSpec", "DeckFileError", "DeckSpec", "Problem"]
