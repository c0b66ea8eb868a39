"""What every figure of lwd shares: a skeleton for lines over rounds, the normalisation by round 0, and one
panel per registered metric."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lwd.core.files import replacing  # noqa: E402
from lwd.metrics import Metric  # noqa: E402
from lwd.metrics.registry import Column, Scope  # noqa: E402
from lwd.report.groups import DENSE_AGENTS, bands  # noqa: E402

__all__ = [
    "plt",
    "save_figure",
    "rounds_figure",
    "normalised",
    "plot_communities",
    "plot_metric_panels",
    "mds_limits",
    "summarised",
    "communities",
]


def save_figure(fig: matplotlib.figure.Figure, path: Path, dpi: int) -> None:
    """Save ``fig`` to ``path`` whole or not at all (a full disk leaves the old file, never half of one)."""
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=dpi)


def normalised(values: np.ndarray | Sequence[float]) -> np.ndarray:
    """Values divided by their first entry along the last axis (NaN where that is 0)."""
    values = np.asarray(values, dtype=float)
    first = values[..., :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(first != 0, values / first, np.nan)


def mds_limits(coords: Sequence[np.ndarray]) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x range, y range) holding every round's MDS points with a 5% margin: axes fixed over a whole run, so a
    shrinking cloud is collapse and not a change of view."""
    every = np.concatenate([c for c in coords if len(c)] or [np.zeros((1, 2))])
    low, high = every.min(axis=0), every.max(axis=0)
    pad = 0.05 * np.maximum(high - low, 1e-9)
    return (low[0] - pad[0], high[0] + pad[0]), (low[1] - pad[1], high[1] + pad[1])


@contextlib.contextmanager
def rounds_figure(path: Path, ylabel: str, title: str, legend: bool = True) -> Iterator:
    """A figure of lines over rounds (integer rounds on x, y from 0), saved to ``path`` when the block ends."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    yield ax
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("round t")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    if legend:
        ax.legend(frameon=False, fontsize="small")
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def plot_communities(rounds, columns: Mapping[str, object], path: Path, name: str) -> None:
    """‖D‖_F within each community and between communities, over rounds."""
    title = f"Collapse within and between communities — {name}"
    with rounds_figure(path, r"$\|D^{(t)}\|_F$ over the pairs", title) as ax:
        for column, values in columns.items():
            between = column == "between"
            label = "between communities" if between else f"within {column.removeprefix('within_')}"
            ax.plot(rounds, values, lw=1.4, ls="--" if between else "-", label=label)


def plot_metric_panels(
    rounds: Sequence[int],
    table: Mapping[str, np.ndarray],
    metrics: Sequence[Metric],
    columns_of: Mapping[str, list[Column]],
    path: Path,
    title: str,
) -> None:
    """Every metric over rounds, a panel per metric and a line per column. ``table[column]`` is (T+1,), or
    (R, T+1) for replicates (drawn as their mean with the range around it). A per-agent quantity of a large
    network (its summary columns) is drawn as its median with the 10–90% band over the agents."""
    shown = [m for m in metrics if columns_of.get(m.name)]
    cols = min(3, len(shown))
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.6 * cols, 3.3 * rows), squeeze=False, layout="constrained"
    )

    def mean(column: str) -> np.ndarray:
        return np.atleast_2d(np.asarray(table[column], dtype=float)).mean(axis=0)

    for ax, m in zip(axes.flat, shown, strict=False):
        columns = columns_of[m.name]
        for family, stats in summarised(columns).items():
            line = ax.plot(rounds, mean(stats["median"]), lw=1.3, label=f"{family} (median of agents)")[0]
            ax.fill_between(
                rounds,
                mean(stats["q10"]),
                mean(stats["q90"]),
                alpha=0.2,
                color=line.get_color(),
                label="10–90%",
            )
        plain = [c.name for c in columns if c.stat is None]
        if len(plain) > DENSE_AGENTS:  # columns of one kind for every agent (a metric of your own): a band
            middle, low, high = bands(np.array([mean(c) for c in plain]))
            line = ax.plot(rounds, middle, lw=1.3, label=f"median of {len(plain)}")[0]
            ax.fill_between(rounds, low, high, alpha=0.2, color=line.get_color(), label="10–90%")
            plain = []
        for column in plain:
            values = np.atleast_2d(np.asarray(table[column], dtype=float))
            line = ax.plot(rounds, values.mean(axis=0), lw=1.3, label=column)[0]
            if len(values) > 1:
                ax.fill_between(
                    rounds, values.min(axis=0), values.max(axis=0), alpha=0.2, color=line.get_color()
                )
        ax.set_title(m.label, fontsize="medium")
        ax.set_xlabel("round t")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if len(ax.get_legend_handles_labels()[0]) > 1:
            ax.legend(frameon=False, fontsize="x-small")
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def communities(columns_of: Mapping[str, list[Column]]) -> list[str]:
    """The columns about communities (within each, between them), whichever metric gives them."""
    return [c.name for cols in columns_of.values() for c in cols if c.scope is Scope.COMMUNITY]


def summarised(columns: Sequence[Column]) -> dict[str, dict[str, str]]:
    """The per-agent families summarised among ``columns``: {family: {stat: column}} (a large network's)."""
    out: dict[str, dict[str, str]] = {}
    for c in columns:
        if c.family is not None and c.stat is not None:
            out.setdefault(c.family, {})[c.stat] = c.name
    return out
