"""The figures of an LLM run, drawn from its committed rounds (and its tables rebuilt, when asked).

Fig. 2 of the paper: ‖D⁽ᵗ⁾‖_F over rounds. Fig. 3: the classical-MDS picture of every response at t = 1 and
t = T, a colour per agent, on shared axes (rounds are aligned by Procrustes, so shrinking clouds mean collapse).
Beyond the paper: every registered metric over rounds (``metrics.png``), ‖D‖_F within and between communities
(topologies with communities), and the LLM curve over its matched GMM twin's, each divided by its round-0 value
(runs with ``twin/``).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lwd.core.errors import RunFolderError
from lwd.core.files import replacing, write_json
from lwd.metrics import LLM, MetricSettings, collapse_onset, describe_onset
from lwd.metrics.change import CHANGE
from lwd.metrics.collapse import FROBENIUS
from lwd.metrics.distribution import SAMPLED_PAIRS
from lwd.metrics.registry import computable, onset_column
from lwd.report.change import CHANGES, Changes, change_summary, control_rows, plot_control, write_changes
from lwd.report.figures import (
    communities,
    mds_limits,
    normalised,
    plot_communities,
    plot_metric_panels,
    plt,
    rounds_figure,
    save_figure,
)
from lwd.report.groups import Group, group_index, picture_groups
from lwd.report.html import write_llm_html
from lwd.report.perspective import PERSPECTIVE, perspective, write_perspective
from lwd.report.sources import ratio_columns, title_of
from lwd.run.manifest import RunManifest, read_manifest
from lwd.run.records import RoundArrays, RoundRecord
from lwd.run.rounds import RoundLog
from lwd.run.twin import read_twin

__all__ = ["write_llm_report", "collapse_summary"]


@dataclass
class _Report:
    """What the writers of one LLM report share: the folder, its rounds and manifest, and the files written."""

    folder: Path
    log: RoundLog
    records: list[RoundRecord]
    manifest: RunManifest
    written: list[Path] = field(default_factory=list)

    @property
    def figures(self) -> Path:
        return self.folder / "figures"

    @property
    def agents(self) -> list[str]:
        return [a.agent for a in self.records[0].agents]

    @property
    def rounds(self) -> list[int]:
        return [r.round for r in self.records]

    def add(self, path: Path) -> Path:
        self.written.append(path)
        return path


def write_llm_report(
    folder: Path, rebuild_tables: bool = False, control_run: Path | None = None
) -> list[Path]:
    """Draw the figures of the run in ``folder`` (and rebuild responses.csv and metrics.csv first when
    ``rebuild_tables``: the run appends to them as it goes). Returns the files written."""
    folder = Path(folder)
    log = RoundLog(folder)
    records = log.records()
    if not records:
        raise RunFolderError(
            f"{folder} has no committed round yet: nothing to report",
            fix="is it an `lwd run` folder? An interrupted run continues with `lwd resume`",
        )
    report = _Report(folder, log, records, read_manifest(folder))
    if rebuild_tables:
        log.write_tables()
        report.written += [folder / "metrics.csv", folder / "responses.csv"]
    report.figures.mkdir(exist_ok=True)
    frames = _answers_pictures(report)
    table = {c: np.array([r.metrics.get(c, np.nan) for r in records]) for c in records[0].metrics}
    metrics = computable(LLM)
    ctx = report.manifest.context(report.agents)
    columns_of = {m.name: [c for c in m.describe(ctx) if c.name in table] for m in metrics}
    _metric_pictures(report, table, metrics, columns_of)
    changes = _collapse(report, table, ctx, control_run)
    twin = read_twin(folder)
    if twin is not None:
        frobenius = [r.frobenius for r in records]
        _plot_twin(
            report.rounds,
            frobenius,
            twin[FROBENIUS],
            report.add(report.figures / "twin.png"),
            report.manifest.name,
        )
    panels = [(m.label, columns_of[m.name]) for m in metrics if columns_of[m.name]]
    coords = perspective(frames, len(report.agents))
    write_perspective(report.add(folder / PERSPECTIVE), report.rounds, report.agents, coords)
    report.add(write_llm_html(folder, log, records, frames, report.manifest, panels, twin, changes, coords))
    return report.written


def _answers_pictures(report: _Report) -> list[tuple[int, RoundArrays]]:
    """‖D‖_F over rounds (paper Fig. 2), the MDS of every answer at t = 1 and T (Fig. 3) and its animation;
    returns every round's arrays (read once: the GIF and report.html)."""
    name, records, log = report.manifest.name, report.records, report.log
    title = r"$\|D^{(t)}\|_F$ over rounds — " + f"{name} (cf. paper Fig. 2)"
    with rounds_figure(
        report.add(report.figures / "frobenius.png"), r"$\|D^{(t)}\|_F$", title, legend=False
    ) as ax:
        marker = "o" if len(records) <= 30 else None
        ax.plot(report.rounds, [r.frobenius for r in records], marker=marker, ms=3, lw=1.4)
    shown = sorted({min(1, records[-1].round), records[-1].round})
    groups = picture_groups(report.agents, report.manifest.communities, report.manifest.agents)
    _plot_mds([(t, log.arrays(t)) for t in shown], groups, report.add(report.figures / "mds.png"), name)
    frames = [(r.round, log.arrays(r.round)) for r in records]
    _animate_mds(frames, groups, report.add(report.figures / "mds.gif"), name)
    return frames


def _metric_pictures(report: _Report, table: dict, metrics: list, columns_of: dict) -> None:
    """Every metric over rounds, and ‖D‖_F within and between communities when the topology has them."""
    name, rounds = report.manifest.name, report.rounds
    path = report.add(report.figures / "metrics.png")
    plot_metric_panels(rounds, table, metrics, columns_of, path, f"Every metric over rounds — {name}")
    groups = {c: table[c] for c in communities(columns_of)}
    if groups:
        plot_communities(rounds, groups, report.add(report.figures / "communities.png"), name)


def _collapse(report: _Report, table: dict, ctx, control_run: Path | None) -> Changes | None:
    """collapse.json (the test, the onset, the headline ratios, each agent's change) with its figure, and the
    change tests' table and control chart."""
    agents, settings, name = report.agents, report.manifest.metric_settings, report.manifest.name
    control = None if control_run is None else (str(control_run), control_rows(control_run, agents))
    changes = change_summary(report.records, agents, ctx, settings, control)  # each agent against its round s
    if onset_column() in table:
        summary = collapse_summary(table, settings, agents=len(agents))
        if changes is not None:
            summary[CHANGE] = changes.summary
        write_json(report.add(report.folder / "collapse.json"), summary)
        _plot_collapse(report.rounds, table, summary, report.add(report.figures / "collapse.png"), name)
    if changes is not None:
        write_changes(report.add(report.folder / CHANGES), agents, changes)
        path = report.add(report.figures / "control.png")
        plot_control(path, report.rounds, changes.statistic, changes.chart, agents, name)
    return changes


def collapse_summary(table: dict[str, np.ndarray], settings: MetricSettings, agents: int) -> dict:
    """What the run says about collapse: the test per round and what it compared, the onset, and the headline
    metrics' ratios. Written as strict JSON: a p-value or metric that is NaN (a round without a test) is
    ``null``."""
    pvalues = [float(p) for p in table[onset_column()]]
    onset = collapse_onset(pvalues, settings.alpha, settings.consecutive)
    ratios = {  # None where a ratio has no value: an end that is 0 or NaN (fewer than two agents answered)
        c: float(table[c][-1] / table[c][0]) if table[c][0] and np.isfinite(table[c][[0, -1]]).all() else None
        for c in ratio_columns()
        if c in table
    }
    tested = (
        f"all {agents} agents"
        if agents <= settings.test_agents
        else f"a sample of {settings.test_agents} of the {agents} agents, drawn each round from the stream "
        "(seed, METRICS, round, 2) independently of the answers"
    )
    return {
        "test": "k-sample energy test (permutations) of: all agents answer from one distribution",
        "tested": tested,
        "energy_norm": "exact"
        if "energy_se" not in table
        else f"estimated from {SAMPLED_PAIRS} pairs of agents sampled each round (standard error: energy_se)",
        "alpha": settings.alpha,
        "consecutive": settings.consecutive,
        "permutations": settings.permutations,
        "p_values": pvalues,
        "rejected_rounds": [t for t, p in enumerate(pvalues) if p <= settings.alpha],
        "onset": onset,
        "collapsed": onset is not None,
        "ratios": ratios,
        "initial": {c: float(table[c][0]) for c in ratios},
        "final": {c: float(table[c][-1]) for c in ratios},
        "sentence": describe_onset(pvalues, settings.alpha, settings.consecutive),
    }


def _plot_collapse(rounds: list[int], table: dict, summary: dict, path: Path, name: str) -> None:
    """Left: the test's p-value each round, α, the rejected rounds and the onset. Right: ‖D‖_F, ‖E‖_F and the
    between-agent share of the spread, each divided by its round-0 value."""
    import matplotlib

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    p = np.asarray(summary["p_values"])
    rejected = p <= summary["alpha"]
    left.plot(rounds, p, color="0.35", lw=1, zorder=1)
    left.scatter(
        np.array(rounds)[~rejected], p[~rejected], s=18, color="tab:green", label="not told apart", zorder=2
    )
    left.scatter(np.array(rounds)[rejected], p[rejected], s=18, color="tab:red", label="told apart", zorder=2)
    left.axhline(summary["alpha"], color="0.4", lw=0.8, ls="--", label=f"α = {summary['alpha']:g}")
    if summary["onset"] is not None:
        left.axvline(summary["onset"], color="tab:purple", lw=1.2, label=f"onset: round {summary['onset']}")
    left.set_ylim(0, 1)
    left.set_ylabel("p-value")
    left.set_title("Can the agents' answers be told apart? (energy test)", fontsize="medium")
    for column in ratio_columns():
        if column in table and table[column][0]:
            right.plot(rounds, table[column] / table[column][0], lw=1.4, label=title_of(column))
    right.axhline(1.0, color="0.6", lw=0.8, ls=":")
    right.set_ylim(bottom=0)
    right.set_title("Each ÷ its round-0 value", fontsize="medium")
    for ax in (left, right):
        ax.set_xlabel("round t")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:  # one agent: no pairs, nothing to label
            ax.legend(frameon=False, fontsize="x-small")
    fig.suptitle(textwrap.fill(f"Collapse — {name}: {summary['sentence']}", 140), fontsize="small")
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def _plot_twin(rounds: list[int], llm: list[float], twin: np.ndarray, path: Path, name: str) -> None:
    """The LLM run's ‖D‖_F and its GMM twin's (mean over replicates, with their range), each ÷ round 0."""
    gmm = normalised(twin)
    ylabel = r"$\|D^{(t)}\|_F \;/\; \|D^{(0)}\|_F$"
    with rounds_figure(path, ylabel, f"LLM network and its GMM twin — {name}") as ax:
        t = range(gmm.shape[1])
        if gmm.shape[0] > 1:
            ax.fill_between(t, gmm.min(axis=0), gmm.max(axis=0), alpha=0.2, color="tab:orange")
        replicates = f"{gmm.shape[0]} replicate{'s' * (gmm.shape[0] > 1)}"
        ax.plot(t, gmm.mean(axis=0), color="tab:orange", lw=1.4, label=f"GMM twin ({replicates})")
        marker = "o" if len(rounds) <= 30 else None
        ax.plot(rounds, normalised(llm), color="tab:blue", marker=marker, ms=3, lw=1.6, label="LLM network")
        ax.axhline(1.0, color="0.6", lw=0.8, ls=":")


def _animate_mds(frames: list[tuple[int, RoundArrays]], groups: list[Group], path: Path, name: str) -> None:
    """Every round's MDS as one frame of a GIF, on axes fixed over the whole run (rounds are aligned by
    Procrustes, so a shrinking cloud is collapse, not a change of view); a colour per group (per agent of a
    small network)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    xlim, ylim = mds_limits([a.coords for _, a in frames])
    fig, ax = plt.subplots(figsize=(5.6, 4.6), layout="constrained")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("MDS 1")
    ax.set_ylabel("MDS 2")
    colours = plt.get_cmap("tab10")
    size = _point_size(frames[0][1])
    clouds = [
        ax.scatter([], [], s=size, alpha=0.75, color=colours(k % 10), label=group.label)
        for k, group in enumerate(groups)
    ]
    ax.legend(frameon=False, fontsize="small", loc="upper right")
    index = group_index(groups)
    mixed = ax.scatter([], [], s=size, alpha=0.75) if _grouped(groups) else None

    def draw(k: int) -> list:
        t, arrays = frames[k]
        if mixed is not None:  # every group in one cloud, in a random order: none hides the others
            coords, owned = _shuffled(arrays, index)
            mixed.set_offsets(coords.reshape(-1, 2))
            mixed.set_color([colours(g % 10) for g in owned])
        else:
            owned = index[arrays.owners]
            for g, cloud in enumerate(clouds):
                cloud.set_offsets(arrays.coords[owned == g].reshape(-1, 2))
        ax.set_title(f"Responses in 2-D (classical MDS) — {name}, t = {t}", fontsize="medium")
        return clouds

    animation = FuncAnimation(fig, draw, frames=len(frames), blit=False)
    with replacing(path) as tmp:  # whole or not at all
        animation.save(tmp, writer=PillowWriter(fps=2), dpi=80)
    plt.close(fig)


def _grouped(groups: list[Group]) -> bool:
    return any(len(g.members) > 1 for g in groups)


def _shuffled(arrays: RoundArrays, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A round's points and their groups in a fixed random order (seed 0)."""
    order = np.random.default_rng(0).permutation(len(arrays.owners))
    return arrays.coords[order], index[arrays.owners[order]]


def _point_size(arrays: RoundArrays) -> float:
    """Points small enough that thousands of answers stay a cloud (18 up to a few hundred answers)."""
    return float(np.clip(18 * np.sqrt(400 / max(len(arrays.owners), 1)), 2, 18))


def _plot_mds(panels: list[tuple[int, RoundArrays]], groups: list[Group], path: Path, name: str) -> None:
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(5.2 * len(panels), 4.4),
        sharex=True,
        sharey=True,
        layout="constrained",
        squeeze=False,
    )
    colours = plt.get_cmap("tab10")
    index = group_index(groups)
    for ax, (t, arrays) in zip(axes[0], panels, strict=True):
        owned = index[arrays.owners]
        size = _point_size(arrays)
        if _grouped(groups):  # one cloud in a random order, so that no group is drawn over all the others
            coords, mine = _shuffled(arrays, index)
            ax.scatter(coords[:, 0], coords[:, 1], s=size, alpha=0.75, color=[colours(g % 10) for g in mine])
        for k, group in enumerate(groups):
            pts = (
                arrays.coords[owned == k] if not _grouped(groups) else np.zeros((0, 2))
            )  # else: a legend entry
            ax.scatter(pts[:, 0], pts[:, 1], s=size, alpha=0.75, color=colours(k % 10), label=group.label)
        ax.set_title(f"t = {t}")
        ax.set_xlabel("MDS 1")
    axes[0][0].set_ylabel("MDS 2")
    axes[0][-1].legend(frameon=False, fontsize="small")
    fig.suptitle(f"Responses in 2-D (classical MDS) — {name} (cf. paper Fig. 3)")
    save_figure(fig, path, dpi=120)
    plt.close(fig)
