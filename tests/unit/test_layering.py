"""The pure layers stay pure: srs and deckfile import neither Flask nor SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["flashcards.srs", "flashcards.deckfile"])
def test_pure_package_imports_no_framework(package: str) -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('flask', 'sqlalchemy', 'werkzeug', 'genanki', 'apscheduler'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_nothing_imports_anki() -> None:
    """`anki` is AGPL and for tests only: the package must never import it."""
    code = (
        "import importlib, pkgutil, sys, flashcards\n"
        "for m in pkgutil.walk_packages(flashcards.__path__, 'flashcards.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('anki' in sys.modules or '_rsbridge' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
