"""Algorithms 2 and 3 of the paper, written to be read next to it — one point, one model at a time.

This is the reference the fast path (``kernel.py``, ``simulate.py``) is tested against; it is too slow for
sweeps (the benchmark in ``bench/bench_gmm.py`` measures by how much).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cholesky
from scipy.special import logsumexp

from lwd.core.seeding import stream
from lwd.gmm.config import GMMConfig
from lwd.gmm.draws import choose_components, component_log_density, mixture_points, sample_positions
from lwd.internet.retrieval import retrieval_size
from lwd.metrics import distance_matrix, frobenius_norm

__all__ = ["update_weights", "simulate_reference"]


def update_weights(
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
    """Algorithm 2: update one model's mixture weights with k points, one after another.

    weights: (B,) the prior Π_i⁽ᵗ⁾; points: (k, d) (or (k,) when d = 1); means: (B, d); cov: (d, d) shared by
    all components; alpha = α_t, c = c_{t,B}, eps = ε. Returns the new (B,) weights Π_i⁽ᵗ⁺¹⁾.

    Ownerships are computed in log space, so a point far from every mean does not underflow to 0/0.
    ``renormalize`` divides by the sum after a ≤0 correction: with ε > 0 the paper's correction leaves
    Σπ = 1 + ε(ε − π_b)/(1 + ε − π_b) > 1; with ε = 0 it is exact and the division changes nothing but rounding.
    """
    pi = np.array(weights, dtype=float)
    n_comp = pi.shape[0]
    points = np.asarray(points, dtype=float).reshape(len(points), -1)
    log_density = component_log_density(points, np.asarray(means, float), np.asarray(cov, float))
    for log_n in log_density:  # line 2: for u in {u_1..u_k}
        # line 3: o_b = π_b N(u; μ_b, Σ) / g(u), with g(u) = Σ_b π_b N(u; μ_b, Σ)
        with np.errstate(divide="ignore"):
            s = np.log(pi) + log_n
        o = np.exp(s - logsumexp(s))
        # lines 4-6
        pi = (1 - alpha) * pi + alpha * (o - c) / (1 - n_comp * c)
        # lines 7-14
        corrected = False
        for b in range(n_comp):
            if pi[b] <= 0:
                for b2 in range(n_comp):
                    if b2 != b:
                        pi[b2] = pi[b2] / (1 + eps - pi[b])
                pi[b] = eps
                corrected = True
        if corrected and renormalize:
            pi = pi / pi.sum()
    return pi


def simulate_reference(
    config: GMMConfig, n: int, beta: float, samples: int, rounds: int, replicates: int = 1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 3, literally: returns (frobenius (R, T+1), weights (R, T+1, n, B)) for rounds 0..T."""
    means, cov = config.means_array(), config.covariance_matrix()
    chol = cholesky(cov, lower=True)
    n_comp, d = means.shape
    frob = np.zeros((replicates, rounds + 1))
    history = np.zeros((replicates, rounds + 1, n, n_comp))
    for r in range(replicates):
        rng = stream(seed, r)
        # line 1: Π_i⁽⁰⁾ ~ Dir(a) and A⁽⁰⁾
        weights = config.initial_weights(n, rng.dirichlet(config.dirichlet_vector(), size=n))
        m = config.human.points
        comps = choose_components(config.human_weights(), rng.random(m))
        internet = list(mixture_points(comps, rng.standard_normal((m, d)), means, chol))
        for t in range(rounds + 1):
            history[r, t] = weights
            frob[r, t] = frobenius_norm(distance_matrix(weights))  # line 3
            k = retrieval_size(beta, len(internet))
            u_gen, noise = rng.random((n, samples)), rng.standard_normal((n, samples, d))
            u_pick = rng.random((n, k))
            new_points = []
            new_weights = weights.copy()
            for i in range(n):  # lines 4-8
                comps = choose_components(weights[i], u_gen[i])
                new_points.extend(mixture_points(comps, noise[i], means, chol))  # line 5
                if k == 0:
                    continue
                picked = [internet[p] for p in sample_positions(u_pick[i], len(internet))]  # line 6
                new_weights[i] = update_weights(
                    weights[i],
                    np.array(picked),
                    means,
                    cov,  # line 7
                    config.alpha_at(k),
                    config.c_at(k),
                    config.epsilon,
                    renormalize=config.renormalize,
                )
            weights = new_weights
            internet.extend(new_points)  # line 9
    return frob, history
