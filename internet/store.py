"""The Internet A_t: posts in a Chroma collection.

A post holds its text, its author (``human`` or an agent), the round it was posted in (−1 for the human posts
present before round 0), a synthetic flag, its lineage (the ids of the posts its author read; a network of more
than a dozen agents leaves it to the run folder's reads.csv) and ``seq``, its position in posting order.
Embeddings always come from lwd's own embedder: Chroma's default embedding function downloads a model and is
never used.

``PersistentClient`` inside the run folder by default; ``HttpClient`` when the scenario names a Chroma server.
The run folder's committed rounds, not the store, are the record of a run: on resume the store is reconciled
with them (:meth:`PostStore.reconcile`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import numpy as np

from lwd.core.errors import DiskFullError, RunFolderError, SetupError
from lwd.core.extras import require
from lwd.core.files import free_bytes
from lwd.core.resources import gib

T = TypeVar("T")
LOW_SPACE = 64 * 2**20  # a store write that fails with less than this free on its disk: the disk is full

__all__ = ["Post", "PostStore"]


@dataclass(frozen=True)
class Post:
    id: str
    text: str
    author: str
    round: int
    synthetic: bool
    lineage: tuple[str, ...]
    seq: int

    def metadata(self, lineage: bool = True) -> dict:
        """Chroma's metadata of the post; ``lineage=False`` leaves the read list out (a large network's run
        folder holds it once, in reads.csv)."""
        meta = {"author": self.author, "round": self.round, "synthetic": self.synthetic, "seq": self.seq}
        if lineage:
            meta["lineage"] = json.dumps(list(self.lineage))
        return meta

    @classmethod
    def from_chroma(cls, post_id: str, text: str, meta: dict) -> Post:
        return cls(
            post_id,
            text,
            str(meta["author"]),
            int(meta["round"]),
            bool(meta["synthetic"]),
            tuple(json.loads(meta.get("lineage", "[]"))),
            int(meta["seq"]),
        )

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "author": self.author,
            "round": self.round,
            "synthetic": self.synthetic,
            "lineage": list(self.lineage),
            "seq": self.seq,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Post:
        return cls(
            data["id"],
            data["text"],
            data["author"],
            int(data["round"]),
            bool(data["synthetic"]),
            tuple(data["lineage"]),
            int(data["seq"]),
        )


class PostStore:
    """``add``, ``ids``, ``get``, ``count``, ``reconcile`` over one Chroma collection."""

    def __init__(self, collection, describe: dict, folder: Path | None = None, batch: int = 5000):
        self.collection = collection
        self.describe = describe
        self.folder = folder  # a persistent store's folder (None on a Chroma server)
        self.batch = batch  # the most records Chroma takes in one write (its client says how many)

    @classmethod
    def open(
        cls, folder: Path | None = None, url: str | None = None, collection: str = "internet"
    ) -> PostStore:
        """A persistent store in ``folder``, or the collection on the Chroma server at ``url``."""
        require("llm", "the Internet's Chroma store", modules=("chromadb",))
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        try:
            if url:
                parsed = urlparse(url)
                client = chromadb.HttpClient(
                    host=parsed.hostname or "127.0.0.1",
                    port=parsed.port or 8000,
                    ssl=parsed.scheme == "https",
                    settings=settings,
                )
                client.heartbeat()
                describe = {"kind": "http", "url": url, "collection": collection}
            else:
                folder = Path(folder) if folder else Path("store")
                folder.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(folder), settings=settings)
                describe = {"kind": "persistent", "path": "store", "collection": collection}
            coll = client.get_or_create_collection(
                collection, embedding_function=None, metadata={"hnsw:space": "l2"}
            )
        except Exception as exc:  # noqa: BLE001 - chromadb raises many types; all mean "cannot use it"
            if url:
                raise SetupError(
                    f"cannot open the Chroma server at {url}: {exc}",
                    fix="start it (`chroma run --path DIR --host 127.0.0.1 --port PORT`) or remove [store] url "
                    "to use a store inside the run folder",
                ) from exc
            _forget(str(folder))
            _check_space(folder, exc)
            if not os.access(folder, os.W_OK | os.X_OK):
                fix = f"make {folder} writable by this user"
            else:  # its files are damaged; a run folder's rounds hold every post, and resume rebuilds the store
                fix = (
                    f"its files are damaged: delete {folder} (or move it away); in a run folder `lwd resume` "
                    "rebuilds the store from the committed rounds"
                )
            raise SetupError(f"cannot open the Chroma store in {folder}: {exc}", fix=fix) from exc
        return cls(coll, describe, None if url else folder, client.get_max_batch_size())

    def add(self, posts: Sequence[Post], embeddings: np.ndarray, lineage: bool = True) -> None:
        """Add (or overwrite, by id) posts with their embeddings (len(posts), d); with their lineage unless
        ``lineage`` is False (a large network: hundreds of ids a post, in reads.csv already)."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        for start in range(0, len(posts), self.batch):  # a round of 10,000 agents is more than one write
            part = posts[start : start + self.batch]
            self._write(
                lambda part=part, start=start: self.collection.upsert(
                    ids=[p.id for p in part],
                    documents=[p.text for p in part],
                    metadatas=[p.metadata(lineage) for p in part],
                    embeddings=embeddings[start : start + len(part)],
                )
            )

    def _write(self, call: Callable[[], T]) -> T:
        """A write to the store; a DiskFullError when it fails on a full disk (Chroma's own error does not say)."""
        try:
            return call()
        except Exception as exc:
            if self.folder is not None:
                _check_space(self.folder, exc)
            raise

    def posts(self) -> list[Post]:
        """Every post, in posting order."""
        got = self.collection.get(include=["documents", "metadatas"])
        posts = [
            Post.from_chroma(i, d, m)
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        ]
        return sorted(posts, key=lambda p: p.seq)

    def ids(self, visible_to: str | None = None) -> list[str]:
        """Ids of the posts an agent can read, in posting order (all of them: the paper's complete network)."""
        got = self.collection.get(include=["metadatas"])
        return [i for _, i in sorted(zip((m["seq"] for m in got["metadatas"]), got["ids"], strict=True))]

    def get(self, ids: Sequence[str]) -> list[Post]:
        """The posts with these ids, in the order asked (Chroma returns its own order)."""
        if not ids:
            return []
        got = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        found = {
            i: Post.from_chroma(i, d, m)
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }
        missing = [i for i in ids if i not in found]
        if missing:
            raise RunFolderError(f"posts {missing[:5]} are not in the store ({self.describe})")
        return [found[i] for i in ids]

    def count(self) -> int:
        return self.collection.count()

    def reconcile(
        self, expected: Sequence[Post], embeddings: np.ndarray, lineage: bool = True
    ) -> tuple[int, int]:
        """Make the store hold exactly ``expected``: delete posts of rounds that were never committed, add
        the ones a crash kept from being added (``lineage`` as :meth:`add`). Returns (removed, added)."""
        have = set(self.collection.get(include=[])["ids"])
        want = {p.id for p in expected}
        extra = sorted(have - want)
        if extra:
            self._write(lambda: self.collection.delete(ids=extra))
        rows = [i for i, p in enumerate(expected) if p.id not in have]
        self.add([expected[i] for i in rows], embeddings[rows], lineage)
        return len(extra), len(rows)


def _check_space(folder: Path, exc: BaseException) -> None:
    """Raise a DiskFullError from ``exc`` when the disk holding ``folder`` has (almost) no room left."""
    free = free_bytes(folder)
    if free is not None and free < LOW_SPACE:
        raise DiskFullError(
            f"the Chroma store in {folder} failed ({type(exc).__name__}: {exc}) with {gib(free)} free on its disk: "
            "the disk is full; every round already committed is whole",
            fix="free space on that disk (or move the run folder to a larger one)",
        ) from exc


def _forget(path: str) -> None:
    """Drop Chroma's cached client of ``path`` after it failed to start: Chroma caches it before starting it, so
    without this a store repaired in the same process (the TUI, a test) would keep failing. Private API: gone
    in a future Chroma, it is simply not there."""
    try:
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(path, None)
    except (ImportError, AttributeError):
        pass
