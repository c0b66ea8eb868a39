"""How the cost of committing a round grows with T: a run of fake agents (no model, hash embedder, a real Chroma
store), the time spent in ``RoundLog.commit`` per round, early and late. Appending each round's table rows keeps
it flat; rebuilding the tables from every committed round made it grow with T (O(T²) over a run).

    python bench/bench_rounds.py [--rounds 300] [--agents 3] [--samples 2]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

from lwd.run.llm import start_run
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2)
    opts = parser.parse_args()
    agents = "".join(f'\n[[agents]]\nname = "a{i}"\nbackend = "fake"\n' for i in range(opts.agents))
    text = (
        textwrap.dedent(f"""
        description = "fake agents for the commit benchmark"
        [network]
        beta = 0.05
        samples = {opts.samples}
        rounds = {opts.rounds}
        [embedder]
        model = "hash"
    """)
        + agents
    )
    spent: list[float] = []
    commit = RoundLog.commit

    def timed(self, record, arrays):
        started = time.perf_counter()
        commit(self, record, arrays)
        spent.append(time.perf_counter() - started)

    RoundLog.commit = timed
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(text)
        started = time.perf_counter()
        start_run(load_scenario(path), Path(tmp) / "run")
        total = time.perf_counter() - started
    window = max(1, len(spent) // 10)
    early, late = sum(spent[:window]) / window, sum(spent[-window:]) / window
    print(f"{opts.rounds + 1} rounds, {opts.agents} agents, L = {opts.samples}: whole run {total:.1f} s")
    print(
        f"commit, mean of the first {window} rounds: {early * 1e3:.1f} ms; of the last {window}: {late * 1e3:.1f} ms"
    )
    print(f"all commits: {sum(spent):.2f} s ({sum(spent) / total:.0%} of the run)")


if __name__ == "__main__":
    main()
