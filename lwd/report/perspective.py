"""The run's perspective space over time: each agent's trajectory, every round embedded jointly.

``perspective.csv`` (round, agent, means_x, means_y, energy_x, energy_y) holds the coordinates
(:mod:`~lwd.metrics.perspective`); report.html draws the trajectories: each agent of a small network, the groups'
centroids of a large one. The energy version covers at most :data:`ENERGY_AGENTS` agents (spread evenly over
the agents' order); the means version every agent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lwd.core.files import write_csv
from lwd.metrics.perspective import joint_energy, joint_means
from lwd.run.records import RoundArrays

__all__ = ["perspective", "write_perspective", "PERSPECTIVE", "ENERGY_AGENTS"]

PERSPECTIVE = "perspective.csv"
ENERGY_AGENTS = 1000  # agents embedded by their answer distributions; a larger network: this many of them


def perspective(frames: list[tuple[int, RoundArrays]], n: int) -> dict[str, np.ndarray]:
    """``{"means": (T, n, 2), "energy": (T, n, 2)}`` from every round's arrays (NaN where an agent had no
    answers, or was not among the energy version's agents)."""
    means = joint_means(np.stack([a.means for _, a in frames]))
    kept = np.unique(np.linspace(0, n - 1, min(n, ENERGY_AGENTS)).round().astype(int))
    index = np.full(n, -1)
    index[kept] = np.arange(len(kept))
    embeddings, owners = [], []
    for _, a in frames:
        owner = index[np.asarray(a.owners, dtype=np.int64)]
        embeddings.append(np.asarray(a.embeddings)[owner >= 0])
        owners.append(owner[owner >= 0])
    energy = np.full_like(means, np.nan)
    energy[:, kept] = joint_energy(embeddings, owners, len(kept))
    return {"means": means, "energy": energy}


def write_perspective(
    path: Path, rounds: list[int], agents: list[str], coords: dict[str, np.ndarray]
) -> None:
    """``perspective.csv``: one row per (round, agent)."""
    means, energy = coords["means"], coords["energy"]
    rows = (
        {
            "round": t,
            "agent": a,
            "means_x": means[k, i, 0],
            "means_y": means[k, i, 1],
            "energy_x": energy[k, i, 0],
            "energy_y": energy[k, i, 1],
        }
        for k, t in enumerate(rounds)
        for i, a in enumerate(agents)
    )
    write_csv(path, rows, ["round", "agent", "means_x", "means_y", "energy_x", "energy_y"])
