"""The tables and the figure of a sweep, from its cells' result files.

- ``results.csv``: one row per cell, seed and round (tidy): cell, seed, the swept keys, round, frobenius and the
  per-community columns when the topology has communities.
- ``summary.csv``: one row per cell and seed: final ‖D‖_F and ``first_below``, the first round at which ‖D‖_F is
  at or below the threshold (empty when it never is).
- ``failures.csv``: cell, seed, the swept keys, the error.
- ``figures/summary.png``: for each swept key, final ‖D‖_F and first_below against its values — a line per
  combination of the other keys, the mean over seeds with a 95% t-interval.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

__all__ = ["write_sweep_tables", "first_below", "mean_interval"]


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


def _write(path: Path, rows: list[dict], columns: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def write_sweep_tables(out: Path, config, cells) -> None:
    keys = list(config.grid)
    results, summary, failures = [], [], []
    extra: list[str] = []
    for cell in cells:
        for seed in config.seeds:
            path = out / "cells" / cell.id / f"seed-{seed}.json"
            if not path.is_file():
                continue
            data = json.loads(path.read_text())
            base = {"cell": cell.id, "seed": seed, **cell.labels}
            if data["status"] != "ok":
                failures.append({**base, "error": data.get("error", "")})
                continue
            for row in data["rows"]:
                results.append({**base, **row})
                extra += [k for k in row if k not in ("round", "frobenius") and k not in extra]
            values = [r["frobenius"] for r in data["rows"]]
            crossed = first_below(values, config.threshold, config.relative)
            summary.append(
                {
                    **base,
                    "rounds": len(values) - 1,
                    "initial_frobenius": values[0],
                    "final_frobenius": values[-1],
                    "first_below": "" if crossed is None else crossed,
                    "seconds": round(data.get("seconds", 0.0), 3),
                }
            )
    head = ["cell", "seed", *keys]
    _write(out / "results.csv", results, [*head, "round", "frobenius", *extra])
    _write(
        out / "summary.csv",
        summary,
        [*head, "rounds", "initial_frobenius", "final_frobenius", "first_below", "seconds"],
    )
    _write(out / "failures.csv", failures, [*head, "error"])
    if summary:
        _plot(out / "figures" / "summary.png", summary, keys, config)


def _plot(path: Path, summary: list[dict], keys: list[str], config) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(exist_ok=True)
    threshold = f"{config.threshold:g}" + (r"$\cdot\|D^{(0)}\|_F$" if config.relative else "")
    metrics = [
        ("final_frobenius", r"final $\|D^{(T)}\|_F$"),
        ("first_below", f"first round with ‖D‖_F ≤ {threshold}"),
    ]
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
        for row_i, (metric, label) in enumerate(metrics):
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
            ax.set_ylabel(label)
            ax.set_ylim(bottom=0)  # both are ≥ 0; an interval below 0 says only "few seeds"
            if row_i == 0 and others:
                ax.legend(frameon=False, fontsize="x-small")
    seeds = len(config.seeds)
    fig.suptitle(f"Sweep over {', '.join(keys)}: mean over {seeds} seed{'s' * (seeds > 1)} ± 95% t-interval")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _labels_in_order(values) -> list[str]:
    from lwd.sweep import _label

    return [_label(v) for v in values]
