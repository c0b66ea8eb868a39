"""Change tests: has an agent's answer distribution moved since the reference round s?

The k-sample test (:mod:`~lwd.metrics.distribution`) asks whether the agents are told apart *within* a round.
These tests ask, for each agent i and round t > s, whether its L answers of round t and its L answers of round s
come from one distribution: a two-sample energy permutation test (the statistic a·b/(a+b)·E, E the energy
distance between the two answer sets, as dcor's; ``settings.permutations`` relabellings drawn from the stream
(seed, METRICS, round, 3); p-value (1 + #{permuted ≥ observed}) / (1 + permutations), so that an agent repeating
one answer in both rounds gets p = 1, not a rejection). The answers of one agent to one prompt are exchangeable
draws, so under "nothing this agent reads has changed" (an agent that never reads, β = 0) its p-values are
uniform, round after round; a rejection says its answers moved, because what it read moved them.

Groups: each community of the topology and each model (backend: model) shared by several agents is tested the
same way on its members' pooled answers (round t against round s), the round labels permuted *within* each
member (a stratified test: its null is "no member changed", and it cannot reject because members differ from
each other). A group of more than ``test_agents`` members is tested on a sample of that many, drawn from the
stream (seed, METRICS, round, 5, g) independently of the answers; at most :data:`MAX_GROUP_TESTS` groups of a
kind get columns.

Every tested agent at once: the pairwise distances of each agent's 2L answers are one (agents, 2L, 2L) array
and the permutations one (agents, P, 2L) array of labels, so a round's tests cost O(n·L²·P) in blocks — linear
in the agents, no loop over them.
"""

from __future__ import annotations

import numpy as np

from lwd.metrics.distribution import split_by_agent
from lwd.metrics.registry import (
    DENSE_AGENTS,
    Column,
    Kind,
    MetricContext,
    Need,
    RoundData,
    Scope,
    metric,
)

__all__ = [
    "change",
    "two_sample_tests",
    "group_columns",
    "MAX_GROUP_TESTS",
    "CHANGE",
    "CHANGE_P",
    "CHANGED_SHARE",
    "group_name",
]

CHANGE, CHANGE_P, CHANGED_SHARE = (
    "change",
    "change_p",
    "changed_share",
)  # the columns' names, spelled here only
GROUP = f"{CHANGE_P}__"  # a group's test: change_p__<community>, change_p__model:<model>

MAX_GROUP_TESTS = DENSE_AGENTS  # groups of one kind (communities, models) that get a change test each
_CELLS = 2**22  # float64 cells of one block of the permutation sums (32 MiB)


def group_columns(ctx: MetricContext) -> dict[str, tuple[int, ...]]:
    """The groups tested for a change, ``{column: members}``: the topology's communities (``change_p__<c>``)
    and the models several agents share (``change_p__model:<model>``), each kind only while it has at most
    MAX_GROUP_TESTS groups; none in a network of one group."""
    out: dict[str, tuple[int, ...]] = {}
    for prefix, groups in (("", ctx.communities), ("model:", ctx.models)):
        groups = {k: v for k, v in groups.items() if 1 < len(v) < len(ctx.names)}
        if 0 < len(groups) <= MAX_GROUP_TESTS:
            out.update({f"{GROUP}{prefix}{k}": tuple(v) for k, v in groups.items()})
    return out


def group_name(column: str) -> str:
    """The group a group test's column is about (``change_p__model:m`` -> ``model:m``)."""
    return column.removeprefix(GROUP)


def _columns(ctx: MetricContext) -> list[str | Column]:
    return [
        Column(CHANGED_SHARE, CHANGE, Scope.NETWORK, Kind.SHARE, "share of agents changed since s"),
        *(
            Column(c, CHANGE, Scope.COMMUNITY, Kind.PVALUE, f"p-value: {group_name(c)} changed")
            for c in group_columns(ctx)
        ),
    ]


@metric(
    CHANGE,
    needs={Need.EMBEDDINGS, Need.REFERENCE},
    columns=_columns,
    per_agent=(CHANGE, CHANGE_P),
    kind={CHANGED_SHARE: Kind.SHARE, CHANGE: Kind.DISTANCE, CHANGE_P: Kind.PVALUE},
    label="change since the reference round",
    ratio=False,
)
def change(data: RoundData) -> dict[str, object]:
    """Per agent: ``change`` (the energy distance between its answers of round t and of the reference round s)
    and ``change_p`` (the two-sample permutation test's p-value); ``changed_share``, the share of the tested
    agents with p ≤ α; one p-value per group (:func:`group_columns`). NaN before and at round s, and for an agent
    with fewer than 2 answers in either round."""
    n = len(data.names)
    distance, pvalue = np.full(n, np.nan), np.full(n, np.nan)
    groups = group_columns(data)
    ref = data.reference
    if ref is None or data.round <= ref.round:
        return {CHANGED_SHARE: np.nan, **dict.fromkeys(groups, np.nan), CHANGE: distance, CHANGE_P: pvalue}
    now = split_by_agent(np.asarray(data.embeddings, dtype=float), data.owners, n)
    before = split_by_agent(np.asarray(ref.embeddings, dtype=float), ref.owners, n)
    tested = [i for i in range(n) if len(now[i]) >= 2 and len(before[i]) >= 2]
    if tested:
        _, distance[tested], pvalue[tested] = two_sample_tests(
            [now[i] for i in tested], [before[i] for i in tested], data.settings.permutations, data.rng(3)
        )
    share = float(np.mean(pvalue[tested] <= data.settings.alpha)) if tested else np.nan
    out: dict[str, object] = {CHANGED_SHARE: share}
    for g, (column, members) in enumerate(groups.items()):
        out[column] = _group_test(data, now, before, members, g)
    return {**out, CHANGE: distance, CHANGE_P: pvalue}


def two_sample_tests(
    first: list[np.ndarray], second: list[np.ndarray], permutations: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each j, the two-sample energy test of first[j] against second[j]: (statistics a·b/(a+b)·E, energy
    distances E, p-values). Tests of equal sizes run together; the permutations are drawn in order of j."""
    k = len(first)
    stats, dists, ps = np.empty(k), np.empty(k), np.empty(k)
    labels = [_labels(len(a), len(b), permutations, rng) for a, b in zip(first, second, strict=True)]
    sizes: dict[tuple[int, int], list[int]] = {}
    for j, (a, b) in enumerate(zip(first, second, strict=True)):
        sizes.setdefault((len(a), len(b)), []).append(j)
    for (a, b), members in sizes.items():
        per_test = (a + b) * (a + b + permutations + 1)
        step = max(1, _CELLS // per_test)
        for start in range(0, len(members), step):
            block = members[start : start + step]
            pooled = np.stack([np.concatenate([first[j], second[j]]) for j in block])  # (g, M, d)
            z = np.stack([labels[j] for j in block])  # (g, P + 1, M): row 0 the observed labelling
            scores = _statistics(_distances(pooled), z, a, b)  # (g, P + 1)
            observed = scores[:, 0]
            stats[block] = observed
            dists[block] = observed * (a + b) / (a * b)
            tolerance = 1e-9 * np.maximum(
                np.abs(observed), 1e-12
            )  # rounding must not turn a tie into "above"
            ps[block] = (1 + (scores[:, 1:] >= (observed - tolerance)[:, None]).sum(axis=1)) / (
                1 + permutations
            )
    return stats, dists, ps


def _labels(a: int, b: int, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """(P + 1, a + b) indicators of "round t" (1) against "round s" (0): the observed labelling, then P
    uniformly random ones with exactly a ones."""
    observed = np.r_[np.ones(a), np.zeros(b)]
    keys = rng.random((permutations, a + b))
    ranks = keys.argsort(axis=1).argsort(axis=1)
    return np.vstack([observed, (ranks < a).astype(float)])


def _distances(x: np.ndarray) -> np.ndarray:
    """(g, M, M) Euclidean distances within each of g sets (M, d)."""
    squares = (x * x).sum(axis=-1)
    gaps = squares[:, :, None] + squares[:, None, :] - 2.0 * (x @ x.transpose(0, 2, 1))
    out = np.sqrt(np.clip(gaps, 0.0, None))
    diagonal = np.arange(x.shape[1])
    out[:, diagonal, diagonal] = 0.0
    return out


def _statistics(d: np.ndarray, z: np.ndarray, a: int, b: int) -> np.ndarray:
    """a·b/(a+b)·(2·mean D_AB − mean D_AA − mean D_BB) for each labelling z (g, P, M) of distances d (g, M, M)."""
    dz = d @ z.transpose(0, 2, 1)  # (g, M, P)
    within = np.einsum("gpm,gmp->gp", z, dz)  # zᵀ D z: pairs inside A
    rows = d.sum(axis=2)  # (g, M)
    across = np.einsum("gpm,gm->gp", z, rows) - within  # zᵀ D (1 − z)
    total = d.sum(axis=(1, 2))[:, None]
    other = total - within - 2 * across  # (1 − z)ᵀ D (1 − z)
    energy = 2 * across / (a * b) - within / (a * a) - other / (b * b)
    return a * b / (a + b) * energy


def _group_test(data: RoundData, now: list, before: list, members: tuple[int, ...], g: int) -> float:
    """The stratified test of one group: its members' pooled answers of round t against round s, labels
    permuted within each member. NaN when fewer than two members answered in both rounds."""
    size = data.settings.test_agents
    members = np.asarray(members)
    if len(members) > size:
        members = np.sort(data.rng(5, g).choice(members, size=size, replace=False))
    members = [i for i in members if len(now[i]) >= 2 and len(before[i]) >= 2]
    if len(members) < 2:
        return np.nan
    rng = data.rng(4, g)
    permutations = data.settings.permutations
    blocks = [_labels(len(now[i]), len(before[i]), permutations, rng) for i in members]
    z = np.hstack(blocks)[None]  # (1, P + 1, M)
    pooled = np.concatenate([np.concatenate([now[i], before[i]]) for i in members])[None]
    a = sum(len(now[i]) for i in members)
    b = sum(len(before[i]) for i in members)
    scores = _statistics(_distances(pooled), z, a, b)[0]
    observed = scores[0]
    tolerance = 1e-9 * max(abs(observed), 1e-12)
    return float((1 + (scores[1:] >= observed - tolerance).sum()) / (1 + permutations))
