"""The figures of a GMM run, drawn from its folder: ‖D‖_F over rounds (the paper's Fig. 4 / Fig. 6), the models'
densities (Fig. 5), every registered metric over rounds, and ‖D‖_F within and between communities."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lwd.gmm.density import density_grid, marginal_densities
from lwd.metrics import GMM, MetricContext
from lwd.metrics.registry import computable
from lwd.report.figures import communities, plot_communities, plot_metric_panels, plt, save_figure
from lwd.report.html import write_sources_html
from lwd.report.sources import read_sources
from lwd.run.gmm import read_metric_table
from lwd.run.manifest import read_manifest

__all__ = ["write_gmm_report", "read_weights", "plot_frobenius", "plot_densities"]


def read_weights(folder: Path) -> np.ndarray:
    """Π_i⁽ᵗ⁾ of every replicate, round and model from weights.csv: (R, T+1, n, B)."""
    data = np.loadtxt(Path(folder) / "weights.csv", delimiter=",", skiprows=1, ndmin=2)
    shape = tuple(int(data[:, j].max()) + 1 for j in range(3))
    return data[:, 3:].reshape(*shape, -1)


def write_gmm_report(folder: Path) -> list[Path]:
    """Draw the figures of the GMM run in ``folder``; returns the files written."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    s = manifest["scenario"]
    name = s["name"]
    label = name + (
        f" (cf. paper {s['resolved']['paper_figure']})" if s["resolved"].get("paper_figure") else ""
    )
    table = read_metric_table(folder / "metrics.csv")
    weights = read_weights(folder)
    means, cov = np.atleast_2d(manifest["means"]), np.atleast_2d(manifest["covariance"])
    figures = folder / "figures"
    figures.mkdir(exist_ok=True)
    written = [figures / "frobenius.png", figures / "densities.png", figures / "metrics.png"]
    plot_frobenius(table["frobenius"], written[0], title=r"$\|D^{(t)}\|_F$ over rounds — " + label)
    plot_densities(weights, means, cov, written[1], title=f"GMM densities — {name}")
    n_rep, n_rounds = table["frobenius"].shape
    rounds = np.arange(n_rounds)
    ctx = MetricContext(tuple(str(i) for i in range(weights.shape[2])), manifest["topology"]["communities"])
    metrics = computable(GMM)
    columns_of = {m.name: [c for c in m.describe(ctx) if c.name in table] for m in metrics}
    reps = f"{n_rep} replicate{'s' * (n_rep > 1)}"
    plot_metric_panels(
        rounds, table, metrics, columns_of, written[2], f"Every metric over rounds — {name} ({reps})"
    )
    groups = {c: table[c].mean(axis=0) for c in communities(columns_of)}
    if groups:
        path = figures / "communities.png"
        topology = s["resolved"]["topology"]["name"]
        plot_communities(rounds, groups, path, f"{name} ({topology}; mean of {reps})")
        written.append(path)
    about = s["resolved"].get("description", "") + f" — {reps} (the bands: mean and 95% interval over them)"
    written.append(write_sources_html(folder, name, about, read_sources([folder], [name])))
    return written


def plot_frobenius(frobenius: np.ndarray, path: Path, title: str) -> None:
    """One line per replicate of ‖D⁽ᵗ⁾‖_F, t = 0..T (the paper's Fig. 4, and Fig. 6 for B = 11)."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    rounds = np.arange(frobenius.shape[1])
    for r, line in enumerate(frobenius):
        ax.plot(rounds, line, lw=1.2, label=f"replicate {r}" if len(frobenius) <= 10 else None)
    ax.set_xlabel("round t")
    ax.set_ylabel(r"$\|D^{(t)}\|_F$")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    if len(frobenius) <= 10:
        ax.legend(frameon=False, fontsize="small")
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def plot_densities(
    weights: np.ndarray, means: np.ndarray, cov: np.ndarray, path: Path, title: str, replicate: int = 0
) -> None:
    """The n mixture densities g_i at t = 1 and t = T (the paper's Fig. 5); for d > 1, their first marginal.
    weights: (R, T+1, n, B)."""
    x = density_grid(means, cov, 800)
    last = weights.shape[1] - 1
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True, layout="constrained")
    n = weights.shape[2]
    for ax, t in zip(axes, (min(1, last), last), strict=True):
        for i, density in enumerate(marginal_densities(means, cov, weights[replicate, t], x)):
            ax.plot(
                x,
                density,
                lw=1.2 if n <= 10 else 0.6,
                alpha=1 if n <= 10 else 0.4,
                label=f"model {i}" if n <= 10 else None,
            )
        ax.set_title(f"t = {t}")
        ax.set_xlabel("x" if means.shape[1] == 1 else "x₁ (first coordinate)")
    axes[0].set_ylabel("density $g_i^{(t)}(x)$")
    if n <= 10:
        axes[1].legend(frameon=False, fontsize="small")
    fig.suptitle(f"{title} (replicate {replicate})")
    save_figure(fig, path, dpi=120)
    plt.close(fig)
