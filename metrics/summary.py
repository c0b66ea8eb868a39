"""Per-round summaries of the responses: Eq. 1 means, spreads, and classical MDS (Section 4.1, Fig. 3).

Every function here costs O(m·d) for m answers of d dimensions, whatever the number of agents: sums per agent
are one sparse product (agent × answer indicator times the answers), never a loop over agents.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.linalg import orthogonal_procrustes

__all__ = ["agent_means", "group_sums", "spreads", "classical_mds", "align_to"]


def group_sums(values: np.ndarray, owners: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(Σ of the rows of each agent, number of rows of each agent). values: (m, d) or (m,), owners: (m,) in
    0..n−1 -> ((n, d) or (n,), (n,)). Rows are added in their order, in ``values``' dtype."""
    values = np.asarray(values)
    flat = values.ndim == 1
    block = values[:, None] if flat else values
    m = len(owners)
    indicator = sparse.csr_matrix(
        (np.ones(m, dtype=block.dtype), (np.asarray(owners, dtype=np.int64), np.arange(m))), shape=(n, m)
    )
    sums = np.asarray(indicator @ block)
    return (sums[:, 0] if flat else sums), np.bincount(np.asarray(owners, dtype=np.int64), minlength=n)


def agent_means(embeddings: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """X_i (Eq. 1): the mean embedding of agent i's responses. embeddings: (m, d), owners: (m,) in 0..n−1
    -> (n, d) float64; an agent without responses gets NaN. Summed and divided in the embeddings' dtype (as
    ``rows.mean(axis=0)`` does), then widened."""
    embeddings = np.asarray(embeddings)
    out = np.full((n, embeddings.shape[1]), np.nan)
    if not len(embeddings):
        return out
    sums, counts = group_sums(embeddings, owners, n)
    has = counts > 0
    out[has] = sums[has] / counts[has, None].astype(embeddings.dtype)
    return out


def spreads(embeddings: np.ndarray, owners: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Each agent's spread around its mean: sqrt(mean_l ‖ϕ(f_il) − X_i‖²). -> (n,); NaN without responses."""
    out = np.full(len(means), np.nan)
    if not len(embeddings):
        return out
    squares = ((embeddings - means[owners]) ** 2).sum(axis=1)
    sums, counts = group_sums(squares, owners, len(means))
    has = counts > 0
    out[has] = np.sqrt(sums[has] / counts[has])
    return out


def classical_mds(points: np.ndarray, dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS of the Euclidean distances between rows. points: (m, d) -> (m, dims).

    Classical MDS of Euclidean distances is PCA of the centred points: the top eigenvectors of the d × d scatter
    matrix give the axes (O(m·d²), no m × m matrix); with fewer points than dimensions the m × m Gram matrix is the
    smaller one and is used instead. Signs are fixed so the largest-magnitude coordinate of each axis is positive
    (eigenvectors have no sign of their own).
    """
    m = len(points)
    if m == 0:
        return np.zeros((0, dims))
    x = np.asarray(points, dtype=float)
    x = x - x.mean(axis=0)
    if x.shape[1] <= m:
        values, vectors = np.linalg.eigh(x.T @ x)
        top = np.argsort(values)[::-1][:dims]
        coords = x @ vectors[:, top]
    else:
        values, vectors = np.linalg.eigh(x @ x.T)
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
    n = int(max(owners.max(initial=-1), reference_owners.max(initial=-1))) + 1
    mine, here = group_sums(coords, owners, n)
    theirs, there = group_sums(reference, reference_owners, n)
    both = (here > 0) & (there > 0)
    if both.sum() < 2:
        return coords
    mine, theirs = mine[both] / here[both, None], theirs[both] / there[both, None]
    rotation, _ = orthogonal_procrustes(mine - mine.mean(axis=0), theirs - theirs.mean(axis=0))
    return (coords - mine.mean(axis=0)) @ rotation + theirs.mean(axis=0)
