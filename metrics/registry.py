"""The metric extension point: a per-round metric is one registered function.

::

    from lwd.metrics.registry import Need, RoundData, metric

    @metric("max_gap", needs={Need.DISTANCE}, label="largest D_ij")
    def max_gap(data: RoundData) -> float:
        return float(np.nanmax(data.distance))

Registering is all it takes. Every mode computes every metric whose ``needs`` it can offer (the LLM mode offers
everything; the GMM mode and the matched twin offer the models' summaries and D), and the metric's columns then
appear in ``metrics.csv``, the round record, the TUI's metric list, sweep results (and summaries, with
``summary=True``) and the report's figures.

A metric returns one number (its column is its name) or a mapping ``{column: number}`` whose columns are
``columns(ctx)`` — a function of the network (agents' names, communities), so tables know their header before
the first round. In the GMM mode ``data.means`` carries a leading replicate axis, (R, n, B): a metric that needs
only means or D must broadcast over it (numpy does for the built-ins) and returns arrays of shape (R,).

Metrics of your own: register them in your code with :func:`metric`, or ship them in a package whose module is
named under the entry point group ``lwd.metrics`` (importing it registers them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np

from lwd.core.plugins import Registry
from lwd.core.seeding import METRICS, stream
from lwd.metrics.distance import distance_matrix
from lwd.metrics.settings import MetricSettings

__all__ = [
    "ENTRY_POINT_GROUP",
    "DENSE_AGENTS",
    "Need",
    "LLM",
    "GMM",
    "MetricContext",
    "model_groups",
    "family_column",
    "RoundData",
    "Reference",
    "Metric",
    "metric",
    "registered",
    "computable",
    "columns",
    "described",
    "evaluate",
    "Column",
    "Kind",
    "Scope",
    "AGENT_SUMMARIES",
    "headlines",
    "onset_column",
    "column_of",
]

ENTRY_POINT_GROUP = "lwd.metrics"
# A small network: up to this many agents a metric may give a column per agent pair, the round's record keeps D,
# and pictures draw every agent. Larger networks keep matrices in the round's arrays (RoundData.arrays).
DENSE_AGENTS = 12


class Scope(StrEnum):
    """What a metric column describes."""

    NETWORK = "network"  # the whole network (‖D‖_F)
    AGENT = "agent"  # one agent (its spread), or a summary over every agent (the median spread)
    PAIR = "pair"  # two agents (their energy distance)
    COMMUNITY = "community"  # a community, or the pairs between communities


class Kind(StrEnum):
    """What a metric column's numbers are."""

    DISTANCE = "distance"  # ≥ 0, in embedding units (norms, spreads, energy distances)
    PVALUE = "p-value"  # in [0, 1]: small means told apart
    SHARE = "share"  # in [0, 1]: a fraction
    STATISTIC = "statistic"  # a test statistic or sum of squares
    COUNT = "count"


AGENT_SUMMARIES = ("mean", "q10", "median", "q90")  # a per-agent quantity of a large network in metrics.csv


@dataclass(frozen=True)
class Column:
    """One column of metrics.csv, as it describes itself: the report, the TUI and sweeps read these instead of
    knowing column names. ``family`` is the per-agent quantity a column belongs to (``spread``): with ``agent``
    (a small network: a column per agent) or ``stat`` (a large one: its summaries over the agents)."""

    name: str
    metric: str
    scope: Scope
    kind: Kind
    title: str
    family: str | None = None
    agent: str | None = None
    stat: str | None = None


class Need(StrEnum):
    """What a metric may read about a round."""

    MEANS = "means"  # X_i (LLM: mean embedding of agent i's answers) or Π_i (GMM: its mixture weights)
    DISTANCE = "distance"  # D_ij = ‖X_i − X_j‖₂ (n × n: built on first use; lwd's own metrics need none)
    EMBEDDINGS = "embeddings"  # every answer's embedding and the agent that gave it (LLM)
    TEXTS = "texts"  # every answer's clean text (LLM)
    REFERENCE = (
        "reference"  # the reference round's answers (LLM; ``settings.reference``), beside this round's
    )


LLM = frozenset(Need)  # what the LLM mode offers
GMM = frozenset({Need.MEANS, Need.DISTANCE})  # what the GMM mode and the matched twin offer


@dataclass(frozen=True)
class MetricContext:
    """The network a metric describes: its agents (models) and their communities."""

    names: tuple[str, ...]
    communities: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    models: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # the agents of each model


def family_column(family: str, part: str) -> str:
    """The column of a per-agent family for one agent (``spread_ann``) or one summary over the agents
    (``spread_median``): the one place such a name is built."""
    return f"{family}_{part}"


def model_groups(described: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, ...]]:
    """``{model: its agents' indices}`` from the agents as a manifest describes them (their ``model``)."""
    out: dict[str, list[int]] = {}
    for i, agent in enumerate(described):
        out.setdefault(str(agent.get("model") or agent.get("backend") or "?"), []).append(i)
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True)
class Reference:
    """The answers of the round a change is measured from: ``embeddings`` (m, d), ``owners`` (m,)."""

    round: int
    embeddings: np.ndarray
    owners: np.ndarray


@dataclass(frozen=True, kw_only=True)
class RoundData(MetricContext):
    """One round, as the metrics see it. n agents, m answers, d dimensions.

    ``means`` (..., n, d); ``embeddings`` (m, d) and ``owners`` (m,) the agent of each row; ``texts`` (m,)
    — the last three only in the LLM mode. ``round`` and ``seed`` give a metric that draws at random its own
    reproducible stream (:meth:`rng`); ``settings`` is the scenario's ``[metrics]`` table."""

    means: np.ndarray
    round: int = 0
    seed: int = 0
    settings: MetricSettings = field(default_factory=MetricSettings)
    embeddings: np.ndarray | None = None
    owners: np.ndarray | None = None
    texts: tuple[str, ...] | None = None
    reference: Reference | None = None  # the reference round's answers, from the round after it on (LLM)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # matrices a metric leaves for the round's
    # arrays file (an n × n matrix of a large network is not CSV columns); the LLM mode saves them with the round
    per_agent: dict[str, np.ndarray] = field(default_factory=dict)  # a large network's per-agent quantities
    # ({family: (n,)}), whose summaries are its metrics.csv columns; the LLM mode writes them to agent_metrics.csv

    @cached_property
    def distance(self) -> np.ndarray:
        """D (..., n, n); NaN in the rows of an agent without a valid answer this round."""
        return distance_matrix(self.means)

    def rng(self, *key: int) -> np.random.Generator:
        """A Generator of its own for a metric's random draws: stream (seed, METRICS, round, *key)."""
        return stream(self.seed, METRICS, self.round, *key)


@dataclass(frozen=True)
class Metric:
    """A registered per-round metric."""

    name: str
    compute: Callable[[RoundData], Any]
    needs: frozenset[Need]
    own_columns: Callable[[MetricContext], list[str | Column]]
    label: str  # how figures and the TUI name it
    summary: bool  # sweeps and comparisons report its headline (first) column's initial and final values
    ratio: bool  # ... and their ratio, final / initial (meaningless for a p-value)
    description: str
    kind: Kind | Mapping[str, Kind] = Kind.DISTANCE  # of its columns (a mapping: by column or family)
    scope: Scope = Scope.NETWORK  # of its columns that are not per agent (unless a Column says)
    per_agent: tuple[str, ...] = ()  # families: compute returns {family: (..., n) array}, one value per agent

    def columns(self, ctx: MetricContext) -> list[str]:
        """The names of its columns for this network, in order."""
        return [c.name for c in self.describe(ctx)]

    def describe(self, ctx: MetricContext) -> list[Column]:
        """Its columns for this network, each saying what it is. A per-agent family is a column per agent up to
        DENSE_AGENTS agents (``spread_<agent>``, agent by agent), else its summaries over the agents
        (``spread_mean``, ``spread_q10``, ``spread_median``, ``spread_q90``)."""
        out = [
            c if isinstance(c, Column) else Column(c, self.name, self.scope, self._kind(c), self._title(c))
            for c in self.own_columns(ctx)
        ]
        if len(ctx.names) <= DENSE_AGENTS:
            out += [
                Column(family_column(f, a), self.name, Scope.AGENT, self._kind(f), f"{f} of {a}", f, agent=a)
                for a in ctx.names
                for f in self.per_agent
            ]
        else:
            out += [
                Column(
                    family_column(f, s),
                    self.name,
                    Scope.AGENT,
                    self._kind(f),
                    f"{f}: {s} over agents",
                    f,
                    stat=s,
                )
                for f in self.per_agent
                for s in AGENT_SUMMARIES
            ]
        return out

    def _kind(self, key: str) -> Kind:
        return self.kind.get(key, Kind.DISTANCE) if isinstance(self.kind, Mapping) else self.kind

    def _title(self, column: str) -> str:
        return self.label if column == self.name else column

    def values(self, data: RoundData) -> dict[str, float | np.ndarray]:
        """``{column: value}`` for one round, checked against the declared columns; a value is a float (numpy
        scalars included), or a float array with the leading axes of ``data.means`` (the GMM mode). A per-agent
        family becomes its columns (:meth:`describe`); a large network's full values go to ``data.per_agent``."""
        result = self.compute(data)
        values = dict(result) if isinstance(result, Mapping) else {self.name: result}
        families = {f: np.asarray(values.pop(f), dtype=float) for f in self.per_agent if f in values}
        if set(families) != set(self.per_agent):
            raise RuntimeError(
                f"metric {self.name!r} returned the families {sorted(families)}, but declares {list(self.per_agent)}"
            )
        n = len(data.names)
        if n <= DENSE_AGENTS:
            values.update(
                {family_column(f, a): families[f][..., i] for i, a in enumerate(data.names) for f in families}
            )
        else:
            for f, v in families.items():
                values.update(
                    dict(zip((family_column(f, s) for s in AGENT_SUMMARIES), _summaries(v), strict=True))
                )
                data.per_agent[f] = v
        expected = self.columns(data)
        if list(values) != expected:
            raise RuntimeError(
                f"metric {self.name!r} returned the columns {list(values)}, but declares {expected}"
            )
        return {k: float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=float) for k, v in values.items()}


def _summaries(values: np.ndarray) -> list[np.ndarray]:
    """Mean, 10% quantile, median and 90% quantile over the agents (the last axis), NaN (an agent without
    answers) left out; NaN when every agent is."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: NaN, said once in the table, not warned
        return [
            np.nanmean(values, axis=-1),
            np.nanpercentile(values, 10, axis=-1),
            np.nanmedian(values, axis=-1),
            np.nanpercentile(values, 90, axis=-1),
        ]


REGISTRY: Registry[Metric] = Registry(
    "metric", ENTRY_POINT_GROUP, imports=True
)  # an entry point names a module


def metric(
    name: str,
    *,
    needs: set[Need] | frozenset[Need],
    columns: Callable[[MetricContext], list[str | Column]] | None = None,
    label: str | None = None,
    summary: bool = False,
    ratio: bool = True,
    kind: Kind | Mapping[str, Kind] = Kind.DISTANCE,
    scope: Scope = Scope.NETWORK,
    per_agent: tuple[str, ...] = (),
) -> Callable[[Callable[[RoundData], Any]], Callable[[RoundData], Any]]:
    """Decorator: register ``function(data: RoundData)`` as the per-round metric ``name``.

    ``kind`` and ``scope`` describe its columns (:class:`Column`; ``kind`` by column or family when a mapping).
    ``per_agent`` names families of one value per agent: the function returns ``{family: array}`` (last axis:
    the agents) and lwd makes them columns (a small network) or summaries plus agent_metrics.csv (a large one).
    A metric with only families has no ``columns`` of its own."""

    def register(function: Callable[[RoundData], Any]) -> Callable[[RoundData], Any]:
        known = REGISTRY.registered(name)
        if known is not None and known.compute is not function:
            raise ValueError(f"a metric named {name!r} is already registered ({known.compute})")
        REGISTRY.add(
            name,
            Metric(
                name=name,
                compute=function,
                needs=frozenset(Need(n) for n in needs),
                own_columns=columns or ((lambda ctx: []) if per_agent else (lambda ctx: [name])),
                label=label or name,
                summary=summary,
                ratio=ratio,
                description=" ".join((function.__doc__ or "").split()),
                kind=kind,
                scope=scope,
                per_agent=tuple(per_agent),
            ),
        )
        return function

    return register


def registered() -> list[Metric]:
    """Every metric: lwd's own, those registered in your code, and the entry points' (imported once)."""
    return list(REGISTRY.load_all().values())


def computable(provides: frozenset[Need]) -> list[Metric]:
    """The metrics a mode can compute with what it ``provides`` (:data:`LLM` or :data:`GMM`)."""
    return [m for m in registered() if m.needs <= provides]


def columns(ctx: MetricContext, provides: frozenset[Need]) -> list[str]:
    """Every metric column a mode writes for this network, in registration order."""
    return [column for m in computable(provides) for column in m.columns(ctx)]


def described(ctx: MetricContext, provides: frozenset[Need]) -> list[Column]:
    """Every metric column a mode writes for this network, each describing itself."""
    return [column for m in computable(provides) for column in m.describe(ctx)]


def headlines(ctx: MetricContext | None = None, *, ratio: bool = False) -> list[Column]:
    """The headline (first) column of every metric registered with ``summary=True``, in registration order:
    what sweeps, comparisons and the collapse summary report. ``ratio``: only those whose final / initial
    ratio means something (not a p-value's)."""
    ctx = ctx or MetricContext(())
    return [
        m.describe(ctx)[0] for m in registered() if m.summary and (m.ratio or not ratio) and m.describe(ctx)
    ]


def onset_column() -> str:
    """The column the collapse onset reads: the network-wide p-value among the headlines (the energy test's)."""
    return next(c.name for c in headlines() if c.kind is Kind.PVALUE and c.scope is Scope.NETWORK)


def column_of(name: str, ctx: MetricContext | None = None) -> Column | None:
    """A column by its name (a network-wide one needs no ``ctx``; a per-agent or pair column needs the
    network's), as it describes itself; None when no registered metric writes it."""
    ctx = ctx or MetricContext(())
    return next((c for m in registered() for c in m.describe(ctx) if c.name == name), None)


def evaluate(data: RoundData, provides: frozenset[Need]) -> dict[str, Any]:
    """Every computable metric of one round: ``{column: value}``."""
    out: dict[str, Any] = {}
    for m in computable(provides):
        out.update(m.values(data))
    return out
