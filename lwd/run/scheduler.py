"""Algorithm 1 of the paper: synthetic conversations on the Internet.

Each round t (``Simulation.step``): every agent draws k_t = ⌊β·|A_t|⌋ posts uniformly without replacement
from A_t and answers the query L times (agents that wait on a server or native code run concurrently on
threads; pure-Python agents one after another, or over the cores past a few hundred: :mod:`lwd.run.spread`);
the answers are embedded; X_i is the mean of agent i's embeddings, D_ij = ‖X_i − X_j‖₂ and ‖D‖_F is recorded;
each agent posts its first answer, so A_{t+1} = A_t ∪ {(f_1)_1, …, (f_n)_1}. The round is committed to the
run folder before its posts join the store, and nothing about round t depends on how earlier rounds were
scheduled: retrieval and sampling seeds come from (run seed, round, agent[, sample]) alone, so a resumed run
continues exactly as an uninterrupted one.

Beyond the paper: A_t is what the data regime keeps (:class:`lwd.internet.regimes.Ledger`), agent i reads
only the posts its topology lets it see, with its own β; fresh human posts join after each round's answers.
The defaults (complete, accumulate, one β) are Algorithm 1 exactly.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from lwd.agents.records import Reply
from lwd.core.seeding import RETRIEVAL, SAMPLING, stream
from lwd.internet.regimes import HUMAN, InternetConfig, Ledger, reader_groups
from lwd.internet.retrieval import retrieval_size
from lwd.internet.store import Post, PostStore
from lwd.internet.topologies import Wiring
from lwd.metrics import LLM, MetricSettings, RoundData, agent_means, align_to, classical_mds
from lwd.metrics.registry import DENSE_AGENTS, Reference, evaluate, model_groups
from lwd.run.kinds import EventKind
from lwd.run.records import FRESH, AgentRound, RoundArrays, RoundRecord, added_embeddings
from lwd.run.rounds import RoundLog
from lwd.run.spread import spread, workers

if TYPE_CHECKING:
    from lwd.agents.agent import Agent  # LangChain: only present when an LLM run is built

__all__ = ["Simulation", "Event", "EventKind", "Phases", "RunStopped", "retrieve", "sampling_seed"]

T = TypeVar("T")
# agents whose requests the scheduler keeps in flight at once (each endpoint's own limit applies beneath): a
# thread per agent of a thousand-agent network cost more in thread starts and switches than its agents' work
IN_FLIGHT = 64
SEED_SPAN = 2**31  # llama.cpp seeds are 32-bit; sample l and its regenerations add small offsets to the base


class Phases:
    """Seconds a round spends in each of its steps — retrieval, answers, embedding, mds, metrics, commit, store —
    reported with ROUND_DONE (``Event.seconds``) for benchmarks and progress displays."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


class RunStopped(Exception):
    """Not an error: the run was stopped by its interface — between rounds (its gate raises this), or during
    a round (``Simulation.cancel``; that round is not committed and a resume redoes it)."""


@dataclass(frozen=True)
class Event:
    """Progress of a run, for progress bars and the TUI; ``record`` and ``arrays`` are set on ROUND_DONE,
    ``reply`` on AGENT_DONE."""

    kind: EventKind
    round: int
    k: int = 0
    store_size: int = 0
    agent: str | None = None
    reply: Reply | None = None
    record: RoundRecord | None = None
    arrays: RoundArrays | None = None  # on "round_done": embeddings, owners, MDS coordinates
    seconds: dict[str, float] | None = None  # on "round_done": the round's seconds in each phase (Phases)


def retrieve(visible: Sequence[T], k: int, seed: int, t: int, agent: int) -> list[T]:
    """k of ``visible`` drawn uniformly without replacement, in random order, from the stream (seed, round,
    agent). Only the k drawn are looked at: ``visible`` may be a pool of post indices of any size."""
    return [visible[j] for j in _drawn(len(visible), k, seed, t, agent)]


def _drawn(size: int, k: int, seed: int, t: int, agent: int) -> np.ndarray:
    """The positions :func:`retrieve` takes, as one array."""
    return stream(seed, RETRIEVAL, t, agent).choice(size, size=k, replace=False)


class Reading(Sequence[str]):
    """The texts of the posts an agent drew, in the order drawn, looked up only when read: an agent whose
    context holds a handful of a large draw reads a handful (:meth:`lwd.agents.agent.Agent.fit`)."""

    def __init__(self, seqs: np.ndarray, posts: Sequence[Post], texts: Sequence[str]):
        self.seqs, self._posts, self._all = seqs, posts, texts  # every post, and its text (index = seq)
        self._texts: list[str] = []  # the first texts, looked up once

    def __len__(self) -> int:
        return len(self.seqs)

    def __iter__(self) -> Iterator[str]:  # a backend that does not count tokens reads every post drawn
        return iter(self[:])

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            end = len(self.seqs) if index.stop is None else min(index.stop, len(self.seqs))
            if index.start in (None, 0) and index.step in (None, 1) and end >= 0:
                self._texts += map(self._all.__getitem__, self.seqs[len(self._texts) : end].tolist())
                return self._texts[:end]
            return list(map(self._all.__getitem__, self.seqs[index].tolist()))
        return self._all[int(self.seqs[index])]

    def ids(self, m: int) -> list[str]:
        """The ids of the first m posts drawn (those the agent read)."""
        return [self._posts[j].id for j in self.seqs[:m].tolist()]


def sampling_seed(seed: int, t: int, agent: int) -> int:
    """Base seed of agent i's samples in round t; sample l uses base + l."""
    return int(stream(seed, SAMPLING, t, agent).integers(0, SEED_SPAN))


class Simulation:
    """Algorithm 1 over a store and a run folder. ``run()`` continues from the first uncommitted round."""

    def __init__(
        self,
        *,
        agents: list[Agent],
        embedder: Any,
        store: PostStore,
        log: RoundLog,
        beta: float | Sequence[float],
        samples: int,
        rounds: int,
        seed: int,
        on_event: Callable[[Event], None] | None = None,
        wiring: Wiring | None = None,
        internet: InternetConfig | None = None,
        fresh_texts: Sequence[str] = (),
        settings: MetricSettings | None = None,
        processes: int | None = None,
    ):
        self.agents, self.embedder, self.store, self.log = agents, embedder, store, log
        self.samples, self.rounds, self.seed = samples, rounds, seed
        n = len(agents)
        self.betas = tuple(beta) if isinstance(beta, Sequence) else (beta,) * n
        self.reads = wiring.reads if wiring else np.ones((n, n), dtype=bool)
        self.humans_visible = wiring.humans if wiring else True
        self.readers = reader_groups(self.reads)  # agents who read the same authors share one pool
        self.communities = wiring.communities if wiring else {}
        self.models = model_groups([a.describe for a in agents])
        self.names = tuple(a.name for a in agents)
        self.internet = internet or InternetConfig()
        self.fresh_texts = tuple(fresh_texts)
        self.settings = settings or MetricSettings()
        self.processes = processes  # pure-Python agents' worker processes (None: lwd.run.spread decides)
        self.index = {a.name: i for i, a in enumerate(agents)}
        self.ledger: Ledger | None = None
        self._posts: list[Post] = []  # every post ever made (index = seq), filled when run() starts
        self._texts: list[str] = []  # their texts (what agents read, looked up without a Post in between)
        self.on_event = on_event or (lambda event: None)
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, min(len(agents), IN_FLIGHT)), thread_name_prefix="lwd-agent"
        )
        self._previous: RoundArrays | None = None  # last round's MDS picture, to align the next one
        self._reference: Reference | None = None  # the answers the change tests compare with (round s)
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Stop: the round in flight is abandoned before it is committed (``step`` raises RunStopped),
        so a resume redoes it exactly; the LLM calls it is waiting for are not waited for by the caller."""
        self._cancelled.set()

    def run(self, until: int | None = None, gate: Callable[[int], None] | None = None) -> int:
        """Rounds from the first uncommitted one up to ``until`` (default T), each committed as it ends; the
        number of rounds run. Nothing of a finished round is kept here (its record is in the run folder and
        in its ROUND_DONE event): a large network's rounds would otherwise pile up in memory.

        ``gate(t)`` is called before round t: it may block (a paused UI) or raise to stop between rounds.
        """
        last = self.rounds if until is None else min(until, self.rounds)
        start = self.log.next_round()
        if start > 0 and self._previous is None:
            self._previous = self.log.arrays(start - 1)
        reference = self.settings.reference
        if start > reference and self._reference is None:
            kept = self.log.arrays(
                reference
            )  # saved as computed (float32): a resumed run tests what a whole one did
            self._reference = Reference(reference, kept.embeddings, kept.owners)
        if self.ledger is None:
            # every post ever made, in posting order (index = seq): read from the store once, then kept in
            # step with it (reading it back every round made a round's cost grow with the whole history)
            self._posts = posts = self.store.posts()
            self._texts = [p.text for p in posts]
            self.ledger = Ledger.replay(
                self.internet,
                self.seed,
                [self.index.get(p.author, HUMAN) for p in posts],
                [p.round for p in posts],
                start,
            )
        try:
            for t in range(start, last + 1):
                if gate is not None:
                    gate(t)
                self.step(t)
            return max(0, last + 1 - start)
        finally:  # a cancelled run does not wait for the calls in flight
            self.pool.shutdown(wait=not self._cancelled.is_set(), cancel_futures=True)

    def step(self, t: int) -> RoundRecord:
        """Round t of Algorithm 1."""
        started, phase = time.perf_counter(), Phases()
        with phase("retrieval"):
            live = self.ledger.live()  # A_t
            pools = self.ledger.visible(self.reads, self.humans_visible, self.readers)  # what each may read
            ks = [retrieval_size(b, len(pool)) for b, pool in zip(self.betas, pools, strict=True)]  # k_t
        self.on_event(Event(EventKind.ROUND_START, t, max(ks), len(live)))
        with phase("retrieval"):
            reads = [  # line 3: k_t drawn, looked up only as far as the agent reads
                Reading(pool[_drawn(len(pool), k, self.seed, t, i)], self._posts, self._texts)
                for i, (pool, k) in enumerate(zip(pools, ks, strict=True))
            ]
        with phase("answers"):
            replies = self._answer(t, reads)  # line 4, concurrently
        with phase("retrieval"):
            picks = [
                read.ids(reply.k_used) for read, reply in zip(reads, replies, strict=True)
            ]  # what was read
        with phase("embedding"):
            arrays = self._embed(replies)  # lines 5-6: ϕ of every answer, X_i
        with phase("mds"):
            arrays.coords = self._picture(arrays)
        with phase("metrics"):
            data, metrics, distance = self._measure(t, replies, arrays)  # line 8: ‖D‖_F and every metric
        with phase("embedding"):
            posts = self._first_answers(t, replies, picks, len(self.ledger))  # line 9
            posts += self._fresh_embedded(t, len(self.ledger) + len(posts), arrays)
        record = RoundRecord(
            round=t,
            store_size=len(live),
            synthetic=self.ledger.synthetic_live(),
            k=max(ks),
            distance=distance,
            metrics=metrics,
            agents=tuple(
                AgentRound.from_reply(r, p, k=k, visible=len(pool))
                for r, p, k, pool in zip(replies, picks, ks, pools, strict=True)
            ),
            posts=tuple(posts),
            seconds=time.perf_counter() - started,
            per_agent={f: tuple(v.tolist()) for f, v in data.per_agent.items()},
        )
        if self._cancelled.is_set():
            raise RunStopped(f"stopped during round {t}; it was not committed")
        self._publish(t, record, arrays, phase)
        done = {"record": record, "arrays": arrays, "seconds": dict(phase.seconds)}
        self.on_event(Event(EventKind.ROUND_DONE, t, max(ks), len(live), **done))
        return record

    def _measure(self, t: int, replies: list[Reply], arrays: RoundArrays) -> tuple[RoundData, dict, tuple]:
        """Every registered metric of round t, and D itself (in the record of a small network only)."""
        data = RoundData(
            names=self.names,
            communities=self.communities,
            models=self.models,
            means=arrays.means,
            round=t,
            seed=self.seed,
            settings=self.settings,
            embeddings=arrays.embeddings,
            owners=arrays.owners,
            texts=tuple(r.clean for reply in replies for r in reply.valid),
            reference=self._reference,
        )
        metrics = evaluate(data, LLM)
        arrays.extra.update(data.arrays)  # matrices the metrics keep (energy distances of a large network)
        dense = len(self.names) <= DENSE_AGENTS
        return data, metrics, tuple(map(tuple, data.distance.tolist())) if dense else ()

    def _fresh_embedded(self, t: int, first_id: int, arrays: RoundArrays) -> list[Post]:
        """The round's fresh human posts (the data regime's), their embeddings kept in the round's arrays."""
        fresh = self._fresh(t, first_id)
        if fresh:
            arrays.extra[FRESH] = self.embedder.embed([p.text for p in fresh]).astype(np.float32)
        return fresh

    def _publish(self, t: int, record: RoundRecord, arrays: RoundArrays, phase: Phases) -> None:
        """The round committed (durable before the Internet changes), then its posts on the Internet."""
        with phase("commit"):
            self.log.commit(record, arrays)
        with phase("store"):
            self.store.add(  # A_{t+1} = A_t ∪ {answers}; a large network's read lists are in reads.csv
                record.posts, added_embeddings(record, arrays), len(self.agents) <= DENSE_AGENTS
            )
            self._posts.extend(record.posts)
            self._texts.extend(p.text for p in record.posts)
            self.ledger.add([self.index.get(p.author, HUMAN) for p in record.posts], t)
            self.ledger.advance()
        self._previous = arrays
        if t == self.settings.reference:
            self._reference = Reference(t, arrays.embeddings, arrays.owners)

    # -- the steps -------------------------------------------------------------------------------------------

    def _answer(self, t: int, reads: Sequence[Sequence[str]]) -> list[Reply]:
        def reply(i: int) -> Reply:
            return self.agents[i].reply(reads[i], self.samples, sampling_seed(self.seed, t, i))

        def one(i: int) -> Reply:
            return self._done(t, i, reply(i))

        n = len(self.agents)
        if any(agent.model.waits for agent in self.agents):
            return list(self.pool.map(one, range(n)))
        # pure Python: threads would only slow them; one after another here, or over the cores (lwd.run.spread)
        processes = workers(n, self.processes)
        replies: list[Reply] = []
        answers = spread(reply, n, processes) if processes > 1 else (reply(i) for i in range(n))
        with contextlib.closing(answers) as source:
            for i in range(n):
                if self._cancelled.is_set():
                    raise RunStopped(f"stopped during round {t}; it was not committed")
                replies.append(self._done(t, i, next(source)))
        return replies

    def _done(self, t: int, i: int, reply: Reply) -> Reply:
        self.on_event(Event(EventKind.AGENT_DONE, t, agent=self.agents[i].name, reply=reply))
        return reply

    def _embed(self, replies: list[Reply]) -> RoundArrays:
        """ϕ of every valid answer and X_i; the MDS coordinates are filled in by :meth:`_picture`."""
        rows = [(i, r.sample, r.clean) for i, reply in enumerate(replies) for r in reply.valid]
        owners = np.array([i for i, _, _ in rows], dtype=np.int64)
        samples = np.array([s for _, s, _ in rows], dtype=np.int64)
        vectors = self.embedder.embed([text for _, _, text in rows])
        means = agent_means(vectors, owners, len(replies))
        return RoundArrays(vectors.astype(np.float32), owners, samples, np.zeros((len(rows), 2)), means)

    def _picture(self, arrays: RoundArrays) -> np.ndarray:
        """Classical MDS of every answer (PCA of the centred embeddings), aligned to the previous round's."""
        if not len(arrays.owners):
            return np.zeros((0, 2))
        previous = self._previous
        return align_to(
            classical_mds(arrays.embeddings),
            arrays.owners,
            previous.coords if previous else None,
            previous.owners if previous else None,
        )

    def _fresh(self, t: int, seq: int) -> list[Post]:
        """The fresh human posts that join after round t: the next ``fresh_per_round`` of the fresh corpus."""
        m = self.internet.fresh_per_round
        return [
            Post(f"f{t:04d}-{j:03d}", self.fresh_texts[t * m + j], "human", t, False, (), seq + j)
            for j in range(m)
        ]

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
