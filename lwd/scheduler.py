"""Algorithm 1 of the paper: synthetic conversations on the Internet.

Each round t (``Simulation.step``): every agent draws k_t = ⌊β·|A_t|⌋ posts uniformly without replacement
from A_t and answers the query L times (agents run concurrently); the answers are embedded; X_i is the mean
of agent i's embeddings, D_ij = ‖X_i − X_j‖₂ and ‖D‖_F is recorded; each agent posts its first answer, so
A_{t+1} = A_t ∪ {(f_1)_1, …, (f_n)_1}. The round is committed to the run folder before its posts join the
store, and nothing about round t depends on how earlier rounds were scheduled: retrieval and sampling seeds
come from (run seed, round, agent[, sample]) alone, so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from lwd.agents.agent import Agent, Reply
from lwd.internet.retrieval import retrieval_size
from lwd.internet.store import Post, PostStore
from lwd.metrics import agent_means, align_to, classical_mds, distance_matrix, frobenius_norm, spreads
from lwd.rounds import AgentRound, RoundArrays, RoundLog, RoundRecord, posted_rows
from lwd.seeding import RETRIEVAL, SAMPLING, stream

__all__ = ["Simulation", "Event", "retrieve", "sampling_seed"]

SEED_SPAN = 2**31  # llama.cpp seeds are 32-bit; sample l and its regenerations add small offsets to the base


@dataclass(frozen=True)
class Event:
    """Progress of a run, for progress bars and the TUI: ``kind`` is "round_start", "agent_done" or
    "round_done"; ``record`` is set on "round_done", ``reply`` on "agent_done"."""

    kind: str
    round: int
    k: int = 0
    store_size: int = 0
    agent: str | None = None
    reply: Reply | None = None
    record: RoundRecord | None = None
    arrays: RoundArrays | None = None  # on "round_done": embeddings, owners, MDS coordinates


def retrieve(visible: Sequence[str], k: int, seed: int, t: int, agent: int) -> list[str]:
    """k ids drawn uniformly without replacement, in random order, from the stream (seed, round, agent)."""
    rng = stream(seed, RETRIEVAL, t, agent)
    return [visible[j] for j in rng.choice(len(visible), size=k, replace=False)]


def sampling_seed(seed: int, t: int, agent: int) -> int:
    """Base seed of agent i's samples in round t; sample l uses base + l."""
    return int(stream(seed, SAMPLING, t, agent).integers(0, SEED_SPAN))


class Simulation:
    """Algorithm 1 over a store and a run folder. ``run()`` continues from the first uncommitted round."""

    def __init__(
        self,
        *,
        agents: list[Agent],
        embedder,
        store: PostStore,
        log: RoundLog,
        beta: float,
        samples: int,
        rounds: int,
        seed: int,
        on_event: Callable[[Event], None] | None = None,
    ):
        self.agents, self.embedder, self.store, self.log = agents, embedder, store, log
        self.beta, self.samples, self.rounds, self.seed = beta, samples, rounds, seed
        self.on_event = on_event or (lambda event: None)
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(agents)), thread_name_prefix="lwd-agent")
        self._previous: RoundArrays | None = None  # last round's MDS picture, to align the next one

    def run(self, until: int | None = None, gate: Callable[[int], None] | None = None) -> list[RoundRecord]:
        """Rounds from the first uncommitted one up to ``until`` (default T), each committed as it ends.

        ``gate(t)`` is called before round t: it may block (a paused UI) or raise to stop between rounds.
        """
        last = self.rounds if until is None else min(until, self.rounds)
        start = self.log.next_round()
        if start > 0 and self._previous is None:
            self._previous = self.log.arrays(start - 1)
        records = []
        try:
            for t in range(start, last + 1):
                if gate is not None:
                    gate(t)
                records.append(self.step(t))
            return records
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def step(self, t: int) -> RoundRecord:
        """Round t of Algorithm 1."""
        started = time.perf_counter()
        internet = {p.id: p for p in self.store.posts()}  # A_t
        visible = list(internet)  # in posting order
        k = retrieval_size(self.beta, len(visible))  # k_t = ⌊β·|A_t|⌋
        self.on_event(Event("round_start", t, k, len(visible)))
        picks = [retrieve(visible, k, self.seed, t, i) for i in range(len(self.agents))]  # line 3
        replies = self._answer(t, [[internet[i].text for i in ids] for ids in picks])  # line 4, concurrently
        arrays = self._embed(replies)  # lines 5-6: ϕ of every answer, X_i
        dist = distance_matrix(arrays.means)  # line 8
        posts = self._first_answers(t, replies, picks, len(visible))  # line 9
        record = RoundRecord(
            round=t,
            store_size=len(visible),
            synthetic=sum(p.synthetic for p in internet.values()),
            k=k,
            frobenius=float(frobenius_norm(np.nan_to_num(dist))),
            distance=tuple(map(tuple, dist.tolist())),
            spreads={
                a.name: float(s)
                for a, s in zip(
                    self.agents, spreads(arrays.embeddings, arrays.owners, arrays.means), strict=True
                )
            },
            agents=tuple(AgentRound.from_reply(r, p) for r, p in zip(replies, picks, strict=True)),
            posts=tuple(posts),
            seconds=time.perf_counter() - started,
        )
        self.log.commit(record, arrays)  # the round is done: durable before the Internet changes
        self.store.add(posts, arrays.embeddings[posted_rows(record, arrays)])  # A_{t+1} = A_t ∪ {answers}
        self._previous = arrays
        self.on_event(Event("round_done", t, k, len(visible), record=record, arrays=arrays))
        return record

    # -- the steps -------------------------------------------------------------------------------------------

    def _answer(self, t: int, reads: list[list[str]]) -> list[Reply]:
        def one(i: int) -> Reply:
            reply = self.agents[i].reply(reads[i], self.samples, sampling_seed(self.seed, t, i))
            self.on_event(Event("agent_done", t, agent=self.agents[i].name, reply=reply))
            return reply

        return list(self.pool.map(one, range(len(self.agents))))

    def _embed(self, replies: list[Reply]) -> RoundArrays:
        rows = [(i, r.sample, r.clean) for i, reply in enumerate(replies) for r in reply.valid]
        owners = np.array([i for i, _, _ in rows], dtype=np.int64)
        samples = np.array([s for _, s, _ in rows], dtype=np.int64)
        vectors = self.embedder.embed([text for _, _, text in rows])
        means = agent_means(vectors, owners, len(replies))
        coords = classical_mds(vectors) if len(rows) else np.zeros((0, 2))
        previous = self._previous
        coords = align_to(
            coords, owners, previous.coords if previous else None, previous.owners if previous else None
        )
        return RoundArrays(vectors.astype(np.float32), owners, samples, coords, means)

    def _first_answers(self, t: int, replies: list[Reply], picks: list[list[str]], size: int) -> list[Post]:
        posts = []
        for reply, read in zip(replies, picks, strict=True):
            first = next((r for r in reply.responses if not r.failed), None)
            if first is not None:  # an agent whose every answer failed posts nothing this round
                posts.append(
                    Post(
                        f"r{t:04d}-{reply.agent}",
                        first.clean,
                        reply.agent,
                        t,
                        True,
                        tuple(read),
                        size + len(posts),
                    )
                )
        return posts
