"""Writing files so that a crash or a full disk leaves the old file or the new one, never half of one; strict
JSON; hashing large files once.

- :func:`replacing` / :func:`atomic`: write to a temporary name beside the target and rename it into place when
  the writing is done; on any error the temporary file is removed and the target is untouched. Every file lwd
  writes goes through them (tables, JSON, figures, report.html).
- :func:`durable` / :func:`write_text` / :func:`save_npz`: the same, with fsync of the file and its folder — for
  records that are the source of truth (a run's rounds).
- :func:`json_text` / :func:`write_json`: strict JSON (RFC 8259): NaN and infinities are written as ``null``.
- :func:`appending`: rows added at the end of a file, or nothing (cut back to its old length on an error).
- :func:`disk_full`: an ``OSError`` of a full disk (or quota) as a :class:`~lwd.core.errors.DiskFullError`.
- :func:`sha256_file`: a file's sha256, cached in lwd's cache by (path, size, modification time), so pinning
  15 GB of weights in a manifest costs one read per file, not one per run.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from lwd.core.errors import DiskFullError

__all__ = [
    "cache_dir",
    "replacing",
    "atomic",
    "durable",
    "appending",
    "write_text",
    "save_npz",
    "json_text",
    "write_json",
    "write_csv",
    "csv_cell",
    "write_rows",
    "disk_full",
    "free_bytes",
    "sha256_file",
]

FULL = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
)  # no room left: the disk, a quota, a file size cap


def cache_dir() -> Path:
    """lwd's cache folder: ``$LWD_CACHE``, else ``~/.cache/lwd``."""
    return Path(os.environ.get("LWD_CACHE", Path.home() / ".cache" / "lwd"))


@contextlib.contextmanager
def replacing(path: Path, *, sync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so writers that read the format from the name
    work); when the block ends it is renamed to ``path``. On any error it is removed and ``path`` is untouched.
    ``sync``: the data and the rename reach the disk (fsync of the file, then of its folder) before returning."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        if sync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


@contextlib.contextmanager
def atomic(path: Path, mode: str = "w", *, sync: bool = False, newline: str | None = None) -> Iterator[IO]:
    """An open file that replaces ``path`` when the block ends (see :func:`replacing`)."""
    text = {} if "b" in mode else {"encoding": "utf-8", "newline": newline}
    with replacing(path, sync=sync) as tmp, open(tmp, mode, **text) as fh:
        yield fh


def durable(path: Path, mode: str = "w") -> contextlib.AbstractContextManager[IO]:
    """:func:`atomic` with fsync: a power cut leaves the old or the new file."""
    return atomic(path, mode, sync=True)


@contextlib.contextmanager
def appending(path: Path, newline: str | None = None) -> Iterator[IO]:
    """A file opened for appending; on any error it is cut back to the length it had, so a full disk never
    leaves half a row."""
    path = Path(path)
    size = path.stat().st_size
    fh = open(path, "a", encoding="utf-8", newline=newline)  # noqa: SIM115 - closed below, before any cut
    try:
        yield fh
        fh.close()
    except BaseException:
        with contextlib.suppress(OSError):
            fh.close()
        with contextlib.suppress(OSError):
            os.truncate(path, size)
        raise


def write_text(path: Path, text: str) -> None:
    """Durably write ``text`` (see :func:`durable`)."""
    with durable(path, "w") as fh:
        fh.write(text)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Durably write arrays as an ``.npz`` file."""
    with durable(path, "wb") as fh:
        np.savez(fh, **arrays)


def json_text(data: Any, indent: int | None = 2) -> str:
    """Strict JSON (no NaN or Infinity, which RFC 8259 does not have: they become ``null``); numpy values and
    paths as plain JSON."""
    options = {"indent": indent, "ensure_ascii": False, "default": _jsonable, "allow_nan": False}
    try:  # most data holds no NaN: written as it is, without a walk through every value first
        return json.dumps(data, **options)
    except ValueError:  # a NaN or an infinity somewhere: every value looked at
        return json.dumps(_strict(data), **options)


def write_json(path: Path, data: Any) -> None:
    """Write strict JSON (:func:`json_text`) atomically."""
    with atomic(path) as fh:
        fh.write(json_text(data) + "\n")


def write_csv(path: Path, rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    """Write a table atomically; floats as ``repr`` (every digit), keys not in ``columns`` ignored."""
    with atomic(path, newline="") as fh:
        write_rows(fh, rows, columns, header=True)


def write_rows(fh: IO[str], rows: Iterable[dict[str, Any]], columns: list[str], header: bool = False) -> None:
    """Rows (dicts) as CSV lines of ``columns`` (a missing key an empty cell, other keys ignored), each cell as
    :func:`csv_cell` writes it; the header line first if asked."""
    writer = csv.writer(fh)
    if header:
        writer.writerow(columns)
    writer.writerows([csv_cell(row.get(c, "")) for c in columns] for row in rows)


def csv_cell(value: Any) -> Any:
    """A value as the tables write it: floats with every digit (``repr``), so a table round-trips exactly; numpy
    scalars as the Python numbers they hold."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, float) else value


def _strict(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return _strict(value.tolist())
    return value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return _strict(value.tolist())
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def free_bytes(path: Path) -> int | None:
    """Bytes free for this user on the disk that holds ``path`` (or its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def disk_full(exc: BaseException, folder: Path, then: str) -> DiskFullError | None:
    """``exc`` as a :class:`DiskFullError` if it is an OSError of a full disk (or quota), else None. ``then``
    says how to continue once there is room (``lwd resume DIR``)."""
    if not isinstance(exc, OSError) or exc.errno not in FULL:
        return None
    where = f" while writing {exc.filename}" if exc.filename else ""
    return DiskFullError(
        f"the disk that holds {folder} is full ({exc.strerror or os.strerror(exc.errno)}{where}); every file "
        "already written is whole",
        fix=f"free space on that disk (or move {folder} to a larger one), then {then}",
    )


def sha256_file(path: Path) -> str:
    """sha256 of a file, cached by (resolved path, size, modification time) in ``cache_dir()/sha256.json``."""
    path = Path(path)
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    cache = cache_dir() / "sha256.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    known[key] = digest.hexdigest()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs a re-hash next time
    return known[key]
