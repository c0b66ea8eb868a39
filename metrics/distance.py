"""Eq. 2 / Eq. 4 of the paper: pairwise distances between the models' summaries and the collapse metric ‖D‖_F."""

from __future__ import annotations

import numpy as np

__all__ = ["distance_matrix", "frobenius_norm", "community_norms"]


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


def community_norms(d: np.ndarray, communities: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """‖D‖_F restricted to each community (``within_<name>``: pairs inside it) and to the pairs that cross
    communities (``between``). d: (..., n, n) -> {column: (...)}; empty when there are no communities.

    Every pair of agents is counted once in the sum of squares: within² summed over communities plus
    between² equals ‖D‖_F² when the communities cover every agent.
    """
    if not communities:
        return {}
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    label = np.full(n, -1)
    out = {}
    for g, (name, members) in enumerate(communities.items()):
        idx = np.asarray(members, dtype=np.int64)
        label[idx] = g
        out[f"within_{name}"] = frobenius_norm(d[..., idx[:, None], idx[None, :]])
    crossing = (label[:, None] != label[None, :]) & (label[:, None] >= 0) & (label[None, :] >= 0)
    out["between"] = np.sqrt(np.einsum("...ij,ij->...", d * d, crossing.astype(float)))
    return out
