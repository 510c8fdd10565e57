"""Atomic file output for exports: a temporary file beside the target, then a rename.

Place in the data flow: `export.service` writes packages and YAML through
`atomic_output`, so a failed export never leaves half a file behind and an
existing file is replaced in one step (readers see the old or the new one).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from flashcards.export.errors import OutputError


@contextmanager
def atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """Yield a binary file; on success it replaces `path`, on failure it vanishes.

    The temporary file is created in the target's folder (a rename across file
    systems would not be atomic) with the usual umask-based permissions.

    Raises:
        OutputError: the folder is missing or not writable, or `path` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder")
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: no such folder {folder}")
    temp = folder / f".{path.name}.{secrets.token_hex(4)}.part"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from error
    try:
        with os.fdopen(fd, "wb") as file:
            try:
                yield file
                file.flush()
                os.fsync(file.fileno())
            except OSError as error:
                raise OutputError(f"cannot write {path}: {error.strerror}") from error
        try:
            os.replace(temp, path)
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror}") from error
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
