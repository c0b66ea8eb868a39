"""The tables and the figure of a sweep, from its folder (its manifest and its cells' result files).

- ``results.csv``: one row per cell, seed and round (tidy): cell, seed, the swept keys, round and every metric
  the cells' mode computes (frobenius, the per-community columns …).
- ``summary.csv``: one row per cell and seed: the initial and final value of every metric registered with
  ``summary=True`` (‖D‖_F among them) and ``first_below``, the first round at which ‖D‖_F is at or below the
  threshold (empty when it never is).
- ``failures.csv``: cell, seed, the swept keys, the error.
- ``figures/summary.png``: for each swept key, final ‖D‖_F and first_below against its values — a line per
  combination of the other keys, the mean over seeds with a 95% t-interval.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

from lwd.core.files import write_csv
from lwd.metrics.registry import registered
from lwd.report.figures import plt
from lwd.run.manifest import read_manifest
from lwd.run.sweep import Cell, SweepConfig, label, result_path

__all__ = ["write_sweep_report", "first_below", "mean_interval"]


def first_below(values: list[float], threshold: float, relative: bool) -> int | None:
    """The first round whose ‖D‖_F is ≤ threshold (× the round-0 value when ``relative``), or None."""
    limit = threshold * values[0] if relative else threshold
    return next((t for t, v in enumerate(values) if v <= limit), None)


def mean_interval(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% t-interval) of the finite values; (NaN, NaN) if none, (mean, 0) if one."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    if len(x) == 1:
        return float(x[0]), 0.0
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def write_sweep_report(out: Path) -> list[Path]:
    """Write results.csv, summary.csv, failures.csv and figures/summary.png of the sweep in ``out``."""
    out = Path(out)
    manifest = read_manifest(out)
    config = SweepConfig.model_validate(manifest["sweep"])
    cells = [Cell(params) for params in manifest["cells"].values()]
    keys = list(config.grid)
    results, summary, failures = [], [], []
    columns: list[str] = []  # every metric column of the cells, in the order they came
    for cell in cells:
        for seed in config.seeds:
            path = result_path(out, cell, seed)
            if not path.is_file():
                continue
            data = json.loads(path.read_text())
            base = {"cell": cell.id, "seed": seed, **cell.labels}
            if data["status"] != "ok":
                failures.append({**base, "error": data.get("error", "")})
                continue
            for row in data["rows"]:
                results.append({**base, **row})
                columns += [k for k in row if k != "round" and k not in columns]
            summary.append(_summary_row(base, data, config))
    head = ["cell", "seed", *keys]
    summarised = [c for c in _summarised(columns) if any(f"final_{c}" in row for row in summary)]
    ends = [f"{end}_{c}" for c in summarised for end in ("initial", "final")]
    written = [out / "results.csv", out / "summary.csv", out / "failures.csv"]
    write_csv(written[0], results, [*head, "round", *columns])
    write_csv(written[1], summary, [*head, "rounds", *ends, "first_below", "seconds"])
    write_csv(written[2], failures, [*head, "error"])
    if summary:
        written.append(out / "figures" / "summary.png")
        _plot(written[-1], summary, keys, config, summarised)
    return written


def _summarised(columns: list[str]) -> list[str]:
    """The columns of the metrics registered with ``summary=True`` (by name: a metric's own column)."""
    wanted = {m.name for m in registered() if m.summary}
    return [c for c in columns if c in wanted]


def _summary_row(base: dict, data: dict, config: SweepConfig) -> dict:
    rows = data["rows"]
    ends = {}
    for column in _summarised([k for k in rows[0] if k != "round"]):
        ends[f"initial_{column}"], ends[f"final_{column}"] = rows[0][column], rows[-1][column]
    crossed = first_below([r["frobenius"] for r in rows], config.threshold, config.relative)
    return {
        **base,
        "rounds": len(rows) - 1,
        **ends,
        "first_below": "" if crossed is None else crossed,
        "seconds": round(data.get("seconds", 0.0), 3),
    }


def _plot(
    path: Path, summary: list[dict], keys: list[str], config: SweepConfig, summarised: list[str]
) -> None:
    path.parent.mkdir(exist_ok=True)
    threshold = f"{config.threshold:g}" + (r"$\cdot\|D^{(0)}\|_F$" if config.relative else "")
    finals = [
        (f"final_{c}", r"final $\|D^{(T)}\|_F$" if c == "frobenius" else f"final {c}") for c in summarised
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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _labels_in_order(values) -> list[str]:
    return [label(v) for v in values]
