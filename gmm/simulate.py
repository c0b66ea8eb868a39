"""Algorithm 3, fast: all replicates and models of the GMM network advance together, round by round.

Per round t = 0..T (Algorithm 3): record ‖D⁽ᵗ⁾‖_F from the current weights; every model generates L points
from its current weights; every model draws its own k_t = ⌊β·|A_t|⌋ points uniformly without replacement from
A_t and updates its weights with them (Algorithm 2, :mod:`lwd.gmm.kernel`); only then do the new points join A.
Each replicate has its own Generator (``lwd.core.seeding.stream(seed, r)``) and consumes it exactly as the literal
:func:`lwd.gmm.reference.simulate_reference` does (see :mod:`lwd.gmm.draws`), so both agree to rounding.

The same network vocabulary as the LLM mode: a topology (model i reads the points of the models it reads, and
the human points), a data regime (:class:`lwd.internet.regimes.Ledger` decides which points are in A_t; fresh
human points are drawn from the human mixture after a round's other draws) and a β per model. Which points are
live is the same for all replicates (it depends on who posted when, not on the points' values); the defaults —
complete, accumulate, one β — are the paper's Algorithm 3 exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cholesky
from threadpoolctl import threadpool_limits

from lwd.core.seeding import stream
from lwd.gmm.config import GMMConfig
from lwd.gmm.draws import choose_components, mixture_points
from lwd.gmm.kernel import fill_from_pools, likelihood_table, update_many
from lwd.internet.regimes import HUMAN, InternetConfig, Ledger
from lwd.internet.retrieval import retrieval_size
from lwd.metrics import pairwise_norm

__all__ = ["GMMRun", "RoundCallback", "simulate", "memory_estimate"]

RoundCallback = Callable[[int, np.ndarray, int, int], None]


@dataclass(frozen=True)
class GMMRun:
    """What a GMM simulation produced. R replicates, rounds 0..T, n models, B components, d dimensions."""

    frobenius: np.ndarray  # (R, T+1): ‖D⁽ᵗ⁾‖_F at the start of round t
    weights: np.ndarray  # (R, T+1, n, B): Π_i⁽ᵗ⁾ at the start of round t
    final_weights: np.ndarray  # (R, n, B): Π_i⁽ᵀ⁺¹⁾, after the last round's update
    store_size: np.ndarray  # (T+1,): |A_t|
    visible: np.ndarray  # (T+1, n): the points of A_t model i may read (|A_t| on the complete network)
    k: np.ndarray  # (T+1, n): k_t of model i = ⌊β_i·visible⌋
    alpha: np.ndarray  # (T+1, n): α_t of model i (NaN where k = 0: no update)
    c: np.ndarray  # (T+1, n): c_{t,B} of model i (NaN where k = 0)
    means: np.ndarray  # (B, d)
    cov: np.ndarray  # (d, d)
    seed: int

    @property
    def rounds(self) -> int:
        return self.frobenius.shape[1] - 1


def simulate(
    config: GMMConfig,
    n: int,
    beta: float | Sequence[float],
    samples: int,
    rounds: int,
    replicates: int = 1,
    seed: int = 0,
    on_round: RoundCallback | None = None,
    *,
    reads: np.ndarray | None = None,
    humans_visible: bool = True,
    internet: InternetConfig | None = None,
) -> GMMRun:
    """Run Algorithm 3 for ``replicates`` independent replicates of an n-model network.

    ``beta``: one β or one per model; ``reads[i, j]``: model i reads model j's points (default: all, the
    complete network); ``humans_visible``: every model reads the human points; ``internet``: the data regime.
    ``on_round(t, frobenius_t (R,), max_i k_t, |A_t|)`` is called after each round's update (for progress bars).
    """
    betas = np.broadcast_to(np.asarray(beta, dtype=float), (n,))
    reads = np.ones((n, n), dtype=bool) if reads is None else np.asarray(reads, dtype=bool)
    if reads.shape != (n, n):
        raise ValueError(f"expected reads of shape ({n}, {n}), got {reads.shape}")
    # The BLAS calls here are tiny; OpenBLAS's spinning worker threads would fight numba's for the cores
    # (measured: 140x slower on 2 cores), so BLAS runs single-threaded while we simulate.
    with threadpool_limits(limits=1, user_api="blas"):
        return _Simulation(
            config,
            n,
            betas,
            samples,
            rounds,
            replicates,
            seed,
            reads,
            humans_visible,
            internet or InternetConfig(),
        ).run(on_round)


class _Simulation:
    def __init__(self, config, n, betas, samples, rounds, replicates, seed, reads, humans_visible, internet):
        self.config, self.n, self.betas, self.samples, self.rounds = config, n, betas, samples, rounds
        self.replicates, self.seed, self.reads, self.humans_visible = replicates, seed, reads, humans_visible
        self.internet = internet

    def run(self, on_round: RoundCallback | None) -> GMMRun:
        """Algorithm 3: line 1 once, then each round t: ‖D‖_F, each model's L points (and the fresh human
        ones), the k_t points each reads, the update (Algorithm 2), and the new points join A."""
        self._start()
        for t in range(self.rounds + 1):
            self.history[:, t] = self.weights
            self.frob[:, t] = pairwise_norm(self.weights)  # line 3: ‖D‖_F, without D (O(n·B))
            pools = self.ledger.visible(self.reads, self.humans_visible)  # A_t as each model sees it
            self.sizes[t] = len(self.ledger.live())
            self.visible[t] = [len(p) for p in pools]
            self.ks[t] = [retrieval_size(b, v) for b, v in zip(self.betas, self.visible[t], strict=True)]
            positions, new_tables = self._draw(t, pools)
            if positions.shape[-1]:
                self._update(t, positions)  # line 7
            self._grow(new_tables)  # line 9: the new points join A after all updates
            self.ledger.add(self.new_authors, t)
            self.ledger.advance()
            if on_round is not None:
                on_round(t, self.frob[:, t], int(self.ks[t].max()), int(self.sizes[t]))
        return GMMRun(
            frobenius=self.frob,
            weights=self.history,
            final_weights=self.weights.copy(),
            store_size=self.sizes,
            visible=self.visible,
            k=self.ks,
            alpha=self.alphas,
            c=self.cs,
            means=self.means,
            cov=self.cov,
            seed=self.seed,
        )

    def _start(self) -> None:
        """Line 1: each replicate's initial weights and human points, and the tables every round fills."""
        config, n, samples, rounds, replicates = (
            self.config,
            self.n,
            self.samples,
            self.rounds,
            self.replicates,
        )
        self.means, self.cov = config.means_array(), config.covariance_matrix()
        self.chol = cholesky(self.cov, lower=True)
        n_comp, dim = self.means.shape
        human, self.fresh = config.human.points, self.internet.fresh_per_round
        capacity = human + (n * samples + self.fresh) * (rounds + 1)
        self.scaled = np.empty((replicates, capacity, n_comp))
        self.log_density = np.empty((replicates, capacity, n_comp))
        self.weights = np.empty((replicates, n, n_comp))
        self.rngs = [stream(self.seed, r) for r in range(replicates)]
        for r, rng in enumerate(self.rngs):
            self.weights[r] = config.initial_weights(n, rng.dirichlet(config.dirichlet_vector(), size=n))
            comps = choose_components(config.human_weights(), rng.random(human))
            points = mixture_points(comps, rng.standard_normal((human, dim)), self.means, self.chol)
            self.scaled[r, :human], self.log_density[r, :human] = likelihood_table(
                points, self.means, self.cov
            )
        self.ledger = Ledger(self.internet, self.seed, human)
        self.frob = np.empty((replicates, rounds + 1))
        self.history = np.empty((replicates, rounds + 1, n, n_comp))
        self.sizes = np.empty(rounds + 1, dtype=np.int64)
        self.visible = np.empty((rounds + 1, n), dtype=np.int64)
        self.ks = np.empty((rounds + 1, n), dtype=np.int64)
        self.alphas, self.cs = np.full((rounds + 1, n), np.nan), np.full((rounds + 1, n), np.nan)
        self.new_authors = np.concatenate([np.repeat(np.arange(n), samples), np.full(self.fresh, HUMAN)])
        self.size = human  # points in the tables

    def _draw(self, t: int, pools: list[np.ndarray]) -> tuple[np.ndarray, list]:
        """Lines 5–6, each replicate from its own stream: each model's L points (from its weights before this
        round's update) and the fresh human points, as likelihood tables; the positions each model reads."""
        n, samples, dim = self.n, self.samples, self.means.shape[1]
        k_max = int(self.ks[t].max())
        pool_values, pool_start = _concat_pools(pools)
        positions = np.zeros((self.replicates, n, k_max), dtype=np.int64)
        new_tables = []
        for r, rng in enumerate(self.rngs):
            u_gen, noise = rng.random((n, samples)), rng.standard_normal((n, samples, dim))
            u_pick = rng.random((n, k_max))
            comps = choose_components(self.weights[r], u_gen)
            points = mixture_points(comps, noise, self.means, self.chol).reshape(-1, dim)
            if self.fresh:  # fresh human points, after the round's other draws
                human_comps = choose_components(self.config.human_weights(), rng.random(self.fresh))
                fresh = mixture_points(
                    human_comps, rng.standard_normal((self.fresh, dim)), self.means, self.chol
                )
                points = np.vstack([points, fresh])
            new_tables.append(likelihood_table(points, self.means, self.cov))
            if k_max:
                fill_from_pools(u_pick, pool_values, pool_start, self.visible[t], self.ks[t], positions[r])
        return positions, new_tables

    def _update(self, t: int, positions: np.ndarray) -> None:
        """Line 7: Algorithm 2 for every model of every replicate at once (the kernel updates in place)."""
        config, reading = self.config, self.ks[t] > 0
        self.alphas[t, reading] = [config.alpha_at(int(k)) for k in self.ks[t, reading]]
        self.cs[t, reading] = [config.c_at(int(k)) for k in self.ks[t, reading]]
        m, n_comp = self.replicates * self.n, self.weights.shape[2]
        update_many(
            self.weights.reshape(m, n_comp),  # a view: the kernel updates `weights` in place
            np.repeat(np.arange(self.replicates), self.n),
            positions.reshape(m, -1),
            np.tile(self.ks[t], self.replicates),
            self.scaled,
            self.log_density,
            np.tile(np.nan_to_num(self.alphas[t]), self.replicates),
            np.tile(np.nan_to_num(self.cs[t]), self.replicates),
            float(config.epsilon),
            bool(config.renormalize),
        )

    def _grow(self, new_tables: list) -> None:
        """Line 9: this round's points join each replicate's tables."""
        added = self.n * self.samples + self.fresh
        for r, (new_scaled, new_log) in enumerate(new_tables):
            self.scaled[r, self.size : self.size + added] = new_scaled
            self.log_density[r, self.size : self.size + added] = new_log
        self.size += added


def memory_estimate(
    config: GMMConfig,
    n: int,
    beta: float | Sequence[float],
    samples: int,
    rounds: int,
    replicates: int = 1,
    internet: InternetConfig | None = None,
) -> int:
    """Bytes the largest arrays of :func:`simulate` hold at once, an upper bound: the points' likelihood tables
    (every point ever drawn, for every replicate), the history of weights, the who-reads-whom matrix, the
    positions of the points each model draws in the last round."""
    internet = internet or InternetConfig()
    b, d, fresh = config.components, config.dim, internet.fresh_per_round
    capacity = config.human.points + (n * samples + fresh) * (rounds + 1)
    kept = rounds if internet.keeps is None else min(rounds, internet.keeps)
    live = config.human.points + fresh * rounds + n * samples * kept
    if internet.cap is not None:
        live = min(live, internet.cap)
    k_max = int(max(np.atleast_1d(np.asarray(beta, dtype=float))) * live)
    floats = (
        2 * replicates * capacity * b  # scaled and log-density tables
        + replicates * (rounds + 1) * n * b  # the weights' history
        + replicates * n * k_max  # positions drawn in a round (int64)
        + replicates * n * samples * d * 2  # a round's new points and their noise
    )
    return 8 * floats + n * n  # + reads (bool)


def _concat_pools(pools: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One array holding every distinct pool, and where each model's pool starts (shared pools once)."""
    starts, chunks, seen, offset = [], [], {}, 0
    for pool in pools:
        if id(pool) not in seen:
            seen[id(pool)] = offset
            chunks.append(pool)
            offset += len(pool)
        starts.append(seen[id(pool)])
    values = np.concatenate(chunks).astype(np.int64) if chunks else np.zeros(0, dtype=np.int64)
    return values, np.array(starts, dtype=np.int64)
