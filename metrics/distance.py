"""Eq. 2 / Eq. 4 of the paper: pairwise distances between the models' summaries and the collapse metric ‖D‖_F."""

from __future__ import annotations

import numpy as np

__all__ = ["distance_matrix", "frobenius_norm", "answered_norm", "community_norms"]


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


def answered_norm(d: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
    """‖D‖_F over the agents that answered: an agent without a valid answer this round has NaN in its row and
    column of D (and on the diagonal) and is left out. NaN when the pairs to measure lost every pair of agents
    that answered (one agent of two answered); a set with no pair at all (a community of one) is 0, as before.

    d: (..., n, n) with NaN rows for the agents that did not answer; ``pairs`` (n, n) bool: only these pairs
    count (default: all). Returns (...). With every agent answering it is ‖D‖_F exactly."""
    d = np.asarray(d, dtype=float)
    off = ~np.eye(d.shape[-1], dtype=bool)
    wanted = off if pairs is None else off & np.asarray(pairs, dtype=bool)
    answered = ~np.isnan(np.diagonal(d, axis1=-2, axis2=-1))  # D_ii is 0, or NaN for an agent without answers
    both = answered[..., :, None] & answered[..., None, :] & wanted
    if pairs is None:
        value = frobenius_norm(np.where(both, d, 0.0))  # the pairs left out count as 0: ‖D‖_F's own sum
    else:
        d0 = np.nan_to_num(d)
        value = np.sqrt(np.einsum("...ij,...ij->...", d0 * d0, both.astype(float)))
    lost = wanted.any() & ~both.any(axis=(-2, -1))
    return np.where(lost, np.nan, value)


def community_norms(d: np.ndarray, communities: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """‖D‖_F restricted to each community (``within_<name>``: pairs inside it) and to the pairs that cross
    communities (``between``), over the agents that answered (:func:`answered_norm`: NaN when no such pair is
    left). d: (..., n, n) -> {column: (...)}; empty when there are no communities.

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
        out[f"within_{name}"] = answered_norm(d[..., idx[:, None], idx[None, :]])
    crossing = (label[:, None] != label[None, :]) & (label[:, None] >= 0) & (label[None, :] >= 0)
    out["between"] = answered_norm(d, crossing)
    return out
