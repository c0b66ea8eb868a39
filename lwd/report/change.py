"""Each agent over time: when its own answers changed (the change test) and when its control chart signalled.

From the run's tables: the per-agent ``change`` statistic and ``change_p`` p-values (metrics.csv columns for a
small network, agent_metrics.csv rows for a large one), the group p-values. Written: ``changes.csv`` (one row per
agent: its first round of lasting change by the onset's rule, its control centre and limit, its first signal),
``figures/control.png``, a ``change`` section in collapse.json and a chart in report.html.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lwd.core.errors import RunFolderError
from lwd.core.files import write_csv
from lwd.metrics import MetricSettings, control_chart, lasting_change
from lwd.metrics.change import CHANGE, CHANGE_P, group_columns, group_name
from lwd.metrics.control import ControlChart
from lwd.metrics.registry import DENSE_AGENTS, MetricContext, family_column
from lwd.report.figures import plt, rounds_figure
from lwd.report.groups import bands
from lwd.run.manifest import MANIFEST, read_manifest
from lwd.run.records import RoundRecord
from lwd.run.rounds import RoundLog

__all__ = [
    "family_by_round",
    "control_rows",
    "change_summary",
    "write_changes",
    "plot_control",
    "Changes",
    "CHANGES",
]

CHANGES = "changes.csv"


def family_by_round(records: list[RoundRecord], agents: list[str], family: str) -> np.ndarray | None:
    """(rounds, agents): a per-agent family's values (``change``), from the round records (a large network's
    ``per_agent``, a small one's columns); None when the run has none (an older lwd)."""
    if records[0].per_agent:
        if family not in records[0].per_agent:
            return None
        return np.array([r.per_agent[family] for r in records], dtype=float)
    if family_column(family, agents[0]) not in records[0].metrics:
        return None
    return np.array(
        [[r.metrics.get(family_column(family, a), np.nan) for a in agents] for r in records], dtype=float
    )


@dataclass(frozen=True)
class Changes:
    """What the change tests and the control chart found: ``summary`` (collapse.json's ``change``), the chart,
    the statistic (rounds × agents) and each agent's first round of lasting change (None: none)."""

    summary: dict
    chart: ControlChart
    statistic: np.ndarray
    first_change: list[int | None]


def control_rows(folder: Path, agents: list[str]) -> np.ndarray:
    """The ``change`` statistic of a control run (an ``lwd run`` folder, its agents that never read, say) after
    its reference round, as rows × this run's agents (matched by name; NaN for an agent it lacks): the rounds
    that set each agent's control limits instead of this run's first rounds."""
    log = RoundLog(folder)
    records = log.records() if (Path(folder) / MANIFEST).is_file() else []
    if not records:
        raise RunFolderError(
            f"{folder} is not an LLM run folder with committed rounds: it cannot calibrate the control chart",
            fix="give --control-run the folder of an `lwd run` (agents named like this run's, that never read)",
        )
    names = [a.agent for a in records[0].agents]
    statistic = family_by_round(records, names, CHANGE)
    shared = [a for a in agents if a in names]
    if statistic is None or not shared:
        raise RunFolderError(
            f"the control run {folder} has "
            + (
                "no change statistic (an older lwd)"
                if statistic is None
                else f"none of this run's agents {agents}"
            )
            + f"; its agents: {names}",
            fix="run the control with the same agent names (e.g. the scenario with `beta = 0`), then report again",
        )
    settings = read_manifest(folder).metric_settings
    rows = np.full((len(statistic), len(agents)), np.nan)
    for i, a in enumerate(agents):
        if a in names:
            rows[:, i] = statistic[:, names.index(a)]
    return rows[settings.reference + 1 :]


def change_summary(
    records: list[RoundRecord],
    agents: list[str],
    ctx: MetricContext,
    settings: MetricSettings,
    control: tuple[str, np.ndarray] | None = None,
) -> Changes | None:
    """The agents' and groups' lasting changes and the control chart (calibrated on this run's first rounds, or
    on ``control`` = (its name, :func:`control_rows`)); None when the run has no change test."""
    statistic = family_by_round(records, agents, CHANGE)
    pvalues = family_by_round(records, agents, CHANGE_P)
    if statistic is None or pvalues is None:
        return None
    alpha, m = settings.alpha, settings.consecutive
    first = [lasting_change(list(pvalues[:, i]), alpha, m) for i in range(len(agents))]
    chart = control_chart(
        statistic, settings.reference, settings.control_rounds, None if control is None else control[1]
    )
    groups = {
        group_name(column): lasting_change([r.metrics.get(column, np.nan) for r in records], alpha, m)
        for column in group_columns(ctx)
    }
    changed = [f for f in first if f is not None]
    signalled = [int(s) for s in chart.signal if s >= 0]
    summary = {
        "test": "two-sample energy permutation test per agent: its answers of round t against round s",
        "reference": settings.reference,
        "rule": f"lasting change: the first of {m} rounds in a row with p ≤ {alpha:g}",
        "agents_changed": len(changed),
        "agents": len(agents),
        "first_change_median": float(np.median(changed)) if changed else None,
        "control": {
            "statistic": "energy distance from the agent's own answers of round s",
            "calibrated_on": f"rounds {settings.reference + 1}–{chart.first - 1} of this run"
            if control is None
            else f"the control run {control[0]} ({len(control[1])} rounds after its reference)",
            "limit": "individuals chart: centre + 2.66 × mean moving range (3σ), one-sided",
            "agents_signalled": len(signalled),
            "first_signal_median": float(np.median(signalled)) if signalled else None,
        },
        "groups": groups,
        "sentence": _sentence(len(agents), changed, signalled, settings),
    }
    if len(agents) <= DENSE_AGENTS:
        summary["first_change"] = dict(zip(agents, first, strict=True))
        summary["control"]["first_signal"] = {
            a: (int(s) if s >= 0 else None) for a, s in zip(agents, chart.signal, strict=True)
        }
    return Changes(summary, chart, statistic, first)


def _sentence(n: int, changed: list[int], signalled: list[int], settings: MetricSettings) -> str:
    said = (
        f"{len(changed)} of {n} agents changed lastingly from their own answers of round {settings.reference}"
        + (f" (median first round {np.median(changed):g})" if changed else "")
    )
    chart = f"the control chart flagged {len(signalled)}" + (
        f" (median first signal round {np.median(signalled):g})" if signalled else ""
    )
    return f"{said}; {chart}."


def write_changes(path: Path, agents: list[str], changes: Changes) -> None:
    """``changes.csv``: per agent its first lasting change, control centre and limit, first signal (empty:
    none)."""
    chart = changes.chart
    rows = (
        {
            "agent": a,
            "first_change": "" if changes.first_change[i] is None else changes.first_change[i],
            "control_centre": chart.centre[i],
            "control_limit": chart.limit[i],
            "first_signal": int(chart.signal[i]) if chart.signal[i] >= 0 else "",
        }
        for i, a in enumerate(agents)
    )
    write_csv(path, rows, ["agent", "first_change", "control_centre", "control_limit", "first_signal"])


def plot_control(
    path: Path, rounds: list[int], statistic: np.ndarray, chart: ControlChart, agents: list[str], name: str
) -> None:
    """Each agent's change statistic with its control limit and first signal (a small network), or the agents'
    median and 10–90% band with the share of agents signalled so far (a large one)."""
    title = f"Control chart: each agent's distance from its round-s answers — {name}"
    with rounds_figure(path, "energy distance from round s", title) as ax:
        if len(agents) <= DENSE_AGENTS:
            for i, agent in enumerate(agents):
                (line,) = ax.plot(rounds, statistic[:, i], marker="o", ms=3, lw=1.2, label=agent)
                if np.isfinite(chart.limit[i]):
                    ax.axhline(chart.limit[i], color=line.get_color(), ls="--", lw=0.8)
                if chart.signal[i] >= 0:
                    t = int(chart.signal[i])
                    ax.plot([t], [statistic[rounds.index(t), i]], "x", color=line.get_color(), ms=9, mew=2)
        else:
            middle, low, high = bands(statistic.T)
            ax.fill_between(rounds, low, high, alpha=0.3, label="agents: 10–90%")
            ax.plot(rounds, middle, lw=1.4, label="median agent")
            share = [(chart.signal[chart.signal >= 0] <= t).sum() / len(agents) for t in rounds]
            right = ax.twinx()
            right.plot(rounds, share, color="tab:red", lw=1.2)
            right.set_ylabel("share of agents signalled", color="tab:red")
            right.set_ylim(0, 1)
        ax.axvline(chart.first - 0.5, color="grey", lw=0.8, ls=":")  # calibration rounds to its left
    plt.close("all")
