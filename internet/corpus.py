"""A⁽⁰⁾, the human posts the Internet starts with.

The paper seeded its Internet with 20 posts from the Crypto Semantic News data set (7 positive, 7 neutral,
6 negative); that data set cannot be downloaded here, so lwd ships 20 posts written for it in the same
proportions (``builtin:crypto-20``). Any CSV with a text column can replace them.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from lwd.core.errors import SetupError

__all__ = ["Corpus", "load_corpus", "BUILTIN"]

_LONGEST = 2**31 - 1  # csv's own limit is 128 KiB per field
BUILTIN = {"crypto-20": "20 human-style posts about cryptocurrency: 7 positive, 7 neutral, 6 negative"}


@dataclass(frozen=True)
class Corpus:
    source: str
    texts: tuple[str, ...]
    sha256: str


def _corpus_path(source: str, base: Path | None) -> Path:
    """The file ``builtin:NAME`` or a path names (relative paths from ``base``)."""
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTIN:
            known = ", ".join("builtin:" + n for n in BUILTIN)
            raise SetupError(
                f"unknown built-in corpus {source!r}: expected one of {known}",
                fix=f"set [corpus] file to one of {known}, or to a CSV path",
            )
        return Path(str(files("lwd.internet").joinpath("data", f"{name}.csv")))
    path = Path(source).expanduser()
    return base / path if not path.is_absolute() and base is not None else path


def load_corpus(source: str, column: str = "text", base: Path | None = None) -> Corpus:
    """``builtin:NAME`` or a CSV path (relative paths from ``base``); every non-empty ``column`` cell is a post."""
    path = _corpus_path(source, base)
    expected = f"a UTF-8 CSV file with a header row and a {column!r} column, one post per row"
    fix = "give [corpus] file (or --seed-corpus) the path of " + expected
    if not path.is_file():
        found = "a folder" if path.is_dir() else "nothing (no such file)"
        raise SetupError(f"corpus {path}: expected {expected}, found {found}", fix=fix)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SetupError(f"corpus {path}: cannot read it ({exc.strerror or exc})", fix=fix) from None
    if b"\x00" in raw:
        raise SetupError(
            f"corpus {path}: expected {expected}, found a binary file (it holds NUL bytes)", fix=fix
        )
    # a post may be long: the context policy bounds what an agent reads, the corpus takes any length
    limit = csv.field_size_limit(_LONGEST)
    try:
        reader = csv.DictReader(raw.decode("utf-8-sig").splitlines())
        rows = list(reader)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1]
        raise SetupError(
            f"corpus {path}: expected {expected}, but byte {exc.start} ({bad!r}) is not UTF-8 (a Latin-1 or "
            "Windows export?)",
            fix=f"save {path.name} as UTF-8 (e.g. `iconv -f latin1 -t utf-8 {path.name} > posts.csv`)",
        ) from None
    except csv.Error as exc:
        raise SetupError(f"corpus {path}: not a readable CSV ({exc})", fix=fix) from None
    finally:
        csv.field_size_limit(limit)
    if column not in (reader.fieldnames or []):
        if not reader.fieldnames:
            raise SetupError(f"corpus {path} is empty: expected {expected}", fix=fix)
        raise SetupError(
            f"corpus {path}: expected a column named {column!r}, got columns {reader.fieldnames or []}",
            fix="rename the column or set [corpus] column",
        )
    texts = tuple(" ".join(row[column].split()) for row in rows if row.get(column) and row[column].strip())
    if not texts:
        raise SetupError(
            f"corpus {path} has no posts: expected at least one non-empty {column!r} cell, got 0 (the Internet "
            "must start with human posts for the agents to read)",
            fix=f"add posts to {path.name}, one per row under its {column!r} header",
        )
    return Corpus(
        source=source if source.startswith("builtin:") else str(path),
        texts=texts,
        sha256=hashlib.sha256(raw).hexdigest(),
    )
