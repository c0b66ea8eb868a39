"""The Internet A_t: posts in a Chroma collection.

A post holds its text, its author (``human`` or an agent), the round it was posted in (−1 for the human posts
present before round 0), a synthetic flag, its lineage (the ids of the posts its author read) and ``seq``, its
position in posting order. Embeddings always come from lwd's own embedder: Chroma's default embedding function
downloads a model and is never used.

``PersistentClient`` inside the run folder by default; ``HttpClient`` when the scenario names a Chroma server.
The run folder's committed rounds, not the store, are the record of a run: on resume the store is reconciled
with them (:meth:`PostStore.reconcile`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from lwd.core.errors import RunFolderError, SetupError
from lwd.core.extras import require

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

    def metadata(self) -> dict:
        return {
            "author": self.author,
            "round": self.round,
            "synthetic": self.synthetic,
            "lineage": json.dumps(list(self.lineage)),
            "seq": self.seq,
        }

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

    def __init__(self, collection, describe: dict):
        self.collection = collection
        self.describe = describe

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
            where = f"the Chroma server at {url}" if url else f"the Chroma store in {folder}"
            fix = (
                (
                    "start it (`chroma run --path DIR --host 127.0.0.1 --port PORT`) or remove [store] url to use "
                    "a store inside the run folder"
                )
                if url
                else "check the folder is writable"
            )
            raise SetupError(f"cannot open {where}: {exc}", fix=fix) from exc
        return cls(coll, describe)

    def add(self, posts: Sequence[Post], embeddings: np.ndarray) -> None:
        """Add (or overwrite, by id) posts with their embeddings (len(posts), d)."""
        if not posts:
            return
        self.collection.upsert(
            ids=[p.id for p in posts],
            documents=[p.text for p in posts],
            metadatas=[p.metadata() for p in posts],
            embeddings=np.asarray(embeddings, dtype=np.float32),
        )

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

    def reconcile(self, expected: Sequence[Post], embeddings: np.ndarray) -> tuple[int, int]:
        """Make the store hold exactly ``expected``: delete posts of rounds that were never committed, add
        the ones a crash kept from being added. Returns (removed, added)."""
        have = set(self.collection.get(include=[])["ids"])
        want = {p.id for p in expected}
        extra = sorted(have - want)
        if extra:
            self.collection.delete(ids=extra)
        rows = [i for i, p in enumerate(expected) if p.id not in have]
        self.add([expected[i] for i in rows], embeddings[rows])
        return len(extra), len(rows)
