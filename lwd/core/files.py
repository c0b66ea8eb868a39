"""Writing files so that a crash leaves the old file or the new one, never half of one; hashing large files once.

- :func:`durable` / :func:`write_text` / :func:`save_npz`: write to a temporary name, fsync, rename, fsync the
  folder — for records that are the source of truth (a run's rounds).
- :func:`write_json` and :func:`write_csv`: write to a temporary name and rename — for views that can be rebuilt.
- :func:`sha256_file`: a file's sha256, cached in lwd's cache by (path, size, modification time), so pinning
  15 GB of weights in a manifest costs one read per file, not one per run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["cache_dir", "durable", "write_text", "save_npz", "write_json", "write_csv", "sha256_file"]


def cache_dir() -> Path:
    """lwd's cache folder: ``$LWD_CACHE``, else ``~/.cache/lwd``."""
    return Path(os.environ.get("LWD_CACHE", Path.home() / ".cache" / "lwd"))


@contextlib.contextmanager
def durable(path: Path, mode: str = "w") -> Iterator[IO]:
    """Write to a temporary file, then rename it to ``path``; the data and the rename both reach the disk
    (fsync of the file, then of its folder) before this returns, so a power cut leaves the old or the new file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_text(path: Path, text: str) -> None:
    """Durably write ``text`` (see :func:`durable`)."""
    with durable(path, "w") as fh:
        fh.write(text)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Durably write arrays as an ``.npz`` file."""
    with durable(path, "wb") as fh:
        np.savez(fh, **arrays)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a temporary file, then a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_jsonable) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_csv(path: Path, rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    """Write a table atomically; floats as ``repr`` (every digit), keys not in ``columns`` ignored."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(csv_row(row) for row in rows)
    os.replace(tmp, path)


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the tables write it: floats with every digit (``repr``), so a table round-trips exactly; numpy
    scalars as the Python numbers they hold."""
    plain = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
    return {k: (repr(v) if isinstance(v, float) else v) for k, v in plain.items()}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


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
