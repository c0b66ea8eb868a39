"""Appendix A beside the simulation, over a grid of settings: rerun with `python docs/appendix_a.py`.

Starts from the paper's B = 2 network (n = 3, β = 0.5, L = 3, μ = ±5, σ² = 1, Dir(1), α = 1/k, ε = 0) and changes
one setting at a time: β, L, n, B, the components' separation, ε. Each cell simulates ``--replicates``
replicates for ``--rounds`` rounds (:func:`lwd.gmm.simulate.simulate`) and computes Appendix A's recursion for
the same schedule (:func:`lwd.gmm.expectation.expectation`). Prints a Markdown table (docs/appendix-a.md quotes
it) and draws docs/img/appendix-a-grid.png.

Columns: the simulated RMS of ‖D⁽ᵀ⁾‖_F over the replicates divided by its RMS at round 0; the same ratio that
Appendix A's expected weights give and that its second-order version (the noise of the k_t draws) gives; the
median over rounds ≥ 10 of the simulated per-round contraction ‖D⁽ᵗ⁺¹⁾‖/‖D⁽ᵗ⁾‖ against the proof's
(1 − α_t)^{k_t}; the share of models that lost a component for good (a weight at 0 at round T); and, over
the replicates where no model lost one, the simulated RMS ‖D⁽ᵀ⁾‖_F divided by the second-order expectation's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lwd.gmm.config import GMMConfig, LineMeans
from lwd.gmm.expectation import contraction_factor, expectation
from lwd.gmm.simulate import simulate

BASE = {"n": 3, "beta": 0.5, "samples": 3, "components": 2, "spacing": 10.0, "epsilon": 0.0}
GRID = [
    ("paper (Fig. 4)", {}),
    ("β = 0.1", {"beta": 0.1}),
    ("β = 0.9", {"beta": 0.9}),
    ("L = 1", {"samples": 1}),
    ("L = 10", {"samples": 10}),
    ("n = 10", {"n": 10}),
    ("B = 5", {"components": 5}),
    ("separation 4σ", {"spacing": 4.0}),
    ("separation 2σ", {"spacing": 2.0}),
    ("ε = 0.01", {"epsilon": 0.01}),
]


def cell(settings: dict, rounds: int, replicates: int, seed: int) -> dict:
    config = GMMConfig(
        components=settings["components"],
        means=LineMeans(spacing=settings["spacing"]),
        epsilon=settings["epsilon"],
    )
    run = simulate(
        config, settings["n"], settings["beta"], settings["samples"], rounds, replicates=replicates, seed=seed
    )
    expected = expectation(run, config, settings["samples"])

    def rms(x: np.ndarray) -> np.ndarray:
        return np.sqrt((x**2).mean(axis=0))

    with np.errstate(divide="ignore", invalid="ignore"):
        steps = run.frobenius[:, 11:] / run.frobenius[:, 10:-1]
    lost = (run.weights[:, -1] <= 1e-12).any(axis=-1)  # (R, n): a component gone for good
    whole = ~lost.any(axis=1)  # replicates where no model lost one
    return {
        "whole": float(whole.mean()),
        "whole_ratio": float(rms(run.frobenius[whole])[-1] / rms(expected.frobenius_noise[whole])[-1])
        if whole.any()
        else float("nan"),
        "simulated": rms(run.frobenius),
        "appendix_a": rms(expected.frobenius),
        "with_noise": rms(expected.frobenius_noise),
        "contraction": float(np.nanmedian(steps)),
        "factor": float(np.nanmedian(contraction_factor(run)[10:-1])),
        "lost": float(lost.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=str(Path(__file__).parent / "img" / "appendix-a-grid.png"))
    args = parser.parse_args()
    results = [
        (name, cell({**BASE, **change}, args.rounds, args.replicates, args.seed)) for name, change in GRID
    ]
    t = args.rounds
    print(f"\n{args.replicates} replicates, rounds 0–{t}; ratios are RMS ‖D⁽{t}⁾‖_F / RMS ‖D⁽⁰⁾‖_F\n")
    print(
        "| cell | simulated | Appendix A | … with the draws' noise | contraction: simulated | (1−α)^k "
        "| models that lost a component | replicates with none: simulated / with noise |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results:
        start = r["simulated"][0]
        print(
            f"| {name} | {r['simulated'][-1] / start:.3f} | {r['appendix_a'][-1] / start:.1e} | "
            f"{r['with_noise'][-1] / start:.3f} | {r['contraction']:.3f} | {r['factor']:.3f} | {r['lost']:.1%} | "
            f"{r['whole_ratio']:.2f} ({r['whole']:.0%} of them) |"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 5, figsize=(16, 6), sharex=True, layout="constrained")
    rounds = np.arange(t + 1)
    for ax, (name, r) in zip(axes.ravel(), results, strict=True):
        ax.plot(rounds, r["simulated"], color="tab:blue", label="simulated (RMS)")
        ax.plot(rounds, r["with_noise"], "k:", lw=1.6, label="with the draws' noise")
        ax.plot(rounds, np.where(r["appendix_a"] > 0, r["appendix_a"], np.nan), "k--", label="Appendix A")
        ax.set_yscale("log")
        ax.set_ylim(bottom=r["simulated"][r["simulated"] > 0].min() / 10)
        ax.set_title(name, fontsize="medium")
    axes[0, 0].legend(frameon=False, fontsize="x-small")
    for ax in axes[1]:
        ax.set_xlabel("round t")
    for ax in axes[:, 0]:
        ax.set_ylabel(r"$\|D^{(t)}\|_F$")
    fig.savefig(args.figure, dpi=110)
    print(f"\n(figure: {args.figure})")


if __name__ == "__main__":
    main()
