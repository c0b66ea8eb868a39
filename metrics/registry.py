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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from importlib.metadata import entry_points
from typing import Any

import numpy as np

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
    "RoundData",
    "Metric",
    "metric",
    "registered",
    "computable",
    "columns",
    "evaluate",
]

ENTRY_POINT_GROUP = "lwd.metrics"
# A small network: up to this many agents a metric may give a column per agent pair, the round's record keeps D,
# and pictures draw every agent. Larger networks keep matrices in the round's arrays (RoundData.arrays).
DENSE_AGENTS = 12


class Need(StrEnum):
    """What a metric may read about a round."""

    MEANS = "means"  # X_i (LLM: mean embedding of agent i's answers) or Π_i (GMM: its mixture weights)
    DISTANCE = "distance"  # D_ij = ‖X_i − X_j‖₂ (n × n: built on first use; lwd's own metrics need none)
    EMBEDDINGS = "embeddings"  # every answer's embedding and the agent that gave it (LLM)
    TEXTS = "texts"  # every answer's clean text (LLM)


LLM = frozenset(Need)  # what the LLM mode offers
GMM = frozenset({Need.MEANS, Need.DISTANCE})  # what the GMM mode and the matched twin offer


@dataclass(frozen=True)
class MetricContext:
    """The network a metric describes: its agents (models) and their communities."""

    names: tuple[str, ...]
    communities: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


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
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # matrices a metric leaves for the round's
    # arrays file (an n × n matrix of a large network is not CSV columns); the LLM mode saves them with the round

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
    columns: Callable[[MetricContext], list[str]]
    label: str  # how figures and the TUI name it
    summary: bool  # sweeps and comparisons report its headline (first) column's initial and final values
    ratio: bool  # ... and their ratio, final / initial (meaningless for a p-value)
    description: str

    def values(self, data: RoundData) -> dict[str, float | np.ndarray]:
        """``{column: value}`` for one round, checked against the declared columns; a value is a float (numpy
        scalars included), or a float array with the leading axes of ``data.means`` (the GMM mode)."""
        result = self.compute(data)
        values = dict(result) if isinstance(result, Mapping) else {self.name: result}
        expected = self.columns(data)
        if list(values) != expected:
            raise RuntimeError(
                f"metric {self.name!r} returned the columns {list(values)}, but declares {expected}"
            )
        return {k: float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=float) for k, v in values.items()}


_REGISTRY: dict[str, Metric] = {}
_plugins_loaded = False


def metric(
    name: str,
    *,
    needs: set[Need] | frozenset[Need],
    columns: Callable[[MetricContext], list[str]] | None = None,
    label: str | None = None,
    summary: bool = False,
    ratio: bool = True,
) -> Callable[[Callable[[RoundData], Any]], Callable[[RoundData], Any]]:
    """Decorator: register ``function(data: RoundData)`` as the per-round metric ``name``."""

    def register(function: Callable[[RoundData], Any]) -> Callable[[RoundData], Any]:
        if name in _REGISTRY and _REGISTRY[name].compute is not function:
            raise ValueError(f"a metric named {name!r} is already registered ({_REGISTRY[name].compute})")
        _REGISTRY[name] = Metric(
            name=name,
            compute=function,
            needs=frozenset(Need(n) for n in needs),
            columns=columns or (lambda ctx: [name]),
            label=label or name,
            summary=summary,
            ratio=ratio,
            description=" ".join((function.__doc__ or "").split()),
        )
        return function

    return register


def registered() -> list[Metric]:
    """Every metric: lwd's own, those registered in your code, and the entry points' (loaded once)."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for point in entry_points(group=ENTRY_POINT_GROUP):
            point.load()  # importing the module registers its metrics
    return list(_REGISTRY.values())


def computable(provides: frozenset[Need]) -> list[Metric]:
    """The metrics a mode can compute with what it ``provides`` (:data:`LLM` or :data:`GMM`)."""
    return [m for m in registered() if m.needs <= provides]


def columns(ctx: MetricContext, provides: frozenset[Need]) -> list[str]:
    """Every metric column a mode writes for this network, in registration order."""
    return [column for m in computable(provides) for column in m.columns(ctx)]


def evaluate(data: RoundData, provides: frozenset[Need]) -> dict[str, Any]:
    """Every computable metric of one round: ``{column: value}``."""
    out: dict[str, Any] = {}
    for m in computable(provides):
        out.update(m.values(data))
    return out
