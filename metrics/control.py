"""A control chart per agent: has it left the range its change statistic kept just after the reference round?

Each agent's statistic is its ``change`` (the energy distance of its answers from its own answers of the
reference round s, :mod:`~lwd.metrics.change`). An individuals chart (Shewhart's, for one value per period, as
in statistical process control): the centre is the mean of the statistic over the ``control_rounds`` rounds after
s, and the upper control limit the centre plus 2.66 times their mean moving range (3σ, σ estimated as the mean
moving range / 1.128). Moving away from the reference only raises the statistic, so the chart is one-sided: an
agent *signals* at the first of two rounds in a row, after the calibration rounds, whose statistic is above its
limit. The statistic is skewed and every round is compared with the same reference answers, so a single point
above 3σ is chance far more often than the normal 0.13% (3–4% of rounds in a synthetic null); two in a row
bring an agent's chance of any false signal over 35 monitored rounds to a few percent with 10 calibration rounds
(docs/collapse.md measures it, with never-reading agents).

Pure functions of the statistic by round (a (rounds, agents) array), so the TUI (live, as rounds come) and the
report (from the run's tables) draw the same chart; linear in the agents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ControlChart", "control_chart", "SIGMA_FROM_RANGE", "RUN"]

SIGMA_FROM_RANGE = 3 / 1.128  # 2.66: three standard deviations from the mean moving range of pairs
RUN = (
    2  # rounds in a row above the limit that make a signal (the statistic is skewed: one is too often chance)
)


@dataclass(frozen=True)
class ControlChart:
    """Each agent's centre and upper limit (NaN while its calibration rounds are not all there), and the first
    round it signalled (−1: none yet). ``first``: the first round checked against the limits."""

    centre: np.ndarray
    limit: np.ndarray
    signal: np.ndarray
    first: int


def control_chart(
    statistic: np.ndarray, reference: int, window: int, calibration: np.ndarray | None = None
) -> ControlChart:
    """The chart of ``statistic`` (rounds × agents, NaN where undefined; row t is round t): calibrated on rounds
    reference+1 … reference+window, then each later round checked. An agent with a NaN among its calibration
    rounds gets no limit. ``calibration`` (rounds × agents): the same statistic of a *control run* (agents that
    never read, say), whose rounds set the limits instead; then every round after the reference is checked, so a
    change that came at once (round s+1) can signal."""
    values = np.asarray(statistic, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n = values.shape[1]
    if calibration is not None:
        rows, first = np.asarray(calibration, dtype=float).reshape(-1, n), reference + 1
    else:
        first = reference + 1 + window
        if len(values) < first:
            nan = np.full(n, np.nan)
            return ControlChart(nan, nan, np.full(n, -1), first)
        rows = values[reference + 1 : first]
    centre = rows.mean(axis=0)
    spread = np.abs(np.diff(rows, axis=0)).mean(axis=0)
    limit = centre + SIGMA_FROM_RANGE * spread
    with np.errstate(invalid="ignore"):
        above = values[first:] > limit
    hits = np.logical_and.reduce([above[k : len(above) - RUN + 1 + k] for k in range(RUN)])  # RUN in a row
    if len(hits) == 0:
        return ControlChart(centre, limit, np.full(n, -1), first)
    hit = hits.any(axis=0)
    signal = np.where(hit, first + hits.argmax(axis=0), -1)
    return ControlChart(centre, limit, signal, first)
