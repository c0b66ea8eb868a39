"""Who a picture draws as one colour: each agent of a small network, groups of agents past it.

Up to :data:`~lwd.metrics.registry.DENSE_AGENTS` agents every picture draws each agent in a colour of its own
(a legend entry each), as the paper's figures do. A larger network is drawn by groups: its topology's
communities when it has them, else its models (backend and model) when it has several, else all its agents as
one group; at most :data:`MAX_GROUPS` (the smallest groups beyond that are drawn together as "other"). A
picture's cost then grows with the answers, never with one artist or legend entry per agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lwd.metrics import align_to, classical_mds
from lwd.metrics.registry import DENSE_AGENTS

__all__ = ["Group", "picture_groups", "group_index", "bands", "agent_map", "MAX_GROUPS", "DENSE_AGENTS"]

MAX_GROUPS = 10  # colours of a large network's pictures (tab10)


@dataclass(frozen=True)
class Group:
    """Agents drawn in one colour, under one label."""

    label: str
    members: tuple[int, ...]


def picture_groups(
    agents: Sequence[str],
    communities: Mapping[str, Sequence[int]] | None = None,
    described: Sequence[Mapping[str, Any]] = (),
) -> list[Group]:
    """The groups a picture of this run draws (see the module's docstring): its topology's ``communities``,
    else the agents by backend and model (``described``: each agent's ``backend`` and ``model``)."""
    n = len(agents)
    if n <= DENSE_AGENTS:
        return [Group(name, (i,)) for i, name in enumerate(agents)]
    if communities:
        groups = {str(k): [int(i) for i in v] for k, v in communities.items()}
        placed = {i for members in groups.values() for i in members}
        rest = [i for i in range(n) if i not in placed]
        if rest:
            groups["no community"] = rest
    else:
        groups = {}
        for i, agent in enumerate(described or [{}] * n):
            key = f"{agent.get('backend', '?')}: {agent.get('model', '?')}"
            groups.setdefault(key, []).append(i)
        if len(groups) == 1:
            groups = {"all": list(range(n))}
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    if len(ordered) > MAX_GROUPS:
        other = [i for _, members in ordered[MAX_GROUPS - 1 :] for i in members]
        ordered = [*ordered[: MAX_GROUPS - 1], ("other", other)]
    return [Group(f"{label} ({len(members)} agents)", tuple(members)) for label, members in ordered]


def group_index(groups: Sequence[Group]) -> np.ndarray:
    """The group of each agent, by agent index (−1 for an agent in none)."""
    index = np.full(max((m for g in groups for m in g.members), default=-1) + 1, -1, dtype=np.int64)
    for k, group in enumerate(groups):
        index[list(group.members)] = k
    return index


def bands(values: np.ndarray, low: float = 10, high: float = 90) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, low quantile, high quantile) over the rows of ``values`` (columns × rounds), NaN ignored:
    how a panel draws many columns of one kind (an agent's spread, for every agent) as one band."""
    import warnings

    with warnings.catch_warnings():  # a round where every column is NaN stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return (
            np.nanmedian(values, axis=0),
            np.nanpercentile(values, low, axis=0),
            np.nanpercentile(values, high, axis=0),
        )


def agent_map(means: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The agent map (the paper's "perspective space"): each agent one point, classical MDS of the agents'
    mean answers X_i, round by round, each round aligned to the one before by Procrustes on the agents (as the
    answers' picture is). Returns per round (agents shown, their (m, 2) coordinates); an agent without an
    answer that round (a NaN mean) is left out of it."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for x in means:
        shown = np.flatnonzero(np.isfinite(x).all(axis=1))
        coords = classical_mds(x[shown])
        if out:
            coords = align_to(coords, shown, out[-1][1], out[-1][0])
        out.append((shown, coords))
    return out
