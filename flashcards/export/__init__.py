"""Export: Anki .apkg packages (genanki) and YAML deck files (format 1).

database ─▶ service (selection, streaming queries) ─▶ rows ─▶ apkg (fields,
identity, notetypes, progress) ─▶ .apkg;  database ─▶ yaml_export ─▶ deck file.
The CLI command lives in `export.commands` (not imported here: it needs click).
"""

from flashcards.export.errors import (
    EmptySelectionError,
    ExportError,
    OutputError,
    UnknownDeckError,
)
from flashcards.export.service import (
    ExportResult,
    build_package,
    find_decks_by_slug,
    write_package,
)
from flashcards.export.yaml_export import export_yaml, write_yaml

__all__ = [
    "EmptySelectionError",
    "ExportError",
    "ExportResult",
    "OutputError",
    "UnknownDeckError",
    "build_package",
    "export_yaml",
    "find_decks_by_slug",
    "write_package",
    "write_yaml",
]
