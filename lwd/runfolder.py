"""Run folders: where a run's results land, and the manifest that says exactly what produced them.

A folder is never overwritten: a run writes into a hidden staging folder beside the target and renames it into
place only when everything is written, so a failed or interrupted run leaves no half-written results behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = [
    "RunFolderError",
    "default_out",
    "staged_folder",
    "folder_lock",
    "versions",
    "write_json",
    "now_iso",
]

_VERSIONED = (
    "llm-web-dynamics",
    "numpy",
    "scipy",
    "numba",
    "matplotlib",
    "pydantic",
    "typer",
    "rich",
    "torch",
    "transformers",
    "sentence-transformers",
    "chromadb",
    "langchain-core",
    "xllamacpp",
)


class RunFolderError(RuntimeError):
    """The output folder cannot be used (exists and is not empty, or cannot be created)."""


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
            f"output folder {out} already exists and is not empty: choose another --out "
            "or move the old results away (lwd never overwrites a run)."
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise RunFolderError(f"cannot create the output folder {out}: {exc}") from exc
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
            f"run folder {folder} is in use by {holder}: wait for it to finish (or stop it) "
            "before running or resuming here."
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


def versions() -> dict[str, str]:
    """Versions of Python, the platform and the packages that shape results."""
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (write a temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_jsonable) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
