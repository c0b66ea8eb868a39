"""Reading the files a run folder holds, and naming the damaged one: a file torn by hand or by a disk ends in
one RunFolderError that says which file and how to recover, never a traceback."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lwd.core.errors import RunFolderError

__all__ = ["BROKEN", "read_json", "open_npz", "damaged"]

T = TypeVar("T")

# what reading a damaged file raises: unreadable (OSError), not JSON or not an array (ValueError), a torn or
# failed-CRC zip (BadZipFile, EOFError), JSON of another shape ({}: KeyError, []: TypeError or AttributeError)
BROKEN = (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, IndexError, TypeError, AttributeError)


def read_json(path: Path, build: Callable[[Any], T]) -> T:
    """``build(json of path)``; a RunFolderError naming the file if it is unreadable, not JSON or not the JSON
    of a record (a file torn by hand or by a disk)."""
    try:
        return build(json.loads(path.read_text(encoding="utf-8")))
    except BROKEN as exc:
        raise damaged(path, exc) from None


def open_npz(path: Path) -> Any:
    """A committed array file, opened; a RunFolderError naming the file if it is damaged."""
    try:
        return np.load(path)
    except BROKEN as exc:
        raise damaged(path, exc) from None


def damaged(path: Path, exc: BaseException) -> RunFolderError:
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, KeyError | IndexError | TypeError | AttributeError):
        what = f"not a record lwd wrote: {what}"
    redo = (
        "; if it is the last round, delete it (and its .json/.npz twin) and `lwd resume` redoes it"
        if path.name.startswith("round-")
        else " (the run's starting Internet cannot be redone: without a copy, start a new run)"
    )
    return RunFolderError(f"{path} cannot be read ({what})", fix=f"restore the file from a copy{redo}")
