"""Per-round summaries of the responses: Eq. 1 means, spreads, and classical MDS (Section 4.1, Fig. 3)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import pdist, squareform

__all__ = ["agent_means", "spreads", "classical_mds", "align_to"]


def agent_means(embeddings: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """X_i (Eq. 1): the mean embedding of agent i's responses. embeddings: (m, d), owners: (m,) in 0..n−1
    -> (n, d); an agent without responses gets NaN."""
    out = np.full((n, embeddings.shape[1]), np.nan)
    for i in range(n):
        rows = embeddings[owners == i]
        if len(rows):
            out[i] = rows.mean(axis=0)
    return out


def spreads(embeddings: np.ndarray, owners: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Each agent's spread around its mean: sqrt(mean_l ‖ϕ(f_il) − X_i‖²). -> (n,)"""
    out = np.full(len(means), np.nan)
    for i, mean in enumerate(means):
        rows = embeddings[owners == i]
        if len(rows):
            out[i] = float(np.sqrt(((rows - mean) ** 2).sum(axis=1).mean()))
    return out


def classical_mds(points: np.ndarray, dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS of the Euclidean distances between rows. points: (m, d) -> (m, dims).

    Double-centre the squared distances, B = −½ J D² J, and keep the top eigenvectors scaled by the square roots
    of their (non-negative) eigenvalues. Signs are fixed so the largest-magnitude coordinate of each axis is
    positive (eigenvectors have no sign of their own).
    """
    m = len(points)
    if m == 0:
        return np.zeros((0, dims))
    d2 = squareform(pdist(points, "sqeuclidean"))
    centre = np.eye(m) - 1.0 / m
    b = -0.5 * centre @ d2 @ centre
    values, vectors = np.linalg.eigh((b + b.T) / 2)
    top = np.argsort(values)[::-1][:dims]
    coords = vectors[:, top] * np.sqrt(np.clip(values[top], 0, None))
    if coords.shape[1] < dims:
        coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
    flip = np.sign(coords[np.abs(coords).argmax(axis=0), np.arange(dims)])
    return coords * np.where(flip == 0, 1, flip)


def align_to(
    coords: np.ndarray, owners: np.ndarray, reference: np.ndarray | None, reference_owners: np.ndarray | None
) -> np.ndarray:
    """Rotate/reflect a round's MDS picture onto the previous round's (orthogonal Procrustes on the agents'
    centroids), so the scatter does not flip or spin between rounds. Responses differ between rounds; the
    agents do not, so their centroids are the correspondence."""
    if reference is None or reference_owners is None or len(coords) == 0:
        return coords
    agents = sorted(set(owners.tolist()) & set(reference_owners.tolist()))
    if len(agents) < 2:
        return coords
    mine = np.array([coords[owners == a].mean(axis=0) for a in agents])
    theirs = np.array([reference[reference_owners == a].mean(axis=0) for a in agents])
    rotation, _ = orthogonal_procrustes(mine - mine.mean(axis=0), theirs - theirs.mean(axis=0))
    return (coords - mine.mean(axis=0)) @ rotation + theirs.mean(axis=0)
