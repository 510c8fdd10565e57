"""The exceptions of the export package; every message is meant for the user.

Place in the data flow: raised by `export.service` and `export.files`, caught by
the CLI (`export.commands`) and the web's download views.
"""

from __future__ import annotations


class ExportError(Exception):
    """An export that cannot be done as asked; the message says why."""


class UnknownDeckError(ExportError):
    """A requested deck does not exist or is not visible to the user."""


class EmptySelectionError(ExportError):
    """The selection holds no deck or no card."""


class OutputError(ExportError):
    """The output file cannot be written; the message names it and says why."""
