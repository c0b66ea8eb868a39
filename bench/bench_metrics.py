"""What the per-round metrics cost, next to what a round costs: every registered metric recomputed from a run
folder's committed rounds (embeddings, owners, answers), timed, and divided by the round's own time.

    python bench/bench_metrics.py                 # runs `quick` for 3 rounds first (a few minutes), then measures
    python bench/bench_metrics.py runs/quick-…    # measures an existing LLM run folder
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lwd.metrics import LLM, RoundData
from lwd.metrics.registry import computable
from lwd.run.manifest import read_manifest
from lwd.run.rounds import RoundLog
from lwd.run.scenario import Scenario


def measure(folder: Path, repeats: int = 3) -> None:
    log = RoundLog(folder)
    manifest = read_manifest(folder)
    scenario = Scenario.model_validate(manifest.scenario.resolved)
    ctx = manifest.context([a.name for a in scenario.agents])
    per_metric: dict[str, list[float]] = {m.name: [] for m in computable(LLM)}
    shares = []
    for t in log.committed():
        record, arrays = log.record(t), log.arrays(t)
        texts = tuple(r.clean for a in record.agents for r in a.responses if not r.failed)
        data = RoundData(
            names=ctx.names,
            communities=ctx.communities,
            means=arrays.means,
            round=t,
            seed=scenario.seed,
            settings=scenario.metrics,
            embeddings=arrays.embeddings,
            owners=arrays.owners,
            texts=texts,
        )
        spent = 0.0
        for m in computable(LLM):
            best = min(_timed(m.values, data) for _ in range(repeats))
            per_metric[m.name].append(best)
            spent += best
        shares.append(spent / record.seconds)
    rounds = len(shares)
    print(f"{folder}: {rounds} rounds, n = {len(ctx.names)}, L = {scenario.network.samples}")
    for name, times in per_metric.items():
        print(f"  {name:<12} {np.mean(times) * 1e3:8.2f} ms per round")
    total = sum(np.mean(t) for t in per_metric.values())
    print(
        f"  all metrics  {total * 1e3:8.2f} ms per round; a round took {np.mean([log.record(t).seconds for t in log.committed()]):.2f} s"
    )
    print(f"  metrics / round time: mean {np.mean(shares):.2%}, largest {np.max(shares):.2%} (goal < 5%)")


def _timed(function, data) -> float:
    started = time.perf_counter()
    function(data)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "folder", nargs="?", type=Path, help="an LLM run folder [default: run quick for 3 rounds]"
    )
    opts = parser.parse_args()
    if opts.folder:
        measure(opts.folder)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "quick"
        subprocess.run(
            [sys.executable, "-m", "lwd", "run", "quick", "-T", "3", "-q", "-o", str(out)], check=True
        )
        measure(out)


if __name__ == "__main__":
    main()
