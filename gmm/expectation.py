"""Appendix A of the paper, computed: the expected mixture weights of the GMM network, round by round.

The paper proves its GMM claim "in expectation": when the components are well separated, a point drawn from the
Internet moves model i's weights, on average, towards the weights of the model (and round) that drew it
(Eq. 8–9), so one update gives Eq. (10), and k_t of them

    π_i⁽ᵗ⁺¹⁾ ≈ ᾱ^k π_i⁽ᵗ⁾ + (1 − ᾱ^k) (π̄_i⁽ᵗ⁾ − c) / (1 − B·c),     ᾱ = 1 − α_t, k = k_t, c = c_{t,B},

where π̄_i⁽ᵗ⁾ is the mean, over the points model i may read at round t, of the weights of whatever drew each
point (a model's weights at the round it posted; the human mixture for human points). On the complete network π̄
is the same for every model, so every pairwise difference contracts by (1 − α_t)^{k_t} a round — with the
paper's α_t = 1/k_t, by (1 − 1/k)^k → e⁻¹. (The paper's last display writes 1 − ᾱ^{k+1}; the sum it comes from,
α Σ_{s<k} ᾱ^s, is 1 − ᾱ^k, which keeps the weights summing to 1.) The proof assumes c < π̄_b; where an expected
weight still falls to 0 or below, Algorithm 2's correction applies to it as in the simulation (reset to ε, then
the weights divided by their sum) — on the complete network it does not change the contraction of the others.

:func:`expectation` runs this recursion deterministically with exactly the schedule a simulation used — its
k_t, α_t and c_{t,B} per model, its topology and data regime (which points each model may read, from the same
:class:`~lwd.internet.regimes.Ledger`) — from each replicate's own initial weights, so the two can be drawn side
by side (``lwd gmm``: expectation.csv and figures/appendix-a.png).

The recursion is of the mean; ‖D‖_F of the mean is not the mean of ‖D‖_F. Each model's k_t draws are a sample:
given the Internet, two models' draws are independent, so each update adds to every pairwise difference a noise
of variance about Σ_b p_b(1 − p_b) · N/(N − 1) · (Σ_s w_s² − (Σ_s w_s)²/N) / (1 − B·c)², where p = π̄ (the share
of each component among the N points it may read, for well-separated components) and w_s = α ᾱ^{k−1−s} the
weights of the k updates — the variance of a weighted sum of k of N points drawn without replacement. (The
weights differ, so two models that read nearly the same points in another order still differ.) The noise of earlier rounds
shrinks like the mean, by ᾱ^{2k}, and the same amount is added every round, so E‖D‖_F² settles where the
shrinking and the adding balance — not at 0 — and falls only as k_t grows (≈ 1/k_t for α = 1/k):
``frobenius_noise`` is √(‖D_mean‖_F² + that noise), the expected ‖D‖_F to second order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lwd.gmm.config import GMMConfig
from lwd.gmm.simulate import GMMRun
from lwd.internet.regimes import HUMAN, InternetConfig, Ledger
from lwd.metrics import pairwise_norm

__all__ = ["Expectation", "expectation", "contraction_factor"]


@dataclass(frozen=True)
class Expectation:
    """Appendix A's expected weights of a GMM run: R replicates (their own Π⁽⁰⁾), rounds 0..T, n models."""

    weights: np.ndarray  # (R, T+1, n, B): expected Π_i⁽ᵗ⁾ at the start of round t
    frobenius: np.ndarray  # (R, T+1): ‖D⁽ᵗ⁾‖_F of those weights (Appendix A)
    frobenius_noise: np.ndarray  # (R, T+1): with the noise of the k_t draws (module docstring)


def contraction_factor(run: GMMRun) -> np.ndarray:
    """(T+1,): the factor (1 − α_t)^{k_t} by which Appendix A shrinks every pairwise difference in round t —
    where all models share k_t and α_t (NaN where they differ: then π̄ no longer cancels); 1 where none reads."""
    factor = _keep(run)
    same = np.isclose(factor, factor[:, :1]).all(axis=1)
    return np.where(same, factor[:, 0], np.nan)


def expectation(
    run: GMMRun,
    config: GMMConfig,
    samples: int,
    reads: np.ndarray | None = None,
    humans_visible: bool = True,
    internet: InternetConfig | None = None,
) -> Expectation:
    """The recursion of the module docstring for the network ``run`` simulated (pass the same ``reads``,
    ``humans_visible`` and ``internet`` the simulation had)."""
    internet = internet or InternetConfig()
    n_rep, n_rounds, n, n_comp = run.weights.shape
    reads = np.ones((n, n), dtype=bool) if reads is None else np.asarray(reads, dtype=bool)
    human, fresh = config.human.points, internet.fresh_per_round
    human_weights = np.asarray(config.human_weights(), dtype=float)
    capacity = human + (n * samples + fresh) * n_rounds
    drawn_from = np.empty((n_rep, capacity, n_comp))  # the expected weights behind each point on the Internet
    drawn_from[:, :human] = human_weights
    size = human
    weights = run.weights[:, 0].astype(float).copy()  # (R, n, B)
    history = np.empty(run.weights.shape)
    noise = np.zeros((n_rep, n_rounds))  # E Σ_ij ‖δ_ij‖² beyond the mean's
    ledger = Ledger(internet, run.seed, human)
    new_authors = np.concatenate([np.repeat(np.arange(n), samples), np.full(fresh, HUMAN)])
    keeps = _keep(run)
    for t in range(n_rounds):
        history[:, t] = weights
        pools = ledger.visible(reads, humans_visible)
        means: dict[int, np.ndarray] = {}
        target = np.empty_like(weights)
        for i, pool in enumerate(pools):
            if id(pool) not in means:
                means[id(pool)] = drawn_from[:, pool].mean(axis=1) if len(pool) else weights[:, i]
            target[:, i] = means[id(pool)]
        k, alpha, c, keep = run.k[t], np.nan_to_num(run.alpha[t]), np.nan_to_num(run.c[t]), keeps[t]
        pull = (target - c[None, :, None]) / (1.0 - n_comp * c)[None, :, None]
        posted = weights.copy()  # round t's points come from the weights before its update
        weights = keep[None, :, None] * weights + (1.0 - keep[None, :, None]) * pull
        if (weights <= 0).any():  # π̄ < c: the proof's condition fails; Algorithm 2's correction, as simulated
            weights = np.where(weights <= 0, config.epsilon, weights)
            weights /= weights.sum(axis=-1, keepdims=True)
        if t + 1 < n_rounds:
            added = _draw_noise(target, k, alpha, c, np.array([len(p) for p in pools]), n_comp)  # (R, n)
            noise[:, t + 1] = np.mean(keep**2) * noise[:, t] + 2 * (n - 1) * added.sum(axis=1)
        drawn_from[:, size : size + n * samples] = np.repeat(posted, samples, axis=1)
        drawn_from[:, size + n * samples : size + n * samples + fresh] = human_weights
        size += n * samples + fresh
        ledger.add(new_authors, t)
        ledger.advance()
    mean = pairwise_norm(history)
    return Expectation(weights=history, frobenius=mean, frobenius_noise=np.sqrt(mean**2 + noise))


def _keep(run: GMMRun) -> np.ndarray:
    """(T+1, n): (1 − α_t)^{k_t} of each model, the share of its weights a round keeps (1 where it reads none)."""
    return np.where(run.k > 0, (1.0 - np.nan_to_num(run.alpha)) ** run.k, 1.0)


def _draw_noise(
    share: np.ndarray, k: np.ndarray, alpha: np.ndarray, c: np.ndarray, visible: np.ndarray, n_comp: int
) -> np.ndarray:
    """(R, n): the variance one round's k draws add to model i's weights, summed over components."""
    share = np.clip(share, 0.0, 1.0)
    spread = (share * (1.0 - share)).sum(axis=-1)  # (R, n): Σ_b p_b(1 − p_b)
    kept = (1.0 - alpha) ** 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        squares = np.where(  # Σ_s w_s² = α²(1 − ᾱ^{2k}) / (1 − ᾱ²)
            kept < 1.0, alpha**2 * (1.0 - kept**k) / (1.0 - kept), 1.0
        )
        total = 1.0 - (1.0 - alpha) ** k  # Σ_s w_s
        # a weighted sum of k of N points drawn without replacement: σ² N/(N − 1) (Σw² − (Σw)²/N)
        spread_of = np.where(visible > 1, visible / (visible - 1.0) * (squares - total**2 / visible), 0.0)
    per_model = np.where(k > 0, np.maximum(spread_of, 0.0) / (1.0 - n_comp * c) ** 2, 0.0)
    return spread * per_model[None, :]
