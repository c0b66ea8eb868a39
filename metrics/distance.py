"""Eq. 2 / Eq. 4 of the paper: pairwise distances between the models' summaries and the collapse metric ‖D‖_F."""

from __future__ import annotations

import numpy as np

__all__ = ["distance_matrix", "frobenius_norm"]


def distance_matrix(x: np.ndarray) -> np.ndarray:
    """D_ij = ‖x_i − x_j‖₂ for every pair of rows.

    x: (..., n, d) — per-model summaries (mean embeddings X_i in the LLM mode, mixture weights Π_i in the GMM
    mode), with any leading batch axes (replicates, rounds). Returns (..., n, n), symmetric with a zero diagonal.
    """
    x = np.asarray(x, dtype=float)
    diff = x[..., :, None, :] - x[..., None, :, :]
    return np.sqrt(np.einsum("...ijd,...ijd->...ij", diff, diff))


def frobenius_norm(d: np.ndarray) -> np.ndarray:
    """‖D‖_F over the last two axes. d: (..., n, n) -> (...)."""
    d = np.asarray(d, dtype=float)
    return np.sqrt(np.einsum("...ij,...ij->...", d, d))
