"""What one round of an LLM run records: each agent's answers (:class:`AgentRound`), the round's record
(:class:`RoundRecord`: strict JSON, the rows of responses.csv, metrics.csv and a large network's
agent_metrics.csv and reads.csv) and its arrays (:class:`RoundArrays`: embeddings, owners, coordinates, means).
:mod:`lwd.run.rounds` commits them to the run folder and reads them back."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lwd.agents.records import Reply, Response
from lwd.core.files import save_npz
from lwd.internet.store import Post
from lwd.metrics.collapse import FROBENIUS, SPREAD
from lwd.metrics.distance import distance_matrix
from lwd.metrics.registry import DENSE_AGENTS, family_column
from lwd.run.damaged import BROKEN, damaged, open_npz

__all__ = [
    "AgentRound",
    "RoundRecord",
    "RoundArrays",
    "RECORD_VERSION",
    "FRESH",
    "AGENT_METRICS",
    "READS",
    "READ_COLUMNS",
    "BOOKKEEPING",
    "RESPONSE_COLUMNS",
    "posted_rows",
    "added_embeddings",
]

T = TypeVar("T")
# Networks up to DENSE_AGENTS keep D in each round's record (JSON); a larger one keeps the agents' means in the
# round's arrays (``means`` in round-NNNN.npz), from which D is ``distance_matrix(means)`` (RoundArrays.distance)
RECORD_VERSION = 2  # 2: the round's metrics in one table, `metrics` (1: frobenius, spreads, communities)
AUTHOR_READ = "read"  # a post's lineage in a large network's record: its author's `retrieved` (not repeated)
AGENT_METRICS = (
    "agent_metrics.csv"  # a large network's per-agent quantities: round, agent, a column per family
)
READS = "reads.csv"  # a large network's read lists, once per agent and round (responses.csv leaves them out)
READ_COLUMNS = ["round", "agent", "retrieved"]
FRESH = "fresh"  # RoundArrays.extra key: embeddings of the fresh human posts a round added


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
    missing: int = 0  # answers a request for several did not return (drawn again)
    surplus: int = 0  # answers returned beyond those asked for (not used)

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
            reply.missing,
            reply.surplus,
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
            data.get("missing", 0),
            data.get("surplus", 0),
        )


@dataclass(frozen=True)
class RoundRecord:
    """Round t of Algorithm 1."""

    round: int
    store_size: int  # |A_t|
    synthetic: int  # synthetic posts in A_t
    k: int  # k_t = ⌊β·|A_t|⌋ (the largest over agents)
    distance: tuple[
        tuple[float, ...], ...
    ]  # D⁽ᵗ⁾ up to DENSE_AGENTS agents, else () (see RoundArrays.distance)
    metrics: dict[str, float]  # every registered metric's columns (lwd.metrics.registry): frobenius, …
    agents: tuple[AgentRound, ...]
    posts: tuple[Post, ...]  # what this round added to the Internet (agents' posts, then fresh human posts)
    seconds: float
    version: int = RECORD_VERSION
    per_agent: dict[str, tuple[float, ...]] = field(default_factory=dict)  # a large network's per-agent
    # quantities ({family: one value per agent}; metrics holds their summaries), the rows of agent_metrics.csv

    @property
    def frobenius(self) -> float:
        """‖D⁽ᵗ⁾‖_F, the paper's collapse metric."""
        return self.metrics[FROBENIUS]

    def to_json(self) -> dict:
        """The record as JSON values, built field by field (``dataclasses.asdict`` deep-copies each of the
        n·k read post ids of a large network)."""
        data = _fields(self)
        data["metrics"] = dict(self.metrics)
        data["agents"] = [{**_fields(a), "responses": list(map(_response, a.responses))} for a in self.agents]
        data["posts"] = [p.as_dict() for p in self.posts]
        if len(self.agents) > DENSE_AGENTS:  # an agent's post's lineage is what it read: written once
            read = {a.agent: a.retrieved for a in self.agents}
            for post, written in zip(self.posts, data["posts"], strict=True):
                if post.synthetic and read.get(post.author) == post.lineage:
                    written["lineage"] = AUTHOR_READ
        if not self.per_agent:  # a small network's record, as before there were per-agent families
            del data["per_agent"]
        return data

    @classmethod
    def from_json(cls, data: dict) -> RoundRecord:
        if data.get("version", 1) == 1:  # written before the metric registry
            metrics = {
                FROBENIUS: data[FROBENIUS],
                **{family_column(SPREAD, name): v for name, v in data["spreads"].items()},
                **data.get("communities", {}),
            }
        else:
            metrics = data["metrics"]
        return cls(
            int(data["round"]),
            data["store_size"],
            data["synthetic"],
            data["k"],
            tuple(tuple(_number(v) for v in row) for row in data["distance"]),
            {k: _number(v) for k, v in metrics.items()},
            tuple(AgentRound.from_dict(a) for a in data["agents"]),
            _posts(data),
            data["seconds"],
            per_agent={
                k: tuple(_number(v) for v in values) for k, values in data.get("per_agent", {}).items()
            },
        )  # read into the current representation (version 2), whatever version wrote it

    def metric_row(self) -> dict[str, Any]:
        """This round's row of metrics.csv: the round, its metrics, then the run's bookkeeping."""
        used = [a.k_used for a in self.agents]
        return {
            "round": self.round,
            **self.metrics,
            "k": self.k,
            "k_used_min": min(used) if used else self.k,
            "store_size": self.store_size,
            "synthetic_fraction": self.synthetic / self.store_size if self.store_size else 0.0,
            "failed": sum(r.failed for a in self.agents for r in a.responses),
            "regenerations": sum(a.regenerations for a in self.agents),
        }

    def response_rows(self) -> list[dict[str, Any]]:
        """This round's rows of responses.csv: one per answer."""
        return [
            {
                "round": self.round,
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
                "k": self.k
                if a.k is None
                else a.k,  # this agent's k_t (records before topologies: the round's)
                "k_used": a.k_used,
                "latency_s": round(a.seconds, 3),
                "retries": a.retries,
                "missing": a.missing,
                "surplus": a.surplus,
                "batch": r.batch,
                "endpoint": r.endpoint,
                "retrieved": " ".join(a.retrieved) if dense else "",
            }
            for dense in [len(self.agents) <= DENSE_AGENTS]
            for a in self.agents
            for r in a.responses
        ]

    def read_rows(self) -> list[dict[str, Any]]:
        """This round's rows of reads.csv (a large network): one per agent, the ids it read, in order."""
        return [
            {"round": self.round, "agent": a.agent, "retrieved": " ".join(a.retrieved)} for a in self.agents
        ]

    def metric_columns(self) -> list[str]:
        return ["round", *self.metrics, *BOOKKEEPING]

    def agent_rows(self) -> list[dict[str, Any]]:
        """This round's rows of agent_metrics.csv (a large network): one per agent, a column per family."""
        families = list(self.per_agent)
        return [
            {"round": self.round, "agent": a.agent, **{f: self.per_agent[f][i] for f in families}}
            for i, a in enumerate(self.agents)
        ]

    def agent_columns(self) -> list[str]:
        return ["round", "agent", *self.per_agent]


@dataclass
class RoundArrays:
    """The vectors of a round. m valid responses, n agents, d embedding dimensions."""

    embeddings: np.ndarray  # (m, d) float32
    owners: np.ndarray  # (m,) agent index of each row
    samples: np.ndarray  # (m,) sample index of each row
    coords: np.ndarray  # (m, 2) classical MDS, aligned to the previous round
    means: np.ndarray  # (n, d) X_i (Eq. 1)
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def distance(self) -> np.ndarray:
        """D⁽ᵗ⁾ (n, n) from the agents' means (NaN rows for agents without answers): for any network size, at
        O(n²) memory."""
        return distance_matrix(self.means)

    def save(self, path: Path) -> None:
        save_npz(
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
        """The arrays of a round file; a RunFolderError naming the file if one is missing, unreadable (a failed
        CRC, a truncated file) or of the wrong shape."""
        with open_npz(path) as data:
            try:
                arrays = {k: data[k] for k in data.files}  # each read here, so a bad CRC surfaces now
                known = [arrays.pop(k) for k in ("embeddings", "owners", "samples", "coords", "means")]
            except BROKEN as exc:
                raise damaged(path, exc) from None
        loaded = cls(*known, arrays)
        m = len(loaded.embeddings)
        if loaded.embeddings.ndim != 2 or any(
            len(a) != m for a in (loaded.owners, loaded.samples, loaded.coords)
        ):
            shapes = ", ".join(
                f"{k} {getattr(loaded, k).shape}" for k in ("embeddings", "owners", "samples", "coords")
            )
            raise damaged(path, ValueError(f"the arrays do not agree: {shapes}"))
        return loaded


def _posts(data: dict) -> tuple[Post, ...]:
    """A record's posts; a lineage written as AUTHOR_READ is its author's ``retrieved``."""
    read = {a["agent"]: a["retrieved"] for a in data["agents"]}
    return tuple(
        Post.from_dict({**p, "lineage": read[p["author"]]} if p["lineage"] == AUTHOR_READ else p)
        for p in data["posts"]
    )


def _response(response: Response) -> dict[str, Any]:
    """An answer as the record holds it; ``endpoint`` only where a server answered (records of in-process
    agents are as they were before endpoint pools)."""
    data = _fields(response)
    if response.endpoint is None:
        del data["endpoint"]
    return data


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields, one level deep (tuples of plain values are JSON arrays as they are)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


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


BOOKKEEPING = [
    "k",
    "k_used_min",
    "store_size",
    "synthetic_fraction",
    "failed",
    "regenerations",
]  # metrics.csv after the metric columns; deterministic only: a resumed run's table is byte-identical
RESPONSE_COLUMNS = [
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
    "missing",
    "surplus",
    "batch",
    "endpoint",
    "retrieved",
]


def _number(value: Any) -> float:
    """A metric as the record holds it: a number, or null for NaN (strict JSON)."""
    return math.nan if value is None else value
