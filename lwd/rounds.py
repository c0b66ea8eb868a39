"""The record of an LLM run: one committed file per round, the single source of truth for resume and reports.

``rounds/initial.{json,npz}`` hold A⁽⁰⁾ (the human posts and their embeddings). ``rounds/round-NNNN.npz`` (the
round's response embeddings, owners, MDS coordinates, agent means) is written first and
``rounds/round-NNNN.json`` (everything else) last, each to a temporary name and renamed: a round exists iff its
JSON exists, so a run killed at any instant has no half round. ```responses.csv`` and ``metrics.csv`` are views
rebuilt from the committed rounds after every commit.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from lwd.agents.agent import Reply, Response
from lwd.internet.store import Post

__all__ = [
    "AgentRound",
    "RoundRecord",
    "RoundLog",
    "RoundArrays",
    "RECORD_VERSION",
    "FRESH",
    "posted_rows",
    "added_embeddings",
]

RECORD_VERSION = 1
FRESH = "fresh"  # RoundArrays.extra key: embeddings of the fresh human posts a round added
_ROUND = re.compile(r"^round-(\d{4,})\.json$")


@dataclass(frozen=True)
class AgentRound:
    """One agent in one round: what it read and what it answered."""

    agent: str
    retrieved: tuple[str, ...]
    k_used: int
    prompt_tokens: int | None
    seconds: float
    regenerations: int
    posted_sample: int | None  # the response posted to the Internet (its first valid one), None if all failed
    responses: tuple[Response, ...]
    retries: int = 0  # requests repeated after transient failures
    k: int | None = None  # k_t of this agent, ⌊β_i·visible⌋ (None in records written before topologies)
    visible: int | None = None  # posts of A_t this agent could read

    @classmethod
    def from_reply(
        cls, reply: Reply, retrieved: list[str], k: int | None = None, visible: int | None = None
    ) -> AgentRound:
        posted = next((r.sample for r in reply.responses if not r.failed), None)
        return cls(
            reply.agent,
            tuple(retrieved),
            reply.k_used,
            reply.prompt_tokens,
            reply.seconds,
            reply.regenerations,
            posted,
            reply.responses,
            reply.retries,
            k,
            visible,
        )

    @classmethod
    def from_dict(cls, data: dict) -> AgentRound:
        return cls(
            data["agent"],
            tuple(data["retrieved"]),
            data["k_used"],
            data["prompt_tokens"],
            data["seconds"],
            data["regenerations"],
            data["posted_sample"],
            tuple(Response(**r) for r in data["responses"]),
            data.get("retries", 0),
            data.get("k"),
            data.get("visible"),
        )


@dataclass(frozen=True)
class RoundRecord:
    """Round t of Algorithm 1."""

    round: int
    store_size: int  # |A_t|
    synthetic: int  # synthetic posts in A_t
    k: int  # k_t = ⌊β·|A_t|⌋
    frobenius: float  # ‖D⁽ᵗ⁾‖_F
    distance: tuple[tuple[float, ...], ...]  # D⁽ᵗ⁾
    spreads: dict[str, float]
    agents: tuple[AgentRound, ...]
    posts: tuple[Post, ...]  # what this round added to the Internet (agents' posts, then fresh human posts)
    seconds: float
    version: int = RECORD_VERSION
    communities: dict[str, float] = field(default_factory=dict)  # ‖D‖_F within each community and between

    def to_json(self) -> dict:
        data = asdict(self)
        data["posts"] = [p.as_dict() for p in self.posts]
        return data

    @classmethod
    def from_json(cls, data: dict) -> RoundRecord:
        return cls(
            data["round"],
            data["store_size"],
            data["synthetic"],
            data["k"],
            data["frobenius"],
            tuple(tuple(row) for row in data["distance"]),
            data["spreads"],
            tuple(AgentRound.from_dict(a) for a in data["agents"]),
            tuple(Post.from_dict(p) for p in data["posts"]),
            data["seconds"],
            data.get("version", 1),
            data.get("communities", {}),
        )


@dataclass
class RoundArrays:
    """The vectors of a round. m valid responses, n agents, d embedding dimensions."""

    embeddings: np.ndarray  # (m, d) float32
    owners: np.ndarray  # (m,) agent index of each row
    samples: np.ndarray  # (m,) sample index of each row
    coords: np.ndarray  # (m, 2) classical MDS, aligned to the previous round
    means: np.ndarray  # (n, d) X_i (Eq. 1)
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        _save_npz(
            path,
            embeddings=self.embeddings,
            owners=self.owners,
            samples=self.samples,
            coords=self.coords,
            means=self.means,
            **self.extra,
        )

    @classmethod
    def load(cls, path: Path) -> RoundArrays:
        with np.load(path) as data:
            known = {"embeddings", "owners", "samples", "coords", "means"}
            return cls(
                data["embeddings"],
                data["owners"],
                data["samples"],
                data["coords"],
                data["means"],
                {k: data[k] for k in data.files if k not in known},
            )


class RoundLog:
    """The ``rounds/`` folder of a run folder, and the tables derived from it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.rounds_dir = self.folder / "rounds"

    # -- A⁽⁰⁾ -------------------------------------------------------------------------------------------------

    def write_initial(self, posts: list[Post], embeddings: np.ndarray) -> None:
        self.rounds_dir.mkdir(parents=True, exist_ok=True)
        _save_npz(self.rounds_dir / "initial.npz", embeddings=embeddings)
        _atomic_write(
            self.rounds_dir / "initial.json",
            json.dumps({"version": RECORD_VERSION, "posts": [p.as_dict() for p in posts]}, indent=1),
        )

    def initial(self) -> tuple[list[Post], np.ndarray]:
        data = json.loads((self.rounds_dir / "initial.json").read_text())
        with np.load(self.rounds_dir / "initial.npz") as arrays:
            return [Post.from_dict(p) for p in data["posts"]], arrays["embeddings"]

    # -- rounds ----------------------------------------------------------------------------------------------

    def committed(self) -> list[int]:
        """Round numbers with a committed record, checked to be 0, 1, …, m − 1."""
        if not self.rounds_dir.is_dir():
            return []
        found = sorted(int(m.group(1)) for p in self.rounds_dir.iterdir() if (m := _ROUND.match(p.name)))
        if found != list(range(len(found))):
            raise RuntimeError(
                f"run folder {self.folder} is inconsistent: committed rounds {found} are not "
                "0, 1, 2, … — was a round file deleted by hand?"
            )
        return found

    def next_round(self) -> int:
        return len(self.committed())

    def commit(self, record: RoundRecord, arrays: RoundArrays) -> None:
        """Make round t durable: arrays first, then the record (the commit point), then the derived tables."""
        arrays.save(self.rounds_dir / f"round-{record.round:04d}.npz")
        _atomic_write(
            self.rounds_dir / f"round-{record.round:04d}.json", json.dumps(record.to_json(), indent=1)
        )
        self.write_tables()

    def records(self) -> list[RoundRecord]:
        return [self.record(t) for t in self.committed()]

    def record(self, t: int) -> RoundRecord:
        return RoundRecord.from_json(json.loads((self.rounds_dir / f"round-{t:04d}.json").read_text()))

    def arrays(self, t: int) -> RoundArrays:
        return RoundArrays.load(self.rounds_dir / f"round-{t:04d}.npz")

    def expected_store(self) -> tuple[list[Post], np.ndarray]:
        """The posts the Internet must hold after the committed rounds, with their embeddings."""
        posts, vectors = self.initial()
        chunks = [vectors]
        for record in self.records():
            chunks.append(added_embeddings(record, self.arrays(record.round)))
            posts.extend(record.posts)
        return posts, np.concatenate(chunks)

    # -- derived tables --------------------------------------------------------------------------------------

    def write_tables(self) -> None:
        """Rebuild responses.csv and metrics.csv from the committed rounds."""
        records = self.records()
        names = [a.agent for a in records[0].agents] if records else []
        groups = list(records[0].communities) if records else []
        metric_rows, response_rows = [], []
        for rec in records:
            used = [a.k_used for a in rec.agents]
            metric_rows.append(
                {
                    "round": rec.round,
                    "frobenius": rec.frobenius,
                    **{f"spread_{name}": rec.spreads.get(name) for name in names},
                    **{g: rec.communities.get(g) for g in groups},
                    "k": rec.k,
                    "k_used_min": min(used) if used else rec.k,
                    "store_size": rec.store_size,
                    "synthetic_fraction": rec.synthetic / rec.store_size if rec.store_size else 0.0,
                    "failed": sum(r.failed for a in rec.agents for r in a.responses),
                    "regenerations": sum(a.regenerations for a in rec.agents),
                }
            )
            for a in rec.agents:
                for r in a.responses:
                    response_rows.append(
                        {
                            "round": rec.round,
                            "agent": a.agent,
                            "sample": r.sample,
                            "seed": r.seed,
                            "posted": r.sample == a.posted_sample,
                            "clean": r.clean,
                            "raw": r.raw,
                            "tokens": r.tokens,
                            "attempts": r.attempts,
                            "failed": r.failed,
                            "finish_reason": r.finish_reason,
                            "error": r.error,
                            "prompt_tokens": a.prompt_tokens,
                            "k": rec.k,
                            "k_used": a.k_used,
                            "latency_s": round(a.seconds, 3),
                            "retries": a.retries,
                            "retrieved": " ".join(a.retrieved),
                        }
                    )
        _write_rows(
            self.folder / "metrics.csv",
            metric_rows,
            _METRIC_COLUMNS[:2] + [f"spread_{n}" for n in names] + groups + _METRIC_COLUMNS[2:],
        )
        _write_rows(self.folder / "responses.csv", response_rows, _RESPONSE_COLUMNS)


def posted_rows(record: RoundRecord, arrays: RoundArrays) -> list[int]:
    """Rows of ``arrays.embeddings`` holding the answers the round's agents posted, in posting order."""
    index = {(int(o), int(s)): i for i, (o, s) in enumerate(zip(arrays.owners, arrays.samples, strict=True))}
    by_name = {a.agent: (i, a.posted_sample) for i, a in enumerate(record.agents)}
    return [index[by_name[post.author]] for post in record.posts if post.synthetic]


def added_embeddings(record: RoundRecord, arrays: RoundArrays) -> np.ndarray:
    """Embeddings of everything the round added to the Internet, in the order of ``record.posts``: the
    agents' posted answers, then the fresh human posts."""
    answers = arrays.embeddings[posted_rows(record, arrays)]
    fresh = arrays.extra.get(FRESH)
    return answers if fresh is None or not len(fresh) else np.concatenate([answers, fresh])


_METRIC_COLUMNS = [
    "round",
    "frobenius",
    "k",
    "k_used_min",
    "store_size",
    "synthetic_fraction",
    "failed",
    "regenerations",
]  # deterministic columns only: a resumed run's metrics.csv is byte-identical to an uninterrupted one's
_RESPONSE_COLUMNS = [
    "round",
    "agent",
    "sample",
    "seed",
    "posted",
    "clean",
    "raw",
    "tokens",
    "attempts",
    "failed",
    "finish_reason",
    "error",
    "prompt_tokens",
    "k",
    "k_used",
    "latency_s",
    "retries",
    "retrieved",
]


def _write_rows(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    os.replace(tmp, path)  # a derived view: rebuilt from rounds/ if a power cut loses it


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with _durable(path, "wb") as fh:
        np.savez(fh, **arrays)


def _atomic_write(path: Path, text: str) -> None:
    with _durable(path, "w") as fh:
        fh.write(text)


@contextlib.contextmanager
def _durable(path: Path, mode: str) -> Iterator[IO]:
    """Write to a temporary file, then rename it to ``path``; the data and the rename both reach the disk
    (fsync of the file, then of its folder) before this returns, so a power cut leaves the old or the new file."""
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
