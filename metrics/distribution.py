"""Metrics of the answers' distributions (LLM mode), registered beside ‖D‖_F.

‖D‖_F compares the agents' *mean* answers. With unit-norm embeddings the mean of one agent's answers lengthens
as that agent's answers collapse onto one another, so D can grow while the agents converge in direction. These
metrics separate "each agent collapses" from "the agents converge to each other":

- ``dispersion``: the answers' spread split into the part between agents and the part within them (the share
  of the spread that is between agents, ``between_share``, is 0 when every agent answers like the others);
- ``energy``: the energy distance between every pair of agents' answer sets (a distance between distributions,
  not means; 0 iff the distributions are equal) and the Frobenius norm of that n×n matrix;
- ``energy_test``: the k-sample permutation test of "all agents answer from one distribution" on the energy
  statistic, seeded from the run seed and the round.

At scale (see :data:`~lwd.metrics.registry.DENSE_AGENTS`): a small network gets a column per pair, from dcor. Up to
:data:`EXACT_AGENTS` agents the n×n matrix E is computed at once from every answer's distances to every other
(matrix products in blocks, O(m²·d) for m answers) and kept in the round's arrays (``energy``), ‖E‖_F exact.
Beyond, ‖E‖_F is estimated from :data:`SAMPLED_PAIRS` pairs of agents drawn from the stream (seed, METRICS,
round, 1), with its standard error (``energy_se``). The test compares every agent of a network of at most
``test_agents`` agents, else a sample of that many drawn each round (stream key 2): a permutation test on a
sample chosen independently of the answers keeps its level; it sees only the sampled agents.

The energy statistics come from ``dcor`` (Székely & Rizzo's energy statistics, maintained as a library): it
computes the pairwise distances once and permutes labels on them, has no heavy dependencies (numpy, scipy,
numba), so the core install keeps it, and ~0.1 s per round at L = 40, n = 3 with 199 permutations.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import sparse
from scipy.spatial.distance import pdist, squareform

from lwd.metrics.registry import DENSE_AGENTS, Column, Kind, MetricContext, Need, RoundData, Scope, metric

__all__ = [
    "dispersion",
    "energy",
    "energy_test",
    "pair_column",
    "answer_sets",
    "split_by_agent",
    "energy_matrix",
    "agents_tested",
    "permutation_energy_test",
    "EXACT_AGENTS",
    "SAMPLED_PAIRS",
]

EXACT_AGENTS = 1000  # ‖E‖_F from the whole matrix up to this many agents; estimated from sampled pairs beyond
SAMPLED_PAIRS = 20_000
_BLOCK = 2**23  # distances computed at once when E is built (64 MiB of float64)


def answer_sets(data: RoundData) -> list[np.ndarray]:
    """Each agent's embedded answers this round, in their order (an empty (0, d) array for an agent whose answers
    all failed)."""
    return split_by_agent(data.embeddings, data.owners, len(data.names))


def split_by_agent(embeddings: np.ndarray, owners: np.ndarray, n: int) -> list[np.ndarray]:
    """The rows of ``embeddings`` of each of n agents (``owners``: the agent of each row), in their order. One
    stable sort of the owners: O(m log m), not a pass over the answers per agent."""
    owners = np.asarray(owners, dtype=np.int64)
    order = np.argsort(owners, kind="stable")
    counts = np.bincount(owners, minlength=n)
    return np.split(np.asarray(embeddings)[order], np.cumsum(counts)[:-1])


@metric(
    "dispersion",
    needs={Need.EMBEDDINGS, Need.MEANS},
    columns=lambda ctx: [
        Column("between_share", "dispersion", Scope.NETWORK, Kind.SHARE, "between-agent share of the spread"),
        "dispersion_within",
        "dispersion_between",
    ],
    kind={"dispersion_within": Kind.STATISTIC, "dispersion_between": Kind.STATISTIC},
    label="answers' spread: share between agents",
    summary=True,
)
def dispersion(data: RoundData) -> dict[str, float]:
    """The mean squared distance of the answers to their grand mean, split into within agents (to each agent's
    mean) and between agents (the agents' means to the grand mean, weighted by their answers);
    ``between_share`` = between / total."""
    e = np.asarray(data.embeddings, dtype=float)
    if len(e) == 0:
        return {"between_share": np.nan, "dispersion_within": np.nan, "dispersion_between": np.nan}
    total = float(((e - e.mean(axis=0)) ** 2).sum(axis=1).mean())
    within = float(((e - data.means[data.owners]) ** 2).sum(axis=1).mean())
    between = max(total - within, 0.0)
    if len(data.names) > 1 and len(np.unique(data.owners)) < 2:  # one agent answered: no "between" to measure
        return {"between_share": np.nan, "dispersion_within": within, "dispersion_between": np.nan}
    return {
        "between_share": between / total if total > 0 else 0.0,
        "dispersion_within": within,
        "dispersion_between": between,
    }


def pair_column(a: str, b: str) -> str:
    """The column of the energy distance between agents a and b: ``energy__a__b``."""
    return f"energy__{a}__{b}"


def _energy_columns(ctx: MetricContext) -> list[str | Column]:
    n = len(ctx.names)
    if n <= DENSE_AGENTS:
        return [
            ENERGY_NORM,
            *(
                Column(pair_column(a, b), "energy", Scope.PAIR, Kind.DISTANCE, f"energy distance {a}–{b}")
                for a, b in itertools.combinations(ctx.names, 2)
            ),
        ]
    return [ENERGY_NORM] if n <= EXACT_AGENTS else [ENERGY_NORM, "energy_se"]


ENERGY_NORM = Column("energy", "energy", Scope.NETWORK, Kind.DISTANCE, "‖E‖_F (energy distances)")


@metric("energy", needs={Need.EMBEDDINGS}, columns=_energy_columns, label="energy distances", summary=True)
def energy(data: RoundData) -> dict[str, float]:
    """E_ij, the energy distance between agent i's and agent j's answer sets (V-statistic), for every pair, and
    ‖E‖_F over the n×n matrix of the agents that answered (a pair with an agent without answers is NaN and left
    out; ‖E‖_F is NaN when no pair is left, as ‖D‖_F is). A small network gets a column per pair; a larger one
    keeps E in the round's arrays; past EXACT_AGENTS agents ‖E‖_F is estimated, with ``energy_se``."""
    n = len(data.names)
    if n > EXACT_AGENTS:
        return _sampled_energy(data)
    if n > DENSE_AGENTS:
        matrix = energy_matrix(data.embeddings, data.owners, n)
        data.arrays["energy"] = matrix
        values = matrix[np.triu_indices(n, 1)]
        return {"energy": _norm(values)}
    dcor = _dcor()
    sets = answer_sets(data)
    pairs = {}
    for (i, a), (j, b) in itertools.combinations(enumerate(data.names), 2):
        value = float(dcor.energy_distance(sets[i], sets[j])) if len(sets[i]) and len(sets[j]) else np.nan
        pairs[pair_column(a, b)] = value
    return {"energy": _norm(np.array(list(pairs.values()), dtype=float)), **pairs}


def _norm(values: np.ndarray) -> float:
    """‖E‖_F from the pairs i < j (NaN for a pair with an agent without answers): both (i, j) and (j, i) count,
    like ‖D‖_F; NaN when every pair is NaN."""
    if len(values) and np.isnan(values).all():
        return np.nan
    return float(np.sqrt(2 * (np.nan_to_num(values) ** 2).sum()))


def energy_matrix(embeddings: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """E (n, n): the energy distance (V-statistic) between every two agents' answers, 2·A_ij − A_ii − A_jj with A_ij
    the mean distance between an answer of i and one of j; NaN rows for agents without answers.

    The distances are those between the *distinct* answers (a network whose agents repeat themselves or copy
    one another has far fewer distinct answers than answers): every distinct answer's distance to every other,
    in blocks of rows (‖a‖² + ‖b‖² − 2a·b, in float64), summed per agent pair through the (agent × distinct
    answer) count matrix C as C·Δ·Cᵀ; O(u²·d) time for u distinct answers, O(block) memory, no loop over pairs."""
    x = np.asarray(embeddings, dtype=float)
    owners = np.asarray(owners, dtype=np.int64)
    distinct, which = np.unique(x, axis=0, return_inverse=True) if len(x) else (x, owners)
    which = np.asarray(which, dtype=np.int64).reshape(-1)
    u = len(distinct)
    counts = sparse.csr_matrix((np.ones(len(x)), (owners, which)), shape=(n, u))  # C
    squares = (distinct * distinct).sum(axis=1)
    totals = np.zeros((n, n))
    rows = max(1, _BLOCK // max(u, 1))
    for start in range(0, u, rows):
        block = slice(start, min(u, start + rows))
        gaps = squares[block, None] + squares[None, :] - 2.0 * (distinct[block] @ distinct.T)
        distances = np.sqrt(np.clip(gaps, 0.0, None))  # (rows, u)
        here = np.arange(block.stop - block.start)
        distances[here, block.start + here] = 0.0  # an answer from itself: 0, not √(rounding) ≈ 1e-8
        totals += counts[:, block] @ np.asarray(counts @ distances.T).T  # C_block · Δ_block · Cᵀ
    answers = np.bincount(owners, minlength=n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = totals / np.outer(answers, answers)
    own = np.diag(mean)
    matrix = 2.0 * mean - own[:, None] - own[None, :]
    np.fill_diagonal(matrix, 0.0)
    matrix[answers == 0, :] = np.nan
    matrix[:, answers == 0] = np.nan
    return matrix


def _sampled_energy(data: RoundData) -> dict[str, float]:
    """‖E‖_F of a large network from SAMPLED_PAIRS pairs of agents that answered, drawn uniformly (with
    replacement) from the stream (seed, METRICS, round, 1): Σ_{i<j} E_ij² is estimated by (number of pairs) ×
    the sampled pairs' mean E², unbiased; its standard error from theirs, carried to ‖E‖_F by the delta method."""
    sets = answer_sets(data)
    answered = np.flatnonzero([len(s) > 0 for s in sets])
    k = len(answered)
    if k < 2:
        return {"energy": np.nan, "energy_se": np.nan}
    rng = data.rng(1)
    first = rng.integers(0, k, SAMPLED_PAIRS)
    second = (first + rng.integers(1, k, SAMPLED_PAIRS)) % k  # uniform over the other agents
    within = {int(i): _mean_distance(sets[i], sets[i]) for i in np.unique(answered[np.r_[first, second]])}
    squares = np.empty(SAMPLED_PAIRS)
    for p, (i, j) in enumerate(zip(answered[first], answered[second], strict=True)):
        value = 2 * _mean_distance(sets[i], sets[j]) - within[int(i)] - within[int(j)]
        squares[p] = value * value
    pairs = k * (k - 1) / 2
    total = pairs * squares.mean()
    se_total = pairs * squares.std(ddof=1) / np.sqrt(SAMPLED_PAIRS)
    norm = float(np.sqrt(2 * total))
    return {"energy": norm, "energy_se": float(se_total / norm) if norm > 0 else 0.0}  # d‖E‖/dΣ = 1/‖E‖


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The mean Euclidean distance between the rows of a and the rows of b."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    gaps = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return float(np.sqrt(np.clip(gaps, 0.0, None)).mean())


def agents_tested(data: RoundData) -> np.ndarray:
    """The agents the round's test compares: every agent when the network has at most ``test_agents``, else a
    sample of that many (without replacement, in index order) from the stream (seed, METRICS, round, 2)."""
    n, size = len(data.names), data.settings.test_agents
    if n <= size:
        return np.arange(n)
    return np.sort(data.rng(2).choice(n, size=size, replace=False))


@metric(
    "energy_test",
    needs={Need.EMBEDDINGS},
    columns=lambda ctx: [
        Column("energy_p", "energy_test", Scope.NETWORK, Kind.PVALUE, "p-value of the energy test"),
        "energy_stat",
    ],
    kind={"energy_stat": Kind.STATISTIC},
    label="p-value: all agents answer alike",
    summary=True,
    ratio=False,
)
def energy_test(data: RoundData) -> dict[str, float]:
    """The k-sample energy test of "every agent's answers come from one distribution": the permutation
    p-value (``settings.permutations`` relabellings, from the stream (seed, METRICS, round)) and the statistic,
    over every agent of a network of at most ``settings.test_agents``, else over a seeded sample of that many.
    NaN when a tested agent has fewer than 2 answers."""
    sets = answer_sets(data)
    sets = [sets[i] for i in agents_tested(data)]
    if len(sets) < 2 or min(len(s) for s in sets) < 2:
        return {"energy_p": np.nan, "energy_stat": np.nan}
    if len(sets) > DENSE_AGENTS:  # the same test, its permutations summed in blocks (dcor loops over pairs)
        pvalue, statistic = permutation_energy_test(sets, data.settings.permutations, data.rng(0))
        return {"energy_p": pvalue, "energy_stat": statistic}
    result = _dcor().homogeneity.energy_test(
        *(s.astype(float) for s in sets),
        num_resamples=data.settings.permutations,
        random_state=data.rng(0),
    )
    return {"energy_p": float(result.pvalue), "energy_stat": float(result.statistic)}


def _dcor():
    """dcor, imported where a round first needs it: its import compiles numba functions without a cache (~14 s
    on 2 cores), a cost every `lwd` command would pay at start-up — the GMM mode never needs it."""
    import dcor

    return dcor


def permutation_energy_test(
    sets: list[np.ndarray], permutations: int, rng: np.random.Generator
) -> tuple[float, float]:
    """dcor's k-sample energy test (the statistic Σ_{i<j} n_i·n_j/(n_i + n_j)·E_ij with V-statistic E, p-value
    (1 + #{permuted > observed}) / (1 + permutations), permutations ``rng.permutation`` of the pooled answers):
    the same permutations give the same statistic to rounding, but each is scored by block sums of the permuted
    distance matrix, O(M²) for M pooled answers, instead of a Python loop over the k(k−1)/2 pairs."""
    sizes = np.array([len(s) for s in sets])
    pooled = np.concatenate([np.asarray(s, dtype=float) for s in sets])
    distances = squareform(pdist(pooled))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    weights = np.triu(np.outer(sizes, sizes) / np.add.outer(sizes, sizes), 1)
    products = np.outer(sizes, sizes).astype(float)

    def statistic(matrix: np.ndarray) -> float:
        sums = np.add.reduceat(np.add.reduceat(matrix, starts, axis=0), starts, axis=1)
        mean = sums / products
        own = np.diag(mean)
        return float((weights * (2.0 * mean - own[:, None] - own[None, :])).sum())

    observed = statistic(distances)
    larger = sum(
        statistic(distances[np.ix_(order, order)]) > observed
        for order in (rng.permutation(len(pooled)) for _ in range(permutations))
    )
    return (larger + 1) / (permutations + 1), observed
