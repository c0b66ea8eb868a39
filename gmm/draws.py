"""The random draws of Algorithm 3, shared by the reference and the fast simulation.

Both simulations consume each replicate's Generator in the same order, so for the same seed they see the same
points and the same retrievals and must agree to rounding:

1. Π_i⁽⁰⁾ ~ Dir(a) for all models: ``rng.dirichlet(a, size=n)`` (drawn even when ``[gmm] initial`` replaces it, so
   the rest of the stream is the same);
2. A⁽⁰⁾, m human points: ``rng.random(m)`` (components), ``rng.standard_normal((m, d))`` (noise);
3. each round t, for all models at once: ``rng.random((n, L))``, ``rng.standard_normal((n, L, d))`` (the L new
   points of each model), then ``rng.random((n, k_t))`` (each model's retrieval, see :func:`sample_positions`).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cholesky, solve_triangular

__all__ = ["component_log_density", "choose_components", "mixture_points", "sample_positions"]


def component_log_density(points: np.ndarray, means: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """log N(u; μ_b, Σ) for every point and component.

    points: (m, d), means: (B, d), cov: (d, d) -> (m, B).
    """
    points = np.atleast_2d(np.asarray(points, dtype=float))
    m, d = points.shape
    chol = cholesky(cov, lower=True)
    diff = (points[:, None, :] - means[None, :, :]).reshape(-1, d)
    z = solve_triangular(chol, diff.T, lower=True)
    maha = np.einsum("ij,ij->j", z, z).reshape(m, means.shape[0])
    log_det = 2.0 * np.log(np.diag(chol)).sum()
    return -0.5 * (maha + d * np.log(2.0 * np.pi) + log_det)


def choose_components(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of mixture components: the first b with u < Σ_{b'≤b} π_b' / Σ π.

    weights: (..., B), u: (..., L) uniforms in [0, 1) -> (..., L) component indices.
    """
    cdf = np.cumsum(weights, axis=-1)
    cdf = cdf / cdf[..., -1:]
    idx = (u[..., :, None] >= cdf[..., None, :]).sum(axis=-1)
    return np.minimum(idx, weights.shape[-1] - 1)


def mixture_points(comps: np.ndarray, noise: np.ndarray, means: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Points μ_z + C·ε with Σ = C·Cᵀ. comps: (...,), noise: (..., d) -> (..., d)."""
    return means[comps] + noise @ chol.T


def sample_positions(u: np.ndarray, size: int) -> np.ndarray:
    """k positions drawn uniformly without replacement from range(size), in random order.

    A partial Fisher–Yates shuffle of 0..size−1 driven by the uniforms u (k,): step j swaps position j with
    j + ⌊u_j·(size − j)⌋. This readable version is the reference for the compiled one in ``kernel.py``
    (``fill_from_pools``).
    """
    pool = np.arange(size)
    for j, uj in enumerate(u):
        swap = j + int(uj * (size - j))
        pool[j], pool[swap] = pool[swap], pool[j]
    return pool[: len(u)].copy()
