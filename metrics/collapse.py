"""The collapse metrics every run records (registered with :mod:`lwd.metrics.registry`): the paper's ‖D‖_F,
each agent's spread around its mean answer, and ‖D‖_F within and between communities."""

from __future__ import annotations

import numpy as np

from lwd.metrics.distance import community_norms, pairwise_norm
from lwd.metrics.registry import MetricContext, Need, RoundData, Scope, metric
from lwd.metrics.summary import spreads

__all__ = ["FROBENIUS", "SPREAD", "frobenius", "spread", "communities"]

FROBENIUS = "frobenius"  # the paper's collapse metric: its column's name, spelled here only
SPREAD = "spread"


@metric(FROBENIUS, needs={Need.MEANS}, label="‖D‖_F", summary=True)
def frobenius(data: RoundData) -> np.ndarray:
    """‖D⁽ᵗ⁾‖_F, the paper's collapse metric (Eq. 2 / Eq. 4), over the agents with a valid answer this round
    (an agent whose every answer failed is left out); NaN when fewer than two agents answered. Computed from the
    means without D (:func:`~lwd.metrics.distance.pairwise_norm`): O(n·d) at any n."""
    return pairwise_norm(data.means)


@metric(SPREAD, needs={Need.MEANS, Need.EMBEDDINGS}, per_agent=(SPREAD,), label="spread around X_i")
def spread(data: RoundData) -> dict[str, np.ndarray]:
    """Each agent's spread around its mean answer, sqrt(mean_l ‖ϕ(f_il) − X_i‖²): its own collapse."""
    return {SPREAD: np.asarray(spreads(data.embeddings, data.owners, data.means), dtype=float)}


def _community_columns(ctx: MetricContext) -> list[str]:
    return [*(f"within_{c}" for c in ctx.communities), "between"] if ctx.communities else []


@metric(
    "communities",
    needs={Need.MEANS},
    columns=_community_columns,
    label="‖D‖_F within / between",
    scope=Scope.COMMUNITY,
)
def communities(data: RoundData) -> dict[str, np.ndarray]:
    """‖D‖_F over the pairs inside each community (``within_<c>``) and over the pairs that cross (``between``)."""
    return community_norms(data.means, dict(data.communities))
