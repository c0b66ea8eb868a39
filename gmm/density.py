"""Mixture densities along the first coordinate: what Fig. 5 and the TUI's GMM pane draw."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

__all__ = ["marginal_densities", "density_grid"]


def density_grid(means: np.ndarray, cov: np.ndarray, points: int = 400) -> np.ndarray:
    """x values covering every component of the first marginal: min μ − 4σ .. max μ + 4σ."""
    sd = float(np.sqrt(cov[0, 0]))
    return np.linspace(means[:, 0].min() - 4 * sd, means[:, 0].max() + 4 * sd, points)


def marginal_densities(means: np.ndarray, cov: np.ndarray, weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g_i(x) of each model's mixture along the first coordinate. weights: (n, B), x: (X,) -> (n, X)."""
    component = norm.pdf(x[None, :], loc=means[:, 0, None], scale=float(np.sqrt(cov[0, 0])))  # (B, X)
    return weights @ component
