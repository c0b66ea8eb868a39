"""``lwd report``: the tables and figures of an LLM run, (re)drawn from its committed rounds.

Fig. 2 of the paper: ‖D⁽ᵗ⁾‖_F over rounds. Fig. 3: the classical-MDS picture of every response at t = 1 and
t = T, a colour per agent, on shared axes (rounds are aligned by Procrustes, so shrinking clouds mean collapse).
Beyond the paper: ‖D‖_F within and between communities (topologies with communities), and the LLM curve over
its matched GMM twin's, each divided by its round-0 value (runs with ``twin/``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lwd.rounds import RoundLog  # noqa: E402

__all__ = ["write_report", "plot_communities"]


def write_report(folder: Path) -> list[Path]:
    """Rebuild responses.csv and metrics.csv and draw figures/frobenius.png and figures/mds.png."""
    folder = Path(folder)
    log = RoundLog(folder)
    records = log.records()
    if not records:
        raise FileNotFoundError(
            f"{folder} has no committed round yet: nothing to report (is it an `lwd run` "
            "folder? an interrupted run continues with `lwd resume`)."
        )
    log.write_tables()
    name = json.loads((folder / "manifest.json").read_text())["scenario"]["name"]
    agents = [a.agent for a in records[0].agents]
    (folder / "figures").mkdir(exist_ok=True)
    frob = folder / "figures" / "frobenius.png"
    _plot_frobenius([r.round for r in records], [r.frobenius for r in records], frob, name)
    shown = sorted({min(1, records[-1].round), records[-1].round})
    mds = folder / "figures" / "mds.png"
    _plot_mds([(t, log.arrays(t)) for t in shown], agents, mds, name)
    written = [folder / "metrics.csv", folder / "responses.csv", frob, mds]
    rounds = [r.round for r in records]
    if records[0].communities:
        path = folder / "figures" / "communities.png"
        columns = {g: [r.communities.get(g) for r in records] for g in records[0].communities}
        plot_communities(rounds, columns, path, name)
        written.append(path)
    from lwd.twin import read_twin

    twin = read_twin(folder)
    if twin is not None:
        path = folder / "figures" / "twin.png"
        _plot_twin(rounds, [r.frobenius for r in records], twin, path, name)
        written.append(path)
    return written


@contextlib.contextmanager
def _rounds_figure(path: Path, ylabel: str, title: str, legend: bool = True) -> Iterator:
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
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_twin(rounds: list[int], llm: list[float], twin, path: Path, name: str) -> None:
    """The LLM run's ‖D‖_F and its GMM twin's (mean over replicates, with their range), each ÷ round 0."""
    from lwd.twin import normalised

    gmm = normalised(twin)
    ylabel = r"$\|D^{(t)}\|_F \;/\; \|D^{(0)}\|_F$"
    with _rounds_figure(path, ylabel, f"LLM network and its GMM twin — {name}") as ax:
        t = range(gmm.shape[1])
        if gmm.shape[0] > 1:
            ax.fill_between(t, gmm.min(axis=0), gmm.max(axis=0), alpha=0.2, color="tab:orange", lw=0)
        replicates = f"{gmm.shape[0]} replicate{'s' * (gmm.shape[0] > 1)}"
        ax.plot(t, gmm.mean(axis=0), color="tab:orange", lw=1.4, label=f"GMM twin ({replicates})")
        marker = "o" if len(rounds) <= 30 else None
        ax.plot(rounds, normalised(llm), color="tab:blue", marker=marker, ms=3, lw=1.6, label="LLM network")
        ax.axhline(1.0, color="0.6", lw=0.8, ls=":")


def _plot_frobenius(rounds: list[int], values: list[float], path: Path, name: str) -> None:
    title = r"$\|D^{(t)}\|_F$ over rounds — " + f"{name} (cf. paper Fig. 2)"
    with _rounds_figure(path, r"$\|D^{(t)}\|_F$", title, legend=False) as ax:
        ax.plot(rounds, values, marker="o" if len(rounds) <= 30 else None, ms=3, lw=1.4)


def plot_communities(rounds, columns: dict[str, object], path: Path, name: str) -> None:
    """‖D‖_F within each community and between communities, over rounds."""
    title = f"Collapse within and between communities — {name}"
    with _rounds_figure(path, r"$\|D^{(t)}\|_F$ over the pairs", title) as ax:
        for column, values in columns.items():
            between = column == "between"
            label = "between communities" if between else f"within {column.removeprefix('within_')}"
            ax.plot(rounds, values, lw=1.4, ls="--" if between else "-", label=label)


def _plot_mds(panels: list[tuple[int, object]], agents: list[str], path: Path, name: str) -> None:
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
    for ax, (t, arrays) in zip(axes[0], panels, strict=True):
        for i, agent in enumerate(agents):
            pts = arrays.coords[arrays.owners == i]
            ax.scatter(pts[:, 0], pts[:, 1], s=18, alpha=0.75, color=colours(i % 10), label=agent)
        ax.set_title(f"t = {t}")
        ax.set_xlabel("MDS 1")
    axes[0][0].set_ylabel("MDS 2")
    axes[0][-1].legend(frameon=False, fontsize="small")
    fig.suptitle(f"Responses in 2-D (classical MDS) — {name} (cf. paper Fig. 3)")
    fig.savefig(path, dpi=120)
    plt.close(fig)
