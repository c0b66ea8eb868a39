"""Algorithm 2, compiled and batched: many models (and replicates) updated in parallel.

A point's component densities N(u; μ_b, Σ) never change, so they are computed once, when the point joins the
Internet, and stored as a table (:func:`likelihood_table`). The sequential loop over a model's k points (the
dependency that Algorithm 2 keeps) then does only B-length arithmetic per point, compiled with numba; models are
independent and run in parallel (``prange``) when a call holds enough work to pay for it: each kernel is
compiled twice, and a call with fewer than :data:`PARALLEL_WORK` point updates (or pool entries) runs the serial
one. On a busy machine a parallel call's barrier waits for a free core every time: beside 4 busy processes on
2 cores, `simulate` of paper-gmm-b2 × 5 took 0.45–1.16 s parallel against 0.24–0.43 s serial. Large
sweeps of thousands of models still use every core.

Ownership uses the point's densities scaled by their maximum, ℓ̃_b = exp(log N_b − max_b' log N_b'), which are
in (0, 1] with 1 at the nearest component: o_b = π_b ℓ̃_b / Σ π_b' ℓ̃_b' is then free of underflow unless that
component's weight is itself ~0, in which case the ownership is recomputed in log space from the stored log N.
Agreement with the readable :func:`lwd.gmm.reference.update_weights` is tested to 1e-12.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange
from threadpoolctl import threadpool_limits

from lwd.gmm.draws import component_log_density

__all__ = ["likelihood_table", "update_many", "fill_from_pools", "update_weights_fast", "PARALLEL_WORK"]

_TINY = 1e-250  # below this the linear-space denominator may have lost digits to underflow


def likelihood_table(points: np.ndarray, means: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-point component tables. points: (m, d) -> (scaled (m, B), log_density (m, B))."""
    log_density = component_log_density(points, means, cov)
    scaled = np.exp(log_density - log_density.max(axis=1, keepdims=True))
    return scaled, log_density


@njit(cache=True, nogil=True)
def _update_one(
    w, positions, count, scaled, log_density, alpha, c, eps, renormalize, own
):  # pragma: no cover
    n_comp = w.shape[0]
    for j in range(count):
        p = positions[j]
        denom = 0.0
        for b in range(n_comp):
            denom += w[b] * scaled[p, b]
        if denom > _TINY:
            for b in range(n_comp):
                own[b] = w[b] * scaled[p, b] / denom
        else:  # log space: the component nearest to p has (almost) no weight
            top = -np.inf
            for b in range(n_comp):
                own[b] = np.log(w[b]) + log_density[p, b] if w[b] > 0 else -np.inf
                top = max(top, own[b])
            total = 0.0
            for b in range(n_comp):
                own[b] = np.exp(own[b] - top)
                total += own[b]
            for b in range(n_comp):
                own[b] /= total
        for b in range(n_comp):
            w[b] = (1 - alpha) * w[b] + alpha * (own[b] - c) / (1 - n_comp * c)
        corrected = False
        for b in range(n_comp):
            if w[b] <= 0:
                for b2 in range(n_comp):
                    if b2 != b:
                        w[b2] = w[b2] / (1 + eps - w[b])
                w[b] = eps
                corrected = True
        if corrected and renormalize:
            total = 0.0
            for b in range(n_comp):
                total += w[b]
            for b in range(n_comp):
                w[b] = w[b] / total


@njit(cache=True, nogil=True)
def _update_model(
    m, weights, table_of, positions, counts, scaled, log_density, alpha, c, eps, renormalize
):  # pragma: no cover
    """Model m of :func:`update_many`: Algorithm 2 over its counts[m] points, in place."""
    t = table_of[m]
    own = np.empty(weights.shape[1])
    _update_one(
        weights[m], positions[m], counts[m], scaled[t], log_density[t], alpha[m], c[m], eps, renormalize, own
    )


@njit(cache=True)
def _update_serial(weights, table_of, positions, counts, scaled, log_density, alpha, c, eps, renormalize):
    for m in range(weights.shape[0]):  # pragma: no cover
        _update_model(
            m, weights, table_of, positions, counts, scaled, log_density, alpha, c, eps, renormalize
        )


@njit(parallel=True, cache=True)
def _update_parallel(weights, table_of, positions, counts, scaled, log_density, alpha, c, eps, renormalize):
    for m in prange(weights.shape[0]):  # pragma: no cover
        _update_model(
            m, weights, table_of, positions, counts, scaled, log_density, alpha, c, eps, renormalize
        )


@njit(cache=True, nogil=True)
def _fill_model(m, u, pool_values, pool_start, pool_len, counts, out):  # pragma: no cover
    """Model m of :func:`fill_from_pools`: a partial Fisher–Yates shuffle of a copy of its pool."""
    pool = pool_values[pool_start[m] : pool_start[m] + pool_len[m]].copy()
    size = pool_len[m]
    for j in range(counts[m]):
        swap = j + int(u[m, j] * (size - j))
        held = pool[j]
        pool[j] = pool[swap]
        pool[swap] = held
        out[m, j] = pool[j]


@njit(cache=True)
def _fill_serial(u, pool_values, pool_start, pool_len, counts, out):
    for m in range(u.shape[0]):  # pragma: no cover
        _fill_model(m, u, pool_values, pool_start, pool_len, counts, out)


@njit(parallel=True, cache=True)
def _fill_parallel(u, pool_values, pool_start, pool_len, counts, out):
    for m in prange(u.shape[0]):  # pragma: no cover
        _fill_model(m, u, pool_values, pool_start, pool_len, counts, out)


# Point updates (Σ counts · B) or pool entries a call touches from which it goes parallel. Measured on 2 cores
# (bench/bench_gmm.py --threshold): quiet, parallel is ~2× at any size (µs at small ones); beside 4 busy
# processes it is 6–50× slower up to 60,000, break-even near 600,000, and 1.5× faster from 2,000,000
PARALLEL_WORK = 1_000_000


def update_many(
    weights, table_of, positions, counts, scaled, log_density, alpha, c, eps, renormalize
) -> None:
    """Algorithm 2 for M models at once, in place: parallel over the models from :data:`PARALLEL_WORK` point
    updates, serial below.

    weights: (M, B) float64, updated in place; table_of: (M,) int, which likelihood table (replicate) model m
    reads; positions: (M, K) int64, the points each model reads, in order; counts: (M,) how many of its K
    positions model m uses; scaled, log_density: (R, P, B) tables from :func:`likelihood_table`;
    alpha, c: (M,) α_t and c_{t,B} per model; eps: ε; renormalize: see ``update_weights``.
    """
    work = int(counts.sum()) * weights.shape[1]
    kernel = _update_parallel if work >= PARALLEL_WORK else _update_serial
    kernel(weights, table_of, positions, counts, scaled, log_density, alpha, c, eps, renormalize)


def fill_from_pools(u, pool_values, pool_start, pool_len, counts, out) -> None:
    """Compiled :func:`lwd.gmm.draws.sample_positions` for many models, each with its own pool of points:
    parallel over the models from :data:`PARALLEL_WORK` pool entries, serial below.

    Model m draws counts[m] positions uniformly without replacement from
    pool_values[pool_start[m] : pool_start[m] + pool_len[m]] (what its topology and the data regime let it
    read), driven by u[m] (its first counts[m] entries). out: (M, max count), left-filled.
    """
    kernel = _fill_parallel if int(pool_len.sum()) >= PARALLEL_WORK else _fill_serial  # each pool is copied
    kernel(u, pool_values, pool_start, pool_len, counts, out)


def update_weights_fast(
    weights: np.ndarray,
    points: np.ndarray,
    means: np.ndarray,
    cov: np.ndarray,
    alpha: float,
    c: float,
    eps: float,
    *,
    renormalize: bool = True,
) -> np.ndarray:
    """The compiled kernel with the reference's signature, vectorised over models.

    weights: (M, B); points: (M, k, d) — model m reads points[m] in order. Returns the new (M, B) weights.
    """
    with threadpool_limits(limits=1, user_api="blas"):  # see simulate(): BLAS threads fight numba's
        return _update_weights_fast(weights, points, means, cov, alpha, c, eps, renormalize)


def _update_weights_fast(weights, points, means, cov, alpha, c, eps, renormalize) -> np.ndarray:
    weights = np.array(weights, dtype=float, ndmin=2)
    n_models = weights.shape[0]
    points = np.asarray(points, dtype=float).reshape(n_models, -1, np.asarray(means).shape[1])
    k = points.shape[1]
    scaled, log_density = likelihood_table(points.reshape(-1, points.shape[2]), means, cov)
    scaled = scaled.reshape(n_models, k, -1)
    log_density = log_density.reshape(n_models, k, -1)
    positions = np.tile(np.arange(k, dtype=np.int64), (n_models, 1))
    ones = np.ones(n_models)
    update_many(
        weights,
        np.arange(n_models),
        positions,
        np.full(n_models, k),
        scaled,
        log_density,
        alpha * ones,
        c * ones,
        float(eps),
        bool(renormalize),
    )
    return weights
