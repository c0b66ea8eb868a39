"""``lwd compare``: several runs or replicate sets in one figure and one table.

A source is any run folder: an LLM run (one seed), a GMM run (its replicates are its seeds), or a sweep or
replicate set (each of its cells is a source; its seeds are the cell's seeds). Every source is read the same
way — per seed, the headline metrics over rounds (‖D‖_F, the between-agent share, ‖E‖_F, the test's p-value) —
and compared:

- ``compare.csv``: source, seed, round and the headline columns (tidy);
- ``summary.csv``: per source and headline column, the initial and final values and their ratio (mean over seeds
  and the half-width of its 95% t-interval); per source the share of rounds in which the test told the agents
  apart (p ≤ α; mean over seeds and its interval) and the collapse onset of every seed;
- ``figures/compare.png``: each headline column over rounds, a band (mean ± 95% interval) per source; p-values
  as one line per seed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from lwd.core.files import write_csv
from lwd.report.figures import plt, save_figure
from lwd.report.html import write_sources_html
from lwd.report.sources import (
    Source,
    headline_columns,
    mean_interval,
    panel_title,
    per_seed,
    ratio_columns,
    read_sources,
)

__all__ = ["Source", "read_sources", "write_comparison"]


def write_comparison(sources: list[Source], out: Path) -> list[Path]:
    """Write compare.csv, summary.csv and figures/compare.png for ``sources`` into ``out``."""
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    columns = [c for c in headline_columns() if any(c in t for s in sources for t in s.tables)]
    ratios = ratio_columns()
    tidy, summary = [], []
    for source in sources:
        for seed, table in zip(source.seeds, source.tables, strict=True):
            for t in range(len(table["round"]) if "round" in table else len(next(iter(table.values())))):
                tidy.append(
                    {
                        "source": source.label,
                        "seed": seed,
                        "round": t,
                        **{c: table[c][t] for c in columns if c in table},
                    }
                )
        row = {"source": source.label, "seeds": len(source.seeds)}
        for c in columns:
            runs = [t[c] for t in source.tables if c in t]
            for end, values in (
                ("initial", [r[0] for r in runs]),
                ("final", [r[-1] for r in runs]),
                *((("ratio", [r[-1] / r[0] if r[0] else np.nan for r in runs]),) if c in ratios else ()),
            ):
                mean, half = mean_interval(values)
                row[f"{end}_{c}"], row[f"{end}_{c}_ci"] = mean, half
        if source.tested:
            row["told_apart"], row["told_apart_ci"] = mean_interval(source.told_apart())
        onsets = source.onsets()
        row["onsets"] = " ".join("-" if o is None else str(o) for o in onsets) if source.tested else ""
        row["collapsed"] = sum(o is not None for o in onsets) if source.tested else ""
        summary.append(row)
    ends = [
        f"{end}_{c}{ci}"
        for c in columns
        for end in ("initial", "final", "ratio")
        for ci in ("", "_ci")
        if end != "ratio" or c in ratios
    ]
    written = [out / "compare.csv", out / "summary.csv", out / "figures" / "compare.png"]
    write_csv(written[0], tidy, ["source", "seed", "round", *columns])
    write_csv(
        written[1], summary, ["source", "seeds", *ends, "told_apart", "told_apart_ci", "onsets", "collapsed"]
    )
    _plot(sources, columns, written[2])
    about = "every source's headline metrics over rounds: " + ", ".join(s.label for s in sources)
    written.append(write_sources_html(out, "comparison", about, sources))
    return written


def _plot(sources: list[Source], columns: list[str], path: Path) -> None:
    cols = min(2, len(columns))
    rows = -(-len(columns) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.8 * cols, 3.6 * rows), squeeze=False, layout="constrained"
    )
    for ax, column in zip(axes.flat, columns, strict=False):
        for i, source in enumerate(sources):
            runs = [t[column] for t in source.tables if column in t]
            if not runs:
                continue
            length = min(map(len, runs))
            values = np.array([r[:length] for r in runs], dtype=float)
            colour, label = f"C{i}", f"{source.label} ({len(runs)} seed{'s' * (len(runs) > 1)})"
            if per_seed(column):
                for j, run in enumerate(values):
                    ax.plot(
                        range(length), run, lw=0.8, alpha=0.6, color=colour, label=label if j == 0 else None
                    )
                continue
            stats = [mean_interval(list(values[:, t])) for t in range(length)]
            mean = np.array([m for m, _ in stats])
            half = np.nan_to_num(np.array([h for _, h in stats]))
            ax.plot(range(length), mean, lw=1.5, color=colour, label=label)
            ax.fill_between(range(length), mean - half, mean + half, color=colour, alpha=0.18, lw=0)
        if per_seed(column):
            alpha = sources[0].settings.alpha
            ax.axhline(alpha, color="0.4", lw=0.8, ls="--", label=f"α = {alpha:g}")
            ax.set_ylim(0, 1)
            ax.set_title(panel_title(column), fontsize="medium")
        else:
            ax.set_title(panel_title(column), fontsize="medium")
        ax.set_xlabel("round t")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(frameon=False, fontsize="x-small")
    for ax in list(axes.flat)[len(columns) :]:
        ax.set_visible(False)
    save_figure(fig, path, dpi=110)
    plt.close(fig)
