"""Perspective space over time: every (agent, round) embedded jointly, so that positions compare across rounds.

The paper draws each round on its own (classical MDS, Fig. 3) and the agent map aligns consecutive rounds by
Procrustes; neither says where an agent of round 40 sits against itself at round 0. Here all agent-rounds are one
point cloud, embedded once (after the *Data Kernel Perspective Space* of Helm et al., and its time-aware form,
TDKPS, of Bridgeford & Helm):

- ``means``: the agents' mean answers X_i⁽ᵗ⁾ (the paper's summary), by classical MDS of their Euclidean
  distances. Classical MDS of Euclidean distances is the principal-component projection of the centred points,
  so it is computed from the d×d covariance of the n·T means, O(n·T·d²): exact at any network size;
- ``energy``: the agent-rounds' answer *distributions*, by classical MDS of their energy distances (a squared
  metric). For more than ``landmarks`` agent-rounds it is landmark MDS (de Silva & Tenenbaum, 2004): the exact
  MDS of ``landmarks`` agent-rounds spread evenly over the (round, agent) order, every other agent-round placed
  by its energy distances to them. Cost: every answer's distance to the landmarks' answers, O(n·T·L·K·L·d)
  in blocks — linear in the agents and the rounds.

Coordinates of an agent-round without answers are NaN.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from lwd.metrics.distribution import _mean_distance

__all__ = ["joint_means", "joint_energy", "LANDMARKS"]

LANDMARKS = 60  # agent-rounds whose energy distances are embedded exactly; the others placed against them
_CELLS = 2**23  # distances computed at once (64 MiB of float64)


def joint_means(means: np.ndarray) -> np.ndarray:
    """(T, n, 2) coordinates of the mean answers ``means`` (T, n, d), NaN rows for agents without answers: the
    classical MDS of all T·n points at once (their top two principal coordinates, signs fixed so each axis's
    largest loading is positive)."""
    t, n, d = means.shape
    flat = means.reshape(t * n, d).astype(float)
    valid = np.isfinite(flat).all(axis=1)
    out = np.full((t * n, 2), np.nan)
    if valid.sum() >= 2:
        x = flat[valid] - flat[valid].mean(axis=0)
        values, vectors = np.linalg.eigh(x.T @ x)
        axes = vectors[:, ::-1][:, :2]
        axes *= np.sign(axes[np.abs(axes).argmax(axis=0), range(axes.shape[1])])
        out[valid, : axes.shape[1]] = x @ axes
    return out.reshape(t, n, 2)


def joint_energy(
    embeddings: list[np.ndarray], owners: list[np.ndarray], n: int, landmarks: int = LANDMARKS
) -> np.ndarray:
    """(T, n, 2) coordinates of the agent-rounds' answer distributions: ``embeddings[t]`` (m_t, d) and
    ``owners[t]`` (m_t,) are round t's answers; classical MDS of their energy distances, landmark MDS past
    ``landmarks`` agent-rounds (see the module)."""
    sets = [
        (t, i, e[o == i].astype(float))
        for t, (e, o) in enumerate(zip(embeddings, owners, strict=True))
        for i in range(n)
    ]
    present = [k for k, (_, _, s) in enumerate(sets) if len(s)]
    out = np.full((len(embeddings) * n, 2), np.nan)
    if len(present) < 3:
        return out.reshape(len(embeddings), n, 2)
    spread = np.unique(np.linspace(0, len(present) - 1, min(landmarks, len(present))).round().astype(int))
    chosen = [present[k] for k in spread]  # landmarks spread evenly over the (round, agent) order
    marks = [sets[k][2] for k in chosen]
    within_marks = np.array([_mean_distance(m, m) for m in marks])
    within = np.array([_mean_distance(sets[k][2], sets[k][2]) for k in present])
    cross = _cross_means([sets[k][2] for k in present], marks)  # (points, K)
    energy = np.clip(2 * cross - within[:, None] - within_marks[None, :], 0.0, None)  # (points, K)
    rows_of = {k: r for r, k in enumerate(present)}
    squared = energy[[rows_of[k] for k in chosen]]  # (K, K)
    squared = (squared + squared.T) / 2
    k = len(chosen)
    centring = np.eye(k) - 1.0 / k
    b = -0.5 * centring @ squared @ centring
    values, vectors = np.linalg.eigh(b)
    order = np.argsort(values)[::-1][:2]
    values, vectors = np.clip(values[order], 1e-12, None), vectors[:, order]
    vectors *= np.sign(vectors[np.abs(vectors).argmax(axis=0), range(2)])
    pseudo = vectors / np.sqrt(values)  # (K, 2): L_k^#ᵀ
    coords = -0.5 * (energy - squared.mean(axis=0)[None, :]) @ pseudo  # triangulation (exact on landmarks)
    out[present] = coords
    return out.reshape(len(embeddings), n, 2)


def _cross_means(points: list[np.ndarray], marks: list[np.ndarray]) -> np.ndarray:
    """(P, K): the mean distance between the answers of points[p] and those of marks[k], for every pair: all
    answers' distances to the landmarks' answers in blocks of rows, summed per (point, landmark) through the
    indicator matrices of who gave each answer (C_p · Δ · C_kᵀ), no loop over pairs."""
    x, y = np.concatenate(points), np.concatenate(marks)
    row_of = np.repeat(np.arange(len(points)), [len(p) for p in points])
    col_of = np.repeat(np.arange(len(marks)), [len(m) for m in marks])
    cols = sparse.csr_matrix((np.ones(len(y)), (col_of, np.arange(len(y)))), shape=(len(marks), len(y)))
    squares_y = (y * y).sum(axis=1)
    sums = np.zeros((len(points), len(marks)))
    step = max(1, _CELLS // max(len(y), 1))
    for start in range(0, len(x), step):
        block = x[start : start + step]
        gaps = (block * block).sum(axis=1)[:, None] + squares_y[None, :] - 2.0 * (block @ y.T)
        distances = np.sqrt(np.clip(gaps, 0.0, None))
        totals = np.asarray(cols @ distances.T).T  # (rows, K)
        np.add.at(sums, row_of[start : start + step], totals)
    sizes = np.outer([len(p) for p in points], [len(m) for m in marks])
    return sums / sizes
