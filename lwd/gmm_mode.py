"""``lwd gmm``: simulate a scenario's GMM proxy and write its run folder.

Folder contents::

    metrics.csv     replicate,round,frobenius[,within_<c>…,between]  ‖D⁽ᵗ⁾‖_F for rounds 0..T (and per community)
    weights.csv     replicate,round,model,pi_0..pi_B-1  Π_i⁽ᵗ⁾ at the start of each round
    rounds.csv      round,model,store_size,visible,k,alpha,c   |A_t|, what model i sees and reads, α_t, c_{t,B}
                    (the same for all replicates)
    scenario.toml   the scenario file as it was read
    manifest.json   scenario (resolved), overrides, seeds and streams, versions, timings, outputs
    figures/frobenius.png  ‖D‖_F over rounds, a line per replicate (paper Fig. 4; Fig. 6 for B = 11)
    figures/densities.png  the n mixture densities at t = 1 and t = T (paper Fig. 5)
    figures/communities.png  ‖D‖_F within each community and between them (topologies with communities)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from lwd.gmm.config import GMMConfig
from lwd.gmm.simulate import GMMRun, RoundCallback, simulate
from lwd.metrics import community_norms, distance_matrix
from lwd.runfolder import now_iso, staged_folder, versions, write_json
from lwd.scenario import LoadedScenario, Scenario

__all__ = ["run_gmm", "simulate_scenario", "simulate_network", "write_gmm_folder", "community_table"]


def simulate_network(
    scenario: Scenario,
    base: Path,
    config: GMMConfig | None = None,
    on_round: RoundCallback | None = None,
) -> GMMRun:
    """Algorithm 3 on a scenario's network — its n, β (per model), L, T, seed, replicates, topology and data
    regime — with the scenario's [gmm] mixture (or ``config``)."""
    net, wiring = scenario.network, scenario.wiring(base)
    return simulate(
        config or scenario.gmm,
        n=net.n,
        beta=net.betas,
        samples=net.samples,
        rounds=net.rounds,
        replicates=scenario.replicates,
        seed=scenario.seed,
        on_round=on_round,
        reads=wiring.reads,
        humans_visible=wiring.humans,
        internet=scenario.internet,
    )


def simulate_scenario(loaded: LoadedScenario, on_round: RoundCallback | None = None) -> GMMRun:
    return simulate_network(loaded.scenario, loaded.base, on_round=on_round)


def community_table(run: GMMRun, communities: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Per-community ‖D‖_F of every replicate and round: {column: (R, T+1)}."""
    return community_norms(distance_matrix(run.weights), communities)


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
    groups = community_table(run, loaded.scenario.wiring(loaded.base).communities)
    _write_csv(
        folder / "metrics.csv",
        ",".join(["replicate", "round", "frobenius", *groups]),
        np.column_stack(
            [rep.ravel(), rnd.ravel(), run.frobenius.ravel(), *(v.ravel() for v in groups.values())]
        ),
        ["%d", "%d"] + ["%.17g"] * (1 + len(groups)),
    )
    idx = np.indices((n_rep, n_rounds, n)).reshape(3, -1).T
    _write_csv(
        folder / "weights.csv",
        "replicate,round,model," + ",".join(f"pi_{b}" for b in range(n_comp)),
        np.column_stack([idx, run.weights.reshape(-1, n_comp)]),
        ["%d"] * 3 + ["%.17g"] * n_comp,
    )
    rnd, model = np.meshgrid(np.arange(n_rounds), np.arange(n), indexing="ij")
    _write_csv(
        folder / "rounds.csv",
        "round,model,store_size,visible,k,alpha,c",
        np.column_stack(
            [
                rnd.ravel(),
                model.ravel(),
                np.repeat(run.store_size, n),
                run.visible.ravel(),
                run.k.ravel(),
                run.alpha.ravel(),
                run.c.ravel(),
            ]
        ),
        ["%d"] * 5 + ["%.17g", "%.17g"],
    )
    (folder / "scenario.toml").write_text(loaded.text, encoding="utf-8")

    s = loaded.scenario
    label = f"{loaded.name}" + (f" (cf. paper {s.paper_figure})" if s.paper_figure else "")
    plot_frobenius(run, folder / "figures" / "frobenius.png", title=r"$\|D^{(t)}\|_F$ over rounds — " + label)
    plot_densities(run, folder / "figures" / "densities.png", title=f"GMM densities — {loaded.name}")
    if groups:
        from lwd.report import plot_communities

        rounds = np.arange(n_rounds)
        plot_communities(
            rounds,
            {k: v.mean(axis=0) for k, v in groups.items()},
            folder / "figures" / "communities.png",
            f"{loaded.name} ({s.topology.name}; mean of {n_rep} replicate{'s' * (n_rep > 1)})",
        )

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
            "topology": loaded.scenario.wiring(loaded.base).describe(),
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
