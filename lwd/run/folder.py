"""Run folders: where a run's results land, and the manifest that says exactly what produced them.

A folder is never overwritten: a run writes into a hidden staging folder beside the target and renames it into
place only when everything is written, so a failed or interrupted run leaves no half-written results behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lwd.core.errors import RunFolderError

__all__ = ["default_out", "staged_folder", "folder_lock"]


def default_out(name: str, root: Path = Path("runs")) -> Path:
    """``runs/<name>-<UTC timestamp>``, unique on this machine."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = root / f"{name}-{stamp}"
    suffix = 1
    while out.exists():
        suffix += 1
        out = root / f"{name}-{stamp}-{suffix}"
    return out


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it becomes ``out``, on any error it is removed.

    Refuses an ``out`` that exists and is not empty, before any work is done, so nothing is overwritten.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunFolderError(
            f"output folder {out} already exists and is not empty (lwd never overwrites a run)",
            fix="choose another --out or move the old results away",
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise RunFolderError(
            f"cannot create the output folder {out}: {exc.strerror or exc}",
            fix="choose an --out under a folder you can write to",
        ) from exc
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()  # empty, checked above
    os.replace(staging, out)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` for as long as a process works in the folder; a second process is refused."""
    path = Path(folder) / ".lock"
    fh = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise RunFolderError(
            f"run folder {folder} is in use by {holder}",
            fix="wait for it to finish (or stop it) before running or resuming here",
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}")
    fh.flush()
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
