"""The tables and the figure of a sweep, from its folder (its manifest and its cells' result files).

- ``results.csv``: one row per cell, seed and round (tidy): cell, seed, the swept keys, round and every metric
  the cells' mode computes (frobenius, the per-community columns …).
- ``summary.csv``: one row per cell and seed: the initial and final value and their ratio (final / initial) of
  the headline column of every metric registered with ``summary=True`` (‖D‖_F, the between-agent share, the
  energy-distance norm, the test's p-value), the collapse ``onset`` (the first round from which the test does
  not reject for m rounds in a row; empty: not collapsed) and ``first_below``, the first round at which ‖D‖_F is
  at or below the threshold (empty when it never is).
- ``bands.csv``: per cell, round and headline column: the mean over seeds and the half-width of its 95%
  t-interval (the bands of ``figures/bands.png``).
- ``failures.csv``: cell, seed, the swept keys, the error.
- ``figures/summary.png`` (sweeps with a grid): for each swept key, the final values and first_below against its
  values — a line per combination of the other keys, the mean over seeds with a 95% t-interval.
- ``figures/bands.png``: every headline column over rounds, the mean over seeds with its 95% band, a line per
  cell.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from lwd.core.files import write_csv
from lwd.metrics import MetricContext, MetricSettings, collapse_onset
from lwd.metrics.collapse import FROBENIUS
from lwd.metrics.registry import onset_column, registered
from lwd.report.figures import plt, save_figure
from lwd.report.html import write_sources_html
from lwd.report.sources import mean_interval, panel_title, per_seed, ratio_columns, read_sources
from lwd.run.kinds import CellStatus
from lwd.run.manifest import read_manifest
from lwd.run.sweep import Cell, SweepConfig, label, read_result

__all__ = ["write_sweep_report", "first_below"]


def first_below(values: list[float], threshold: float, relative: bool) -> int | None:
    """The first round whose ‖D‖_F is ≤ threshold (× the round-0 value when ``relative``), or None."""
    limit = threshold * values[0] if relative else threshold
    return next((t for t, v in enumerate(values) if v <= limit), None)


def write_sweep_report(out: Path) -> list[Path]:
    """Write results.csv, summary.csv, bands.csv, failures.csv and the figures of the sweep in ``out``."""
    out = Path(out)
    manifest = read_manifest(out)
    config = SweepConfig.model_validate(manifest.sweep)
    cells = [Cell(params) for params in manifest.cells.values()]
    keys = list(config.grid)
    results, summary, failures = [], [], []
    columns: list[str] = []  # every metric column of the cells, in the order they came
    headlines: list[str] = []  # the summarised columns, in registration order
    settings: dict = {}  # the [metrics] settings of the cells (the sweep's, unless a cell overrides them)
    series: dict[str, dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))  # cell, column
    for cell in cells:
        for seed in config.seeds:
            data = read_result(out, cell, seed)
            if data is None:
                continue
            base = {"cell": cell.id, "seed": seed, **cell.labels}
            if data["status"] is not CellStatus.OK:
                failures.append({**base, "error": data.get("error", "")})
                continue
            rows = data["rows"]
            settings = settings or data.get("settings", {})
            for row in rows:
                results.append({**base, **row})
                columns += [k for k in row if k != "round" and k not in columns]
            found = _headlines(data)
            headlines += [c for c in found if c not in headlines]
            for column in found:
                series[cell.id][column].append([r[column] for r in rows])
            summary.append(_summary_row(base, data, config, found))
    head = ["cell", "seed", *keys]
    ratios = ratio_columns()
    ends = [
        f"{end}_{c}"
        for c in headlines
        for end in ("initial", "final", "ratio")
        if end != "ratio" or c in ratios
    ]
    bands = _bands(cells, series, headlines, keys)
    written = [out / "results.csv", out / "summary.csv", out / "bands.csv", out / "failures.csv"]
    write_csv(written[0], results, [*head, "round", *columns])
    write_csv(written[1], summary, [*head, "rounds", *ends, "onset", "first_below", "seconds"])
    write_csv(written[2], bands, [*head, "round", "column", "mean", "half_width", "seeds"])
    write_csv(written[3], failures, [*head, "error"])
    if summary and keys:
        written.append(out / "figures" / "summary.png")
        _plot(written[-1], summary, keys, config, headlines)
    if bands:
        written.append(out / "figures" / "bands.png")
        alpha = MetricSettings.model_validate(settings).alpha
        _plot_bands(written[-1], bands, series, headlines, len(config.seeds), alpha)
    if summary:
        about = (
            config.description or f"{len(cells)} cell(s) × {len(config.seeds)} seed(s) of {config.scenario}"
        )
        written.append(write_sources_html(out, out.name, about, read_sources([out])))
    return written


def _headlines(data: dict) -> list[str]:
    """The headline (first) column of every metric registered with ``summary=True`` that a cell's rows hold."""
    ctx = MetricContext(tuple(data.get("names", ())), data.get("communities", {}))
    row = data["rows"][0]
    found = []
    for m in registered():
        if m.summary:
            own = m.columns(ctx) if ctx.names else [m.name]
            if own and own[0] in row:
                found.append(own[0])
    return found


def _summary_row(base: dict, data: dict, config: SweepConfig, headlines: list[str]) -> dict:
    rows = data["rows"]
    ends = {}
    for column in headlines:
        first, last = rows[0][column], rows[-1][column]
        ends[f"initial_{column}"], ends[f"final_{column}"] = first, last
        if column in ratio_columns():
            ends[f"ratio_{column}"] = last / first if first else float("nan")
    settings = MetricSettings.model_validate(data.get("settings", {}))
    pvalue = onset_column()
    onset = (
        collapse_onset([r[pvalue] for r in rows], settings.alpha, settings.consecutive)
        if pvalue in rows[0]
        else None
    )
    crossed = first_below([r[FROBENIUS] for r in rows], config.threshold, config.relative)
    return {
        **base,
        "rounds": len(rows) - 1,
        **ends,
        "onset": "" if onset is None else onset,
        "first_below": "" if crossed is None else crossed,
        "seconds": round(data.get("seconds", 0.0), 3),
    }


def _bands(cells: list[Cell], series: dict, headlines: list[str], keys: list[str]) -> list[dict]:
    """Per cell, headline column and round: the mean over seeds and the half-width of its 95% t-interval."""
    bands = []
    for cell in cells:
        for column in headlines:
            runs = series.get(cell.id, {}).get(column)
            if not runs:
                continue
            for t in range(min(map(len, runs))):
                mean, half = mean_interval([run[t] for run in runs])
                bands.append(
                    {
                        "cell": cell.id,
                        **{k: cell.labels[k] for k in keys},
                        "round": t,
                        "column": column,
                        "mean": mean,
                        "half_width": half,
                        "seeds": len(runs),
                    }
                )
    return bands


def _plot_bands(
    path: Path, bands: list[dict], series: dict, headlines: list[str], seeds: int, alpha: float
) -> None:
    """Every headline column over rounds: the mean over seeds in its 95% band, a line per cell; p-values (the
    test's) as one thin line per seed against α instead, since a t-interval of p-values leaves [0, 1]."""
    import matplotlib

    path.parent.mkdir(exist_ok=True)
    cols = min(2, len(headlines))
    rows = -(-len(headlines) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.6 * cols, 3.5 * rows), squeeze=False, layout="constrained"
    )
    by_cell: dict[str, list[dict]] = defaultdict(list)
    for band in bands:
        by_cell[band["cell"]].append(band)
    for ax, column in zip(axes.flat, headlines, strict=False):
        for c, (cell, entries) in enumerate(by_cell.items()):
            colour = f"C{c}"
            name = cell if len(by_cell) > 1 else None
            if per_seed(column):
                for i, run in enumerate(series[cell][column]):
                    ax.plot(
                        range(len(run)), run, lw=0.9, alpha=0.7, color=colour, label=name if i == 0 else None
                    )
                continue
            mine = [b for b in entries if b["column"] == column]
            t = np.array([b["round"] for b in mine])
            mean = np.array([b["mean"] for b in mine], dtype=float)
            half = np.nan_to_num(np.array([b["half_width"] for b in mine], dtype=float))
            ax.plot(t, mean, lw=1.4, color=colour, label=name)
            ax.fill_between(t, mean - half, mean + half, alpha=0.2, color=colour, lw=0)
        if per_seed(column):
            ax.axhline(alpha, color="0.4", lw=0.8, ls="--", label=f"α = {alpha:g}")
            ax.set_ylim(0, 1)
            ax.set_title(panel_title(column), fontsize="medium")
            ax.legend(frameon=False, fontsize="x-small")
        else:
            ax.set_title(panel_title(column), fontsize="medium")
            if len(by_cell) > 1:
                ax.legend(frameon=False, fontsize="x-small")
        ax.set_xlabel("round t")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(headlines) :]:
        ax.set_visible(False)
    fig.suptitle(f"{seeds} seed{'s' * (seeds > 1)}, round by round")
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _plot(
    path: Path, summary: list[dict], keys: list[str], config: SweepConfig, summarised: list[str]
) -> None:
    path.parent.mkdir(exist_ok=True)
    threshold = f"{config.threshold:g}" + (r"$\cdot\|D^{(0)}\|_F$" if config.relative else "")
    finals = [
        (f"final_{c}", r"final $\|D^{(T)}\|_F$" if c == FROBENIUS else f"final {c}") for c in summarised
    ]
    metrics = [*finals, ("first_below", f"first round with ‖D‖_F ≤ {threshold}")]
    fig, axes = plt.subplots(
        len(metrics),
        len(keys),
        figsize=(4.6 * len(keys), 3.6 * len(metrics)),
        squeeze=False,
        layout="constrained",
    )
    for col, key in enumerate(keys):
        values = list(dict.fromkeys(_labels_in_order(config.grid[key])))
        others = [k for k in keys if k != key]
        groups: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for row in summary:
            groups[tuple(row[k] for k in others)][row[key]].append(row)
        for row_i, (metric, ylabel) in enumerate(metrics):
            ax = axes[row_i][col]
            for g, (other, by_value) in enumerate(sorted(groups.items())):
                xs, means, halves, notes = [], [], [], []
                for x, value in enumerate(values):
                    rows = by_value.get(value, [])
                    got = [float(r[metric]) if r[metric] != "" else None for r in rows]
                    mean, half = mean_interval(got)
                    xs.append(x + (g - (len(groups) - 1) / 2) * 0.06)
                    means.append(mean)
                    halves.append(half)
                    notes.append(f"{sum(v is not None for v in got)}/{len(got)}")
                name = (
                    ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(others, other, strict=True)) or None
                )
                ax.errorbar(xs, means, yerr=halves, marker="o", ms=4, capsize=3, lw=1.2, label=name)
                if metric == "first_below":  # how many seeds crossed the threshold at all
                    for x, m, note in zip(xs, means, notes, strict=True):
                        if np.isfinite(m):
                            ax.annotate(note, (x, m), textcoords="offset points", xytext=(4, 4), fontsize=7)
            ax.set_xticks(
                range(len(values)), values, rotation=20 if max(map(len, values)) > 8 else 0, fontsize=8
            )
            ax.set_xlabel(key)
            ax.set_ylabel(ylabel)
            ax.set_ylim(bottom=0)  # both are ≥ 0; an interval below 0 says only "few seeds"
            if row_i == 0 and others:
                ax.legend(frameon=False, fontsize="x-small")
    seeds = len(config.seeds)
    fig.suptitle(f"Sweep over {', '.join(keys)}: mean over {seeds} seed{'s' * (seeds > 1)} ± 95% t-interval")
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _labels_in_order(values) -> list[str]:
    return [label(v) for v in values]
