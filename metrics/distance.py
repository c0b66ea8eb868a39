"""Eq. 2 / Eq. 4 of the paper: pairwise distances between the models' summaries and the collapse metric ‖D‖_F.

‖D‖_F needs no D: Σ_ij ‖X_i − X_j‖² = 2n Σ_i ‖X_i − X̄‖² (the sum over ordered pairs equals 2n times the spread
around the mean), so :func:`pairwise_norm` is exact in O(n·d) at any n, where D itself is n × n. The same holds
inside each community, and the pairs that cross communities are the rest (:func:`community_norms`). D is built
(:func:`distance_matrix`) only where a matrix is wanted: small networks' records and pictures.
"""

from __future__ import annotations

import numpy as np

__all__ = ["distance_matrix", "frobenius_norm", "pairwise_norm", "community_norms"]


def distance_matrix(x: np.ndarray) -> np.ndarray:
    """D_ij = ‖x_i − x_j‖₂ for every pair of rows.

    x: (..., n, d) — per-model summaries (mean embeddings X_i in the LLM mode, mixture weights Π_i in the GMM
    mode), with any leading batch axes (replicates, rounds). Returns (..., n, n), symmetric with a zero diagonal.
    Memory O(n²·d): for small networks (use :func:`pairwise_norm` for ‖D‖_F at any n).
    """
    x = np.asarray(x, dtype=float)
    diff = x[..., :, None, :] - x[..., None, :, :]
    return np.sqrt(np.einsum("...ijd,...ijd->...ij", diff, diff))


def frobenius_norm(d: np.ndarray) -> np.ndarray:
    """‖D‖_F over the last two axes. d: (..., n, n) -> (...)."""
    d = np.asarray(d, dtype=float)
    return np.sqrt(np.einsum("...ij,...ij->...", d, d))


def _scatter(x: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Σ_{i kept} ‖x_i − c‖², c, number kept) of the rows ``keep`` marks, c their mean, per leading index."""
    count = keep.sum(axis=-1)
    held = np.where(keep[..., None], x, 0.0)
    centre = held.sum(axis=-2) / np.maximum(count, 1)[..., None]
    spread = np.where(keep[..., None], x - centre[..., None, :], 0.0)
    return np.einsum("...nd,...nd->...", spread, spread), centre, count


def pairwise_norm(x: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
    """‖D‖_F = sqrt(Σ_ij ‖x_i − x_j‖²) over the rows that answered (a row of NaN, an agent without a valid answer,
    is left out), without building D: Σ_ij ‖x_i − x_j‖² = 2k Σ_i ‖x_i − x̄‖² over the k rows, O(n·d).
    ``members``: only these rows (a community).

    x: (..., n, d) -> (...). NaN when the rows to measure had a pair but fewer than two of them answered (one agent
    of two); 0 for a set with no pair at all (a community of one). With every agent answering it is ‖D‖_F."""
    x = np.asarray(x, dtype=float)
    if members is not None:
        x = x[..., np.asarray(members, dtype=np.int64), :]
    scatter, _, count = _scatter(x, ~np.isnan(x).any(axis=-1))
    lost = (x.shape[-2] >= 2) & (count < 2)
    return np.where(lost, np.nan, np.sqrt(2.0 * count * scatter))


def community_norms(x: np.ndarray, communities: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """‖D‖_F restricted to each community (``within_<name>``: pairs inside it) and to the pairs that cross
    communities (``between``), over the agents that answered, from the summaries x (..., n, d) without D.
    -> {column: (...)}; empty when there are no communities.

    Every pair of agents is counted once in the sum of squares: within² summed over communities plus between²
    equals ‖D‖_F² when the communities cover every agent. With S_A the scatter of community A around its centre
    c_A, n_A its agents that answered and N = Σ n_A, the crossing pairs sum to
    2 Σ_A (N − n_A) S_A + 2N Σ_A n_A ‖c_A − c̄‖² (c̄ the mean of all N): O(n·d), and no difference of large
    numbers. NaN where a set had pairs but lost every one to agents without answers (:func:`pairwise_norm`)."""
    if not communities:
        return {}
    x = np.asarray(x, dtype=float)
    answered = ~np.isnan(x).any(axis=-1)
    label = np.full(x.shape[-2], -1)
    for g, members in enumerate(communities.values()):
        label[np.asarray(members, dtype=np.int64)] = g  # an agent in two communities counts in the last
    out, parts = {}, []
    for g, (name, members) in enumerate(communities.items()):
        out[f"within_{name}"] = pairwise_norm(x, members)
        parts.append(_scatter(x, answered & (label == g)))
    scatter = np.stack([p[0] for p in parts], axis=-1)  # (..., G)
    centres = np.stack([p[1] for p in parts], axis=-2)  # (..., G, d)
    counts = np.stack([p[2] for p in parts], axis=-1).astype(float)  # (..., G)
    total = counts.sum(axis=-1)
    mean = np.einsum("...g,...gd->...d", counts, centres) / np.maximum(total, 1)[..., None]
    offset = centres - mean[..., None, :]
    crossing = 2.0 * np.einsum(
        "...g,...g->...", total[..., None] - counts, scatter
    ) + 2.0 * total * np.einsum("...g,...gd,...gd->...", counts, offset, offset)
    lost = (len(communities) >= 2) & ((counts > 0).sum(axis=-1) < 2)
    out["between"] = np.where(lost, np.nan, np.sqrt(crossing))
    return out
