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

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np

from lwd.core.errors import RunFolderError
from lwd.core.files import write_csv
from lwd.metrics import MetricContext, MetricSettings, collapse_onset
from lwd.metrics.registry import registered
from lwd.report.figures import plt
from lwd.report.sweep import mean_interval
from lwd.run.gmm import read_metric_table
from lwd.run.kinds import RunKind
from lwd.run.manifest import read_manifest
from lwd.run.sweep import Cell, SweepConfig, result_path

__all__ = ["Source", "read_sources", "write_comparison"]


@dataclass
class Source:
    """One line of a comparison: a label and, per seed, its metrics over rounds."""

    label: str
    seeds: list[int] = field(default_factory=list)
    tables: list[dict[str, np.ndarray]] = field(default_factory=list)  # per seed: {column: (T+1,)}
    settings: MetricSettings = field(default_factory=MetricSettings)

    def add(self, seed: int, table: dict[str, np.ndarray]) -> None:
        self.seeds.append(seed)
        self.tables.append(table)

    @property
    def tested(self) -> bool:
        """Whether its rounds carry the test (the LLM mode's)."""
        return any("energy_p" in t for t in self.tables)

    def told_apart(self) -> list[float]:
        """Per seed, the share of its rounds in which the test rejected (p ≤ α)."""
        alpha = self.settings.alpha
        return [float(np.mean(t["energy_p"] <= alpha)) for t in self.tables if "energy_p" in t]

    def onsets(self) -> list[int | None]:
        """The collapse onset of every seed (None: not collapsed, or no test in this mode)."""
        s = self.settings
        return [
            collapse_onset(list(t["energy_p"]), s.alpha, s.consecutive) if "energy_p" in t else None
            for t in self.tables
        ]


def headline_columns(names: tuple[str, ...] = ()) -> list[str]:
    """The headline column of every metric registered with ``summary=True``, in registration order."""
    ctx = MetricContext(names)
    return [(m.columns(ctx) or [m.name])[0] for m in registered() if m.summary]


def read_sources(folders: list[Path], labels: list[str] | None = None) -> list[Source]:
    """Every folder as one source (a sweep: one per cell), labelled by ``labels`` or by the folder's name."""
    sources = []
    for i, folder in enumerate(folders):
        folder = Path(folder)
        manifest = read_manifest(folder)
        name = labels[i] if labels and i < len(labels) else folder.name
        if manifest["kind"] == RunKind.LLM:
            sources.append(_llm_source(folder, manifest, name))
        elif manifest["kind"] == RunKind.GMM:
            sources.append(_gmm_source(folder, manifest, name))
        else:
            sources.extend(_sweep_sources(folder, manifest, name))
    if not sources:
        raise RunFolderError(
            "nothing to compare", fix="give run folders of `lwd run`, `lwd gmm` or `lwd sweep`"
        )
    return sources


def _llm_source(folder: Path, manifest: dict, name: str) -> Source:
    with open(folder / "metrics.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise RunFolderError(
            f"{folder} has no committed round yet", fix="let the run finish, or `lwd resume` it"
        )
    settings = MetricSettings.model_validate(manifest["scenario"]["resolved"].get("metrics", {}))
    source = Source(name, settings=settings)
    source.add(manifest["seed"], {c: np.array([float(r[c] or "nan") for r in rows]) for c in rows[0]})
    return source


def _gmm_source(folder: Path, manifest: dict, name: str) -> Source:
    table = read_metric_table(folder / "metrics.csv")
    source = Source(
        name, settings=MetricSettings.model_validate(manifest["scenario"]["resolved"].get("metrics", {}))
    )
    for r in range(next(iter(table.values())).shape[0]):
        source.add(r, {c: v[r] for c, v in table.items()})
    return source


def _sweep_sources(folder: Path, manifest: dict, name: str) -> list[Source]:
    config = SweepConfig.model_validate(manifest["sweep"])
    cells = [Cell(params) for params in manifest["cells"].values()]
    sources = []
    for cell in cells:
        tag = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in cell.labels.items())
        source = Source(f"{name} ({tag})" if tag else name)
        for seed in config.seeds:
            path = result_path(folder, cell, seed)
            if not path.is_file():
                continue
            data = json.loads(path.read_text())
            if data["status"] != "ok":
                continue
            rows = data["rows"]
            source.settings = MetricSettings.model_validate(data.get("settings", {}))
            source.add(seed, {c: np.array([r[c] for r in rows], dtype=float) for c in rows[0]})
        if source.seeds:
            sources.append(source)
    return sources


def write_comparison(sources: list[Source], out: Path) -> list[Path]:
    """Write compare.csv, summary.csv and figures/compare.png for ``sources`` into ``out``."""
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    columns = [c for c in headline_columns() if any(c in t for s in sources for t in s.tables)]
    ratios = {(m.columns(MetricContext(())) or [m.name])[0] for m in registered() if m.summary and m.ratio}
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
    return written


def _plot(sources: list[Source], columns: list[str], path: Path) -> None:
    titles = {"frobenius": "‖D‖_F", "between_share": "between-agent share of the spread", "energy": "‖E‖_F"}
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
            if column == "energy_p":
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
        if column == "energy_p":
            alpha = sources[0].settings.alpha
            ax.axhline(alpha, color="0.4", lw=0.8, ls="--", label=f"α = {alpha:g}")
            ax.set_ylim(0, 1)
            ax.set_title("p-value of the energy test, each seed (below α: told apart)", fontsize="medium")
        else:
            ax.set_title(
                f"{titles.get(column, column)} — mean and 95% interval over seeds", fontsize="medium"
            )
        ax.set_xlabel("round t")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(frameon=False, fontsize="x-small")
    for ax in list(axes.flat)[len(columns) :]:
        ax.set_visible(False)
    fig.savefig(path, dpi=110)
    plt.close(fig)
