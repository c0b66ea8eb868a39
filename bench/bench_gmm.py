"""Benchmark of the GMM proxy mode (not part of the test run).

    python bench/bench_gmm.py            # everything, ~2 minutes on 2 cores
    python bench/bench_gmm.py --quick    # the literal simulation on 1 replicate instead of 5
    python bench/bench_gmm.py --hog 4    # the same beside 4 busy processes (a machine running other work)
    python bench/bench_gmm.py --threshold [--hog 4]   # serial against parallel kernel calls by size

Measures, in one run:
  1. Algorithm 2 on identical inputs: the literal one-point-at-a-time ``update_weights`` against the compiled,
     batched kernel (with and without building the likelihood table);
  2. Algorithm 3 for paper-gmm-b2 (5 replicates): ``simulate_reference`` (literal) against ``simulate``;
  3. whole commands as a user runs them: ``lwd gmm paper-gmm-b2`` (numba cache warm, and cold: compiling
     first) and ``lwd gmm bench-gmm-n100-b11``.
Targets (issue "Foundation"): paper-gmm-b2 × 5 under 5 s, kernel ≥ 100× the literal one, n100-b11 under 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from lwd.gmm import GMMConfig, simulate, simulate_reference, update_many, update_weights, update_weights_fast
from lwd.gmm import kernel as compiled
from lwd.gmm.kernel import likelihood_table

console = Console()


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def kernel_bench() -> dict:
    """15 models (paper-b2's 3 models × 5 replicates) each reading 450 points (k_t at t = 100)."""
    rng = np.random.default_rng(0)
    n_models, k = 15, 450
    means, cov = np.array([[-5.0], [5.0]]), np.eye(1)
    weights = rng.dirichlet([1.0, 1.0], size=n_models)
    points = means[rng.integers(0, 2, size=(n_models, k))] + rng.normal(size=(n_models, k, 1))
    alpha, c = 1 / k, 1 / (4 * k)
    literal = best_of(
        lambda: [
            update_weights(w, p, means, cov, alpha, c, 0.0) for w, p in zip(weights, points, strict=True)
        ],
        repeat=2,
    )
    with_table = best_of(lambda: update_weights_fast(weights, points, means, cov, alpha, c, 0.0), repeat=20)
    scaled, log_d = likelihood_table(points.reshape(-1, 1), means, cov)
    tables = (scaled.reshape(n_models, k, 2), log_d.reshape(n_models, k, 2))
    positions = np.tile(np.arange(k), (n_models, 1))
    ones = np.ones(n_models)

    def kernel_only():
        update_many(
            weights.copy(),
            np.arange(n_models),
            positions,
            np.full(n_models, k),
            *tables,
            alpha * ones,
            c * ones,
            0.0,
            True,
        )

    kernel = best_of(kernel_only, repeat=50)
    updates = n_models * k
    return {
        "point_updates": updates,
        "literal_s": literal,
        "fast_with_table_s": with_table,
        "kernel_s": kernel,
        "speedup_with_table": literal / with_table,
        "speedup_kernel": literal / kernel,
    }


def _kernel_inputs(n_models: int, k: int) -> tuple:
    rng = np.random.default_rng(0)
    means, cov = np.array([[-5.0], [5.0]]), np.eye(1)
    weights = rng.dirichlet([1.0, 1.0], size=n_models)
    points = means[rng.integers(0, 2, size=(n_models, k))] + rng.normal(size=(n_models, k, 1))
    scaled, log_d = likelihood_table(points.reshape(-1, 1), means, cov)
    ones = np.ones(n_models)
    return (
        weights,
        np.arange(n_models),
        np.tile(np.arange(k), (n_models, 1)),
        np.full(n_models, k),
        scaled.reshape(n_models, k, 2),
        log_d.reshape(n_models, k, 2),
        ones / k,
        ones / (4 * k),
        0.0,
        True,
    )


def threshold_bench() -> list[dict]:
    """The serial and the parallel compiled update on the same calls, from 3,000 to 6,000,000 point updates
    (M models × k points × B = 2): the mean of 21 calls each, where a parallel call's stalls show."""
    rows = []
    for n_models, k in [(15, 100), (15, 450), (60, 500), (150, 500), (300, 1000), (1000, 1000), (3000, 1000)]:
        inputs = _kernel_inputs(n_models, k)
        row = {"work": n_models * k * 2}
        for name, kernel in (("serial", compiled._update_serial), ("parallel", compiled._update_parallel)):
            kernel(inputs[0].copy(), *inputs[1:])  # compiled outside the timing
            times = []
            for _ in range(21):
                weights = inputs[0].copy()
                start = time.perf_counter()
                kernel(weights, *inputs[1:])
                times.append(time.perf_counter() - start)
            row[f"{name}_ms"] = statistics.mean(times) * 1e3
        rows.append(row)
    return rows


def _hog() -> None:
    while True:
        pass


def simulation_bench(literal_replicates: int) -> dict:
    config = GMMConfig()
    args = dict(n=3, beta=0.5, samples=3, rounds=200, seed=0)
    simulate(config, **{**args, "rounds": 3}, replicates=1)  # compile outside the timing
    fast = best_of(lambda: simulate(config, **args, replicates=5), repeat=5)
    start = time.perf_counter()
    simulate_reference(config, **args, replicates=literal_replicates)
    literal = (time.perf_counter() - start) * 5 / literal_replicates
    return {
        "fast_s": fast,
        "literal_s_for_5_replicates": literal,
        "literal_measured_replicates": literal_replicates,
        "speedup": literal / fast,
    }


def command_seconds(args: list[str], env: dict[str, str] | None = None) -> float:
    exe = shutil.which("lwd") or str(Path(sys.executable).parent / "lwd")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [exe, *args, "-q", "-o", str(Path(tmp) / "out")], check=True, env={**os.environ, **(env or {})}
        )
        return time.perf_counter() - start


def command_bench() -> dict:
    command_seconds(["gmm", "paper-gmm-b2", "--rounds", "2"])  # warm the numba cache
    warm = statistics.median(command_seconds(["gmm", "paper-gmm-b2"]) for _ in range(3))
    with tempfile.TemporaryDirectory() as cache:
        cold = command_seconds(["gmm", "paper-gmm-b2"], env={"NUMBA_CACHE_DIR": cache})
    n100 = command_seconds(["gmm", "bench-gmm-n100-b11"])
    return {"paper_b2_x5_warm_s": warm, "paper_b2_x5_cold_compile_s": cold, "n100_b11_x1_s": n100}


def print_threshold(hogs: int) -> None:
    table = Table(title=f"serial vs parallel kernel calls ({os.cpu_count()} CPUs, {hogs} busy processes)")
    for col in ("point updates", "serial", "parallel", "parallel / serial", "used"):
        table.add_column(col, justify="right")
    for row in threshold_bench():
        used = "parallel" if row["work"] >= compiled.PARALLEL_WORK else "serial"
        ratio = row["parallel_ms"] / row["serial_ms"]
        table.add_row(
            f"{row['work']:,}",
            f"{row['serial_ms']:.3f} ms",
            f"{row['parallel_ms']:.3f} ms",
            f"{ratio:.2f}",
            used,
        )
    console.print(table)


def print_results(results: dict) -> None:
    kernel, sim, cmd = results["kernel"], results["simulation"], results["commands"]
    table = Table(
        title=f"GMM proxy benchmark ({results['cpus']} CPUs, {results['busy_processes']} busy processes beside it)",
        header_style="bold",
    )
    for col in ("what", "literal", "lwd", "ratio / target"):
        table.add_column(col, justify="right" if col != "what" else "left")
    table.add_row(
        f"Alg. 2, {kernel['point_updates']:,} point updates (kernel only)",
        f"{kernel['literal_s']:.3f} s",
        f"{kernel['kernel_s'] * 1e3:.2f} ms",
        f"{kernel['speedup_kernel']:,.0f}× (≥ 100×)",
    )
    table.add_row(
        "  same, incl. the likelihood table",
        "",
        f"{kernel['fast_with_table_s'] * 1e3:.2f} ms",
        f"{kernel['speedup_with_table']:,.0f}×",
    )
    table.add_row(
        "Alg. 3, paper-gmm-b2 × 5 replicates (in process)",
        f"{sim['literal_s_for_5_replicates']:.1f} s",
        f"{sim['fast_s']:.3f} s",
        f"{sim['speedup']:,.0f}×",
    )
    table.add_row(
        "`lwd gmm paper-gmm-b2` whole command, warm", "", f"{cmd['paper_b2_x5_warm_s']:.2f} s", "< 5 s"
    )
    table.add_row("  same, cold (numba compiles first)", "", f"{cmd['paper_b2_x5_cold_compile_s']:.2f} s", "")
    table.add_row("`lwd gmm bench-gmm-n100-b11` whole command", "", f"{cmd['n100_b11_x1_s']:.2f} s", "< 30 s")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="time the literal simulation on 1 replicate")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--threshold", action="store_true", help="only: serial against parallel kernel calls")
    parser.add_argument("--hog", type=int, default=0, metavar="N", help="run beside N busy processes")
    opts = parser.parse_args()
    import multiprocessing

    hogs = [multiprocessing.Process(target=_hog, daemon=True) for _ in range(opts.hog)]
    for hog in hogs:
        hog.start()
    if opts.threshold:
        print_threshold(opts.hog)
        return
    results = {
        "cpus": os.cpu_count(),
        "busy_processes": opts.hog,
        "kernel": kernel_bench(),
        "simulation": simulation_bench(1 if opts.quick else 5),
        "commands": command_bench(),
    }
    print_results(results)
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
