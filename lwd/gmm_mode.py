"""``lwd gmm``: simulate a scenario's GMM proxy and write its run folder.

Folder contents::

    metrics.csv     replicate,round,frobenius          ‖D⁽ᵗ⁾‖_F for rounds 0..T
    weights.csv     replicate,round,model,pi_0..pi_B-1  Π_i⁽ᵗ⁾ at the start of each round
    rounds.csv      round,store_size,k,alpha,c          |A_t|, k_t, α_t, c_{t,B} (the same for all replicates)
    scenario.toml   the scenario file as it was read
    manifest.json   scenario (resolved), overrides, seeds and streams, versions, timings, outputs
    figures/frobenius.png  ‖D‖_F over rounds, a line per replicate (paper Fig. 4; Fig. 6 for B = 11)
    figures/densities.png  the n mixture densities at t = 1 and t = T (paper Fig. 5)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from lwd.gmm.simulate import GMMRun, RoundCallback, simulate
from lwd.runfolder import now_iso, staged_folder, versions, write_json
from lwd.scenario import LoadedScenario

__all__ = ["run_gmm", "simulate_scenario", "write_gmm_folder"]


def simulate_scenario(loaded: LoadedScenario, on_round: RoundCallback | None = None) -> GMMRun:
    s = loaded.scenario
    net = s.network
    return simulate(
        s.gmm,
        n=net.n,
        beta=net.beta,
        samples=net.samples,
        rounds=net.rounds,
        replicates=s.replicates,
        seed=s.seed,
        on_round=on_round,
    )


def run_gmm(loaded: LoadedScenario, out: Path, on_round: RoundCallback | None = None) -> tuple[GMMRun, Path]:
    """Simulate and write the run folder ``out`` (which must not hold anything yet)."""
    with staged_folder(out) as staging:
        started = time.perf_counter()
        run = simulate_scenario(loaded, on_round)
        seconds = time.perf_counter() - started
        write_gmm_folder(run, loaded, staging, simulate_seconds=seconds)
    return run, out


def write_gmm_folder(run: GMMRun, loaded: LoadedScenario, folder: Path, simulate_seconds: float) -> None:
    from lwd.gmm.figures import plot_densities, plot_frobenius  # matplotlib only when writing figures

    folder = Path(folder)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    n_rep, n_rounds, n, n_comp = run.weights.shape
    rep, rnd = np.meshgrid(np.arange(n_rep), np.arange(n_rounds), indexing="ij")
    _write_csv(
        folder / "metrics.csv",
        "replicate,round,frobenius",
        np.column_stack([rep.ravel(), rnd.ravel(), run.frobenius.ravel()]),
        ["%d", "%d", "%.17g"],
    )
    idx = np.indices((n_rep, n_rounds, n)).reshape(3, -1).T
    _write_csv(
        folder / "weights.csv",
        "replicate,round,model," + ",".join(f"pi_{b}" for b in range(n_comp)),
        np.column_stack([idx, run.weights.reshape(-1, n_comp)]),
        ["%d"] * 3 + ["%.17g"] * n_comp,
    )
    _write_csv(
        folder / "rounds.csv",
        "round,store_size,k,alpha,c",
        np.column_stack([np.arange(n_rounds), run.store_size, run.k, run.alpha, run.c]),
        ["%d", "%d", "%d", "%.17g", "%.17g"],
    )
    (folder / "scenario.toml").write_text(loaded.text, encoding="utf-8")

    s = loaded.scenario
    label = f"{loaded.name}" + (f" (cf. paper {s.paper_figure})" if s.paper_figure else "")
    plot_frobenius(run, folder / "figures" / "frobenius.png", title=r"$\|D^{(t)}\|_F$ over rounds — " + label)
    plot_densities(run, folder / "figures" / "densities.png", title=f"GMM densities — {loaded.name}")

    write_json(
        folder / "manifest.json",
        {
            "kind": "gmm",
            "created": now_iso(),
            "command": sys.argv,
            "scenario": {
                "name": loaded.name,
                "path": str(loaded.path) if loaded.path else None,
                "sha256": loaded.sha256,
                "overrides": loaded.overrides,
                "resolved": s.model_dump(mode="json"),
            },
            "seed": s.seed,
            "replicates": s.replicates,
            "streams": "replicate r draws from numpy PCG64 seeded by SeedSequence(seed, spawn_key=(r,))",
            "means": run.means,
            "covariance": run.cov,
            "final_frobenius": run.frobenius[:, -1],
            "simulate_seconds": round(simulate_seconds, 4),
            "versions": versions(),
            "outputs": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
            + ["manifest.json"],
        },
    )


def _write_csv(path: Path, header: str, rows: np.ndarray, fmt: list[str]) -> None:
    np.savetxt(path, rows, fmt=fmt, delimiter=",", header=header, comments="")
