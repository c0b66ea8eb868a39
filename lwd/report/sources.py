"""The folders a report reads as *sources*: per seed, a run's metrics over rounds.

A source is any run folder: an LLM run (one seed), a GMM run (its replicates are its seeds), or one cell of a
sweep or replicate set (the cell's seeds). `lwd compare`, the sweep report and every report.html read folders
this one way.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from lwd.core.errors import RunFolderError
from lwd.metrics import MetricContext, MetricSettings, collapse_onset
from lwd.metrics.registry import Kind, column_of, headlines, onset_column
from lwd.run.gmm import read_metric_table
from lwd.run.kinds import CellStatus, RunKind
from lwd.run.manifest import RunManifest, read_manifest
from lwd.run.sweep import Cell, SweepConfig, read_result

__all__ = [
    "Source",
    "read_sources",
    "headline_columns",
    "ratio_columns",
    "per_seed",
    "title_of",
    "panel_title",
    "mean_interval",
]


def mean_interval(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% t-interval) of the finite values; (NaN, NaN) if none, (mean, 0) if one."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan")
    if len(x) == 1:
        return float(x[0]), 0.0
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


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
        return any(onset_column() in t for t in self.tables)

    def told_apart(self) -> list[float]:
        """Per seed, the share of its rounds in which the test rejected (p ≤ α)."""
        alpha, column = self.settings.alpha, onset_column()
        return [float(np.mean(t[column] <= alpha)) for t in self.tables if column in t]

    def onsets(self) -> list[int | None]:
        """The collapse onset of every seed (None: not collapsed, or no test in this mode)."""
        s, column = self.settings, onset_column()
        return [
            collapse_onset(list(t[column]), s.alpha, s.consecutive) if column in t else None
            for t in self.tables
        ]


def headline_columns(names: tuple[str, ...] = ()) -> list[str]:
    """The headline column of every metric registered with ``summary=True``, in registration order."""
    return [c.name for c in headlines(MetricContext(names))]


def ratio_columns() -> list[str]:
    """Headline columns whose final / initial ratio means something (not a p-value's), in registration order."""
    return [c.name for c in headlines(ratio=True)]


def per_seed(column: str) -> bool:
    """Whether a column is a p-value, drawn as a line per seed against α (a t-interval of p-values leaves
    [0, 1]) rather than as a mean in its band."""
    described = column_of(column)
    return described is not None and described.kind is Kind.PVALUE


def title_of(column: str) -> str:
    """How figures name a column: its own title (``‖D‖_F``), or its name when no metric describes it."""
    described = column_of(column)
    return described.title if described is not None else column


def panel_title(column: str) -> str:
    """The title of a column's panel over seeds: a band, or a line per seed for a p-value."""
    if per_seed(column):
        return f"{title_of(column)}, each seed (below α: told apart)"
    return f"{title_of(column)} — mean and 95% interval over seeds"


def read_sources(folders: list[Path], labels: list[str] | None = None) -> list[Source]:
    """Every folder as one source (a sweep: one per cell), labelled by ``labels`` or by the folder's name."""
    sources = []
    for i, folder in enumerate(folders):
        folder = Path(folder)
        manifest = read_manifest(folder)
        name = labels[i] if labels and i < len(labels) else folder.name
        if manifest.kind == RunKind.LLM:
            sources.append(_llm_source(folder, manifest, name))
        elif manifest.kind == RunKind.GMM:
            sources.append(_gmm_source(folder, manifest, name))
        else:
            sources.extend(_sweep_sources(folder, manifest, name))
    if not sources:
        raise RunFolderError(
            "nothing to compare", fix="give run folders of `lwd run`, `lwd gmm` or `lwd sweep`"
        )
    return sources


def _llm_source(folder: Path, manifest: RunManifest, name: str) -> Source:
    with open(folder / "metrics.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise RunFolderError(
            f"{folder} has no committed round yet", fix="let the run finish, or `lwd resume` it"
        )
    source = Source(name, settings=manifest.metric_settings)
    source.add(manifest.seed, {c: np.array([float(r[c] or "nan") for r in rows]) for c in rows[0]})
    return source


def _gmm_source(folder: Path, manifest: RunManifest, name: str) -> Source:
    table = read_metric_table(folder / "metrics.csv")
    source = Source(name, settings=manifest.metric_settings)
    for r in range(next(iter(table.values())).shape[0]):
        source.add(r, {c: v[r] for c, v in table.items()})
    return source


def _sweep_sources(folder: Path, manifest: RunManifest, name: str) -> list[Source]:
    config = SweepConfig.model_validate(manifest.sweep)
    cells = [Cell(params) for params in manifest.cells.values()]
    sources = []
    for cell in cells:
        tag = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in cell.labels.items())
        source = Source(f"{name} ({tag})" if tag else name)
        for seed in config.seeds:
            data = read_result(folder, cell, seed)
            if data is None or data["status"] is not CellStatus.OK:
                continue
            rows = data["rows"]
            source.settings = MetricSettings.model_validate(data.get("settings", {}))
            source.add(seed, {c: np.array([r[c] for r in rows], dtype=float) for c in rows[0]})
        if source.seeds:
            sources.append(source)
    return sources
