"""Algorithm 3, fast: all replicates and models of the GMM network advance together, round by round.

Per round t = 0..T (Algorithm 3): record ‖D⁽ᵗ⁾‖_F from the current weights; every model generates L points
from its current weights; every model draws its own k_t = ⌊β·|A_t|⌋ points uniformly without replacement from
A_t and updates its weights with them (Algorithm 2, :mod:`lwd.gmm.kernel`); only then do the new points join A.
Each replicate has its own Generator (``lwd.seeding.stream(seed, r)``) and consumes it exactly as the literal
:func:`lwd.gmm.reference.simulate_reference` does (see :mod:`lwd.gmm.draws`), so both agree to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cholesky
from threadpoolctl import threadpool_limits

from lwd.gmm.config import GMMConfig
from lwd.gmm.draws import choose_components, mixture_points
from lwd.gmm.kernel import fill_positions, likelihood_table, update_many
from lwd.internet.retrieval import retrieval_size
from lwd.metrics import distance_matrix, frobenius_norm
from lwd.seeding import stream

__all__ = ["GMMRun", "RoundCallback", "simulate"]

RoundCallback = Callable[[int, np.ndarray, int, int], None]


@dataclass(frozen=True)
class GMMRun:
    """What a GMM simulation produced. R replicates, rounds 0..T, n models, B components, d dimensions."""

    frobenius: np.ndarray  # (R, T+1): ‖D⁽ᵗ⁾‖_F at the start of round t
    weights: np.ndarray  # (R, T+1, n, B): Π_i⁽ᵗ⁾ at the start of round t
    final_weights: np.ndarray  # (R, n, B): Π_i⁽ᵀ⁺¹⁾, after the last round's update
    store_size: np.ndarray  # (T+1,): |A_t|
    k: np.ndarray  # (T+1,): k_t = ⌊β·|A_t|⌋
    alpha: np.ndarray  # (T+1,): α_t (NaN where k_t = 0: no update)
    c: np.ndarray  # (T+1,): c_{t,B} (NaN where k_t = 0)
    means: np.ndarray  # (B, d)
    cov: np.ndarray  # (d, d)
    seed: int

    @property
    def rounds(self) -> int:
        return self.frobenius.shape[1] - 1


def simulate(
    config: GMMConfig,
    n: int,
    beta: float,
    samples: int,
    rounds: int,
    replicates: int = 1,
    seed: int = 0,
    on_round: RoundCallback | None = None,
) -> GMMRun:
    """Run Algorithm 3 for ``replicates`` independent replicates of an n-model network.

    ``on_round(t, frobenius_t (R,), k_t, |A_t|)`` is called after each round's update (for progress bars).
    """
    # The BLAS calls here are tiny; OpenBLAS's spinning worker threads would fight numba's for the cores
    # (measured: 140x slower on 2 cores), so BLAS runs single-threaded while we simulate.
    with threadpool_limits(limits=1, user_api="blas"):
        return _simulate(config, n, beta, samples, rounds, replicates, seed, on_round)


def _simulate(
    config: GMMConfig,
    n: int,
    beta: float,
    samples: int,
    rounds: int,
    replicates: int,
    seed: int,
    on_round: RoundCallback | None,
) -> GMMRun:
    means, cov = config.means_array(), config.covariance_matrix()
    chol = cholesky(cov, lower=True)
    n_comp, dim = means.shape
    human = config.human.points
    capacity = human + n * samples * (rounds + 1)
    scaled = np.empty((replicates, capacity, n_comp))
    log_density = np.empty((replicates, capacity, n_comp))
    weights = np.empty((replicates, n, n_comp))
    rngs = [stream(seed, r) for r in range(replicates)]
    for r, rng in enumerate(rngs):  # Algorithm 3, line 1
        weights[r] = rng.dirichlet(config.dirichlet_vector(), size=n)
        comps = choose_components(config.human_weights(), rng.random(human))
        points = mixture_points(comps, rng.standard_normal((human, dim)), means, chol)
        scaled[r, :human], log_density[r, :human] = likelihood_table(points, means, cov)

    frob = np.empty((replicates, rounds + 1))
    history = np.empty((replicates, rounds + 1, n, n_comp))
    sizes, ks = np.empty(rounds + 1, dtype=np.int64), np.empty(rounds + 1, dtype=np.int64)
    alphas, cs = np.full(rounds + 1, np.nan), np.full(rounds + 1, np.nan)
    table_of = np.repeat(np.arange(replicates), n)
    flat_weights = weights.reshape(replicates * n, n_comp)  # a view: the kernel updates `weights` in place
    size = human
    for t in range(rounds + 1):
        history[:, t] = weights
        frob[:, t] = frobenius_norm(distance_matrix(weights))  # line 3
        k = retrieval_size(beta, size)
        sizes[t], ks[t] = size, k
        positions = np.empty((replicates, n, k), dtype=np.int64)
        new_tables = []
        for r, rng in enumerate(rngs):
            u_gen, noise = rng.random((n, samples)), rng.standard_normal((n, samples, dim))
            u_pick = rng.random((n, k))
            # line 5: each model's L points, from its weights before this round's update
            comps = choose_components(weights[r], u_gen)
            points = mixture_points(comps, noise, means, chol).reshape(-1, dim)
            new_tables.append(likelihood_table(points, means, cov))
            if k:
                fill_positions(u_pick, size, positions[r])  # line 6
        if k:  # line 7
            alphas[t], cs[t] = config.alpha_at(k), config.c_at(k)
            m = replicates * n
            update_many(
                flat_weights,
                table_of,
                positions.reshape(m, k),
                np.full(m, k),
                scaled,
                log_density,
                np.full(m, alphas[t]),
                np.full(m, cs[t]),
                float(config.epsilon),
                bool(config.renormalize),
            )
        for r, (new_scaled, new_log) in enumerate(new_tables):  # line 9: new points join A after all updates
            scaled[r, size : size + n * samples] = new_scaled
            log_density[r, size : size + n * samples] = new_log
        size += n * samples
        if on_round is not None:
            on_round(t, frob[:, t], k, int(sizes[t]))
    return GMMRun(
        frobenius=frob,
        weights=history,
        final_weights=weights.copy(),
        store_size=sizes,
        k=ks,
        alpha=alphas,
        c=cs,
        means=means,
        cov=cov,
        seed=seed,
    )
