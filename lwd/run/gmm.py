"""``lwd gmm``: simulate a scenario's GMM proxy and write its run folder (data; figures are the report's).

Folder contents::

    metrics.csv     replicate,round,<every metric the GMM mode computes>   frobenius, within_<c>…, between
    weights.csv     replicate,round,model,pi_0..pi_B-1  Π_i⁽ᵗ⁾ at the start of each round
    rounds.csv      round,model,store_size,visible,k,alpha,c   |A_t|, what model i sees and reads, α_t, c_{t,B}
                    (the same for all replicates)
    expectation.csv replicate,round,appendix_a,with_draw_noise,factor   Appendix A's expected ‖D⁽ᵗ⁾‖_F from the
                    replicate's Π⁽⁰⁾, the same with the noise of the k_t draws, and (1 − α_t)^{k_t}
                    (:mod:`lwd.gmm.expectation`)
    scenario.toml   the scenario file as it was read
    manifest.json   scenario (text, resolved), overrides, seeds and streams, the mixture, versions, timings, outputs
    figures/        drawn by lwd.report.gmm from the files above
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lwd.core.files import write_json
from lwd.core.resources import check_memory
from lwd.gmm.config import GMMConfig
from lwd.gmm.expectation import contraction_factor, expectation
from lwd.gmm.simulate import GMMRun, RoundCallback, memory_estimate, simulate
from lwd.metrics import GMM, MetricContext, RoundData
from lwd.metrics.registry import columns, evaluate
from lwd.run.folder import staged_folder
from lwd.run.kinds import RunKind
from lwd.run.manifest import MANIFEST, scenario_manifest
from lwd.run.scenario import LoadedScenario, Scenario

__all__ = [
    "run_gmm",
    "simulate_scenario",
    "simulate_network",
    "check_network_memory",
    "metric_table",
    "write_metric_table",
    "read_metric_table",
    "expectation_table",
    "Finish",
]

# what the interface runs on the finished data, inside the staging folder (the report: figures)
Finish = Callable[[Path], object]


def simulate_network(
    scenario: Scenario,
    base: Path,
    config: GMMConfig | None = None,
    on_round: RoundCallback | None = None,
) -> GMMRun:
    """Algorithm 3 on a scenario's network — its n, β (per model), L, T, seed, replicates, topology and data
    regime — with the scenario's [gmm] mixture (or ``config``). Refused before any work when it would not fit
    in memory."""
    config = config or scenario.gmm
    check_network_memory(scenario, config)
    net, wiring = scenario.network, scenario.wiring(base)
    return simulate(
        config,
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


def check_network_memory(scenario: Scenario, config: GMMConfig | None = None) -> None:
    """A SetupError, before any work, when the GMM simulation of ``scenario`` would not fit in memory."""
    net = scenario.network
    needed = memory_estimate(
        config or scenario.gmm,
        net.n,
        net.betas,
        net.samples,
        net.rounds,
        scenario.replicates,
        scenario.internet,
    )
    check_memory(
        needed,
        f"the GMM simulation of n = {net.n} models × L = {net.samples} points × {net.rounds + 1} rounds × "
        f"{scenario.replicates} replicate(s)",
        fix="lower network.n, network.samples, network.rounds or replicates (or a smaller beta; an Internet "
        "with a `cap` or a window keeps fewer points)",
    )


def simulate_scenario(loaded: LoadedScenario, on_round: RoundCallback | None = None) -> GMMRun:
    return simulate_network(loaded.scenario, loaded.base, on_round=on_round)


def metric_table(run: GMMRun, scenario: Scenario, base: Path) -> dict[str, np.ndarray]:
    """Every metric the GMM mode can compute (:data:`lwd.metrics.GMM`), per replicate and round:
    ``{column: (R, T+1)}``. Round t sees the weights at its start, all replicates at once."""
    ctx = MetricContext(scenario.names, scenario.wiring(base).communities)
    table = {c: np.empty(run.frobenius.shape) for c in columns(ctx, GMM)}
    for t in range(run.rounds + 1):
        data = RoundData(
            names=ctx.names,
            communities=ctx.communities,
            means=run.weights[:, t],
            round=t,
            seed=run.seed,
            settings=scenario.metrics,
        )
        for column, values in evaluate(data, GMM).items():
            table[column][:, t] = values
    return table


def write_metric_table(path: Path, table: dict[str, np.ndarray]) -> None:
    """``replicate,round,<columns>`` at full precision."""
    n_rep, n_rounds = next(iter(table.values())).shape
    rep, rnd = np.meshgrid(np.arange(n_rep), np.arange(n_rounds), indexing="ij")
    _write_csv(
        path,
        ",".join(["replicate", "round", *table]),
        np.column_stack([rep.ravel(), rnd.ravel(), *(v.ravel() for v in table.values())]),
        ["%d", "%d"] + ["%.17g"] * len(table),
    )


def read_metric_table(path: Path) -> dict[str, np.ndarray]:
    """The table :func:`write_metric_table` wrote: ``{column: (R, T+1)}``."""
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    reps = int(data[:, 0].max()) + 1
    return {c: data[:, j].reshape(reps, -1) for j, c in enumerate(header) if c not in ("replicate", "round")}


def run_gmm(
    loaded: LoadedScenario,
    out: Path,
    on_round: RoundCallback | None = None,
    finish: Finish | None = None,
) -> tuple[GMMRun, Path]:
    """Simulate and write the run folder ``out`` (which must not hold anything yet). ``finish(folder)`` runs on
    the written data before the folder appears under its name (the interfaces draw the figures there)."""
    check_network_memory(loaded.scenario)  # before the folder exists
    with staged_folder(out) as staging:
        started = time.perf_counter()
        run = simulate_scenario(loaded, on_round)
        seconds = time.perf_counter() - started
        write_gmm_folder(run, loaded, staging)
        s = loaded.scenario
        manifest = scenario_manifest(
            RunKind.GMM,
            loaded,
            replicates=s.replicates,
            streams="replicate r draws from numpy PCG64 seeded by SeedSequence(seed, spawn_key=(r,))",
            means=run.means,
            covariance=run.cov,
            final_frobenius=run.frobenius[:, -1],
            simulate_seconds=round(seconds, 4),
        )
        write_json(staging / MANIFEST, manifest)
        if finish is not None:
            finish(staging)
        files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
        write_json(staging / MANIFEST, {**manifest, "outputs": files})
    return run, out


def write_gmm_folder(run: GMMRun, loaded: LoadedScenario, folder: Path) -> None:
    """The data files of a GMM run: metrics.csv, weights.csv, rounds.csv and scenario.toml."""
    folder = Path(folder)
    n_rep, n_rounds, n, n_comp = run.weights.shape
    write_metric_table(folder / "metrics.csv", metric_table(run, loaded.scenario, loaded.base))
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
    write_expectation(folder / EXPECTATION, run, loaded)
    (folder / "scenario.toml").write_text(loaded.text, encoding="utf-8")


EXPECTATION = "expectation.csv"


def expectation_table(run: GMMRun, loaded: LoadedScenario) -> dict[str, np.ndarray]:
    """Appendix A's recursion for the network ``run`` simulated: ``{appendix_a, with_draw_noise, factor}``,
    each (R, T+1) (:mod:`lwd.gmm.expectation`)."""
    s = loaded.scenario
    wiring = s.wiring(loaded.base)
    expected = expectation(run, s.gmm, s.network.samples, wiring.reads, wiring.humans, s.internet)
    return {
        "appendix_a": expected.frobenius,
        "with_draw_noise": expected.frobenius_noise,
        "factor": np.broadcast_to(contraction_factor(run), expected.frobenius.shape),
    }


def write_expectation(path: Path, run: GMMRun, loaded: LoadedScenario) -> None:
    """expectation.csv: the table of :func:`expectation_table`, in the layout of metrics.csv."""
    write_metric_table(path, expectation_table(run, loaded))


def _write_csv(path: Path, header: str, rows: np.ndarray, fmt: list[str]) -> None:
    np.savetxt(path, rows, fmt=fmt, delimiter=",", header=header, comments="")
