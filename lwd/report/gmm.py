"""The figures of a GMM run, drawn from its folder: ‖D‖_F over rounds (the paper's Fig. 4 / Fig. 6), the models'
densities (Fig. 5), every registered metric over rounds, ‖D‖_F within and between communities, and the
simulation beside Appendix A's expectation (appendix-a.png)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lwd.gmm.density import density_grid, marginal_densities
from lwd.metrics import GMM
from lwd.metrics.collapse import FROBENIUS
from lwd.metrics.registry import computable
from lwd.report.figures import communities, plot_communities, plot_metric_panels, plt, save_figure
from lwd.report.html import write_sources_html
from lwd.report.sources import Source, read_sources
from lwd.run.gmm import EXPECTATION, read_metric_table
from lwd.run.manifest import read_manifest

__all__ = [
    "write_gmm_report",
    "read_weights",
    "read_expectation",
    "plot_frobenius",
    "plot_densities",
    "plot_appendix_a",
]


def read_weights(folder: Path) -> np.ndarray:
    """Π_i⁽ᵗ⁾ of every replicate, round and model from weights.csv: (R, T+1, n, B)."""
    data = np.loadtxt(Path(folder) / "weights.csv", delimiter=",", skiprows=1, ndmin=2)
    shape = tuple(int(data[:, j].max()) + 1 for j in range(3))
    return data[:, 3:].reshape(*shape, -1)


def write_gmm_report(folder: Path) -> list[Path]:
    """Draw the figures of the GMM run in ``folder``; returns the files written."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    name, figure = manifest.name, manifest.scenario.resolved.get("paper_figure")
    label = name + (f" (cf. paper {figure})" if figure else "")
    table = read_metric_table(folder / "metrics.csv")
    weights = read_weights(folder)
    means, cov = np.atleast_2d(manifest.means), np.atleast_2d(manifest.covariance)
    figures = folder / "figures"
    figures.mkdir(exist_ok=True)
    written = [figures / "frobenius.png", figures / "densities.png", figures / "metrics.png"]
    expected = read_expectation(folder) if (folder / EXPECTATION).is_file() else None  # none before lwd 0.3
    if expected is not None:
        written.append(figures / "appendix-a.png")
        plot_appendix_a(table[FROBENIUS], expected, written[-1], name)
    plot_frobenius(table[FROBENIUS], written[0], title=r"$\|D^{(t)}\|_F$ over rounds — " + label)
    plot_densities(weights, means, cov, written[1], title=f"GMM densities — {name}")
    n_rep, n_rounds = table[FROBENIUS].shape
    rounds = np.arange(n_rounds)
    ctx = manifest.context([str(i) for i in range(weights.shape[2])])
    metrics = computable(GMM)
    columns_of = {m.name: [c for c in m.describe(ctx) if c.name in table] for m in metrics}
    reps = f"{n_rep} replicate{'s' * (n_rep > 1)}"
    plot_metric_panels(
        rounds, table, metrics, columns_of, written[2], f"Every metric over rounds — {name} ({reps})"
    )
    groups = {c: table[c].mean(axis=0) for c in communities(columns_of)}
    if groups:
        path = figures / "communities.png"
        topology = manifest.topology_name
        plot_communities(rounds, groups, path, f"{name} ({topology}; mean of {reps})")
        written.append(path)
    about = manifest.description + f" — {reps} (the bands: mean and 95% interval over them)"
    sources = read_sources([folder], [name])
    if expected is not None:  # the frobenius panel: the simulation's band beside the proof's
        for column, label in [
            ("appendix_a", "Appendix A (expected weights)"),
            ("with_draw_noise", "Appendix A with the noise of the k_t draws"),
        ]:
            theory = Source(label, settings=sources[0].settings)
            for r, line in enumerate(expected[column]):
                theory.add(r, {FROBENIUS: line})
            sources.append(theory)
    written.append(write_sources_html(folder, name, about, sources))
    return written


def read_expectation(folder: Path) -> dict[str, np.ndarray]:
    """expectation.csv as ``{column: (R, T+1)}``."""
    return read_metric_table(Path(folder) / EXPECTATION)


def plot_appendix_a(frobenius: np.ndarray, expected: dict[str, np.ndarray], path: Path, name: str) -> None:
    """The simulation beside Appendix A: ‖D‖_F per replicate with the expectation's two curves (log scale), and
    the per-round contraction ‖D⁽ᵗ⁺¹⁾‖/‖D⁽ᵗ⁾‖ against the proof's (1 − α_t)^{k_t}."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    rounds = np.arange(frobenius.shape[1])
    positive = frobenius[frobenius > 0]
    floor = float(positive.min()) / 10 if positive.size else 1e-6  # the expectation may fall far below it
    for r, line in enumerate(frobenius):
        label = "simulated (a line per replicate)" if r == 0 else None
        left.plot(rounds, np.where(line > 0, line, np.nan), color="tab:blue", lw=0.8, alpha=0.6, label=label)
    for column, style, label in [
        ("appendix_a", "--", "Appendix A: the expected weights"),
        ("with_draw_noise", ":", "… with the noise of the $k_t$ draws"),
    ]:
        mean = expected[column].mean(axis=0)
        left.plot(rounds, np.where(mean > 0, mean, np.nan), "k" + style, lw=1.6, label=label + " (mean)")
    left.set_yscale("log")
    left.set_ylim(bottom=floor)
    left.set_xlabel("round t")
    left.set_ylabel(r"$\|D^{(t)}\|_F$")
    left.set_title(f"{name}: the simulation and the proof's expectation")
    left.legend(frameon=False, fontsize="small")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = frobenius[:, 1:] / frobenius[:, :-1]
    steps = rounds[:-1]
    if len(steps):
        low, mid, high = np.nanpercentile(ratio, [25, 50, 75], axis=0)
        right.fill_between(steps, low, high, color="tab:blue", alpha=0.2, label="simulated: replicates' IQR")
        right.plot(steps, mid, color="tab:blue", lw=1, label="simulated: median")
    right.plot(steps, expected["factor"][0, :-1], "k--", lw=1.6, label=r"Appendix A: $(1-\alpha_t)^{k_t}$")
    right.axhline(np.exp(-1), color="grey", lw=0.8, ls=":", label=r"$e^{-1}$")
    right.set_xlabel("round t")
    right.set_ylabel(r"$\|D^{(t+1)}\|_F \,/\, \|D^{(t)}\|_F$")
    right.set_title("per-round contraction")
    right.set_ylim(0, max(1.5, float(np.nanmin([np.nanmax(high) if len(steps) else 1.0, 3.0]))))
    right.legend(frameon=False, fontsize="small")
    save_figure(fig, path, dpi=120)
    plt.close(fig)


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
