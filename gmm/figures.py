"""The paper's GMM figures: ‖D‖_F over rounds (Fig. 4 / Fig. 6) and the models' densities (Fig. 5)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lwd.gmm.density import density_grid, marginal_densities  # noqa: E402
from lwd.gmm.simulate import GMMRun  # noqa: E402

__all__ = ["plot_frobenius", "plot_densities"]


def plot_frobenius(run: GMMRun, path: Path, title: str) -> None:
    """One line per replicate of ‖D⁽ᵗ⁾‖_F, t = 0..T (the paper's Fig. 4, and Fig. 6 for B = 11)."""
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    rounds = np.arange(run.rounds + 1)
    for r, line in enumerate(run.frobenius):
        ax.plot(rounds, line, lw=1.2, label=f"replicate {r}" if len(run.frobenius) <= 10 else None)
    ax.set_xlabel("round t")
    ax.set_ylabel(r"$\|D^{(t)}\|_F$")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    if len(run.frobenius) <= 10:
        ax.legend(frameon=False, fontsize="small")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_densities(run: GMMRun, path: Path, title: str, replicate: int = 0) -> None:
    """The n mixture densities g_i at t = 1 and t = T (the paper's Fig. 5); for d > 1, their first marginal."""
    x = density_grid(run.means, run.cov, 800)
    rounds = (min(1, run.rounds), run.rounds)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True, layout="constrained")
    n = run.weights.shape[2]
    for ax, t in zip(axes, rounds, strict=True):
        for i, density in enumerate(marginal_densities(run.means, run.cov, run.weights[replicate, t], x)):
            ax.plot(
                x,
                density,
                lw=1.2 if n <= 10 else 0.6,
                alpha=1 if n <= 10 else 0.4,
                label=f"model {i}" if n <= 10 else None,
            )
        ax.set_title(f"t = {t}")
        ax.set_xlabel("x" if run.means.shape[1] == 1 else "x₁ (first coordinate)")
    axes[0].set_ylabel("density $g_i^{(t)}(x)$")
    if n <= 10:
        axes[1].legend(frameon=False, fontsize="small")
    fig.suptitle(f"{title} (replicate {replicate})")
    fig.savefig(path, dpi=120)
    plt.close(fig)
