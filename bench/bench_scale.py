"""How a round's cost grows with the number of agents: fake agents (no model), the hash embedder, L = 8, β = 0.5,
a real Chroma store, on a complete network; each agent's context holds ``--context`` words (default 8,192, the
embedded backend's window), so an agent reads the posts that fit of the k_t drawn. For each n: the seconds of a round split into its phases (retrieval,
answers, embedding, mds, metrics, commit, store; the scheduler reports them with each round), the whole round,
the peak memory of the process and the run folder's bytes per round. Each n runs in a process of its own, cut
off after ``--budget`` seconds (then its row says so).

    python bench/bench_scale.py [--sizes 10,100,1000,10000] [--rounds 2] [--context 8192] [--budget 900] [--json out.json]

Rounds after the first are reported (round 0 includes one-time work). Timing goals are in the README's
Performance section; nothing here asserts them.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PHASES = ("retrieval", "answers", "embedding", "mds", "metrics", "commit", "store")


def scenario(n: int, rounds: int, samples: int, context: int) -> str:
    head = textwrap.dedent(f"""
        description = "bench_scale: {n} fake agents"
        seed = 0
        [network]
        beta = 0.5
        samples = {samples}
        rounds = {rounds}
        [embedder]
        model = "hash"
    """)
    return head + f'\n[[agents]]\nname = "a{{i}}"\ncount = {n}\nbackend = "fake"\nn_ctx = {context}\n'


def one(n: int, rounds: int, samples: int, context: int) -> dict:
    """Run n agents in this process; the per-round phases, peak RSS and folder bytes."""
    from lwd.report import write_llm_report
    from lwd.run.kinds import EventKind
    from lwd.run.llm import start_run
    from lwd.run.scenario import load_scenario

    per_round: list[dict] = []

    def on_event(event) -> None:
        if event.kind is EventKind.ROUND_DONE:
            seconds = event.seconds or {}  # the record's time stops before the commit and the store write
            total = event.record.seconds + seconds.get("commit", 0) + seconds.get("store", 0)
            per_round.append({"round": event.round, "total": total, **seconds})

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.toml"
        path.write_text(scenario(n, rounds, samples, context))
        started = time.perf_counter()
        start_run(load_scenario(path), Path(tmp) / "run", on_event=on_event)
        run_seconds = time.perf_counter() - started
        started = time.perf_counter()
        write_llm_report(Path(tmp) / "run")
        report_seconds = time.perf_counter() - started
        folder = Path(tmp) / "run"
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {
        "n": n,
        "rounds": per_round,
        "run_seconds": run_seconds,
        "report_seconds": report_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "folder_bytes_per_round": size / (rounds + 1),
    }


def measure(n: int, rounds: int, samples: int, context: int, budget: float) -> dict:
    """:func:`one` in a child process, cut off after ``budget`` seconds."""
    command = [
        sys.executable,
        __file__,
        "--one",
        str(n),
        "--rounds",
        str(rounds),
        "--samples",
        str(samples),
        "--context",
        str(context),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=budget)
    except subprocess.TimeoutExpired:
        return {"n": n, "timed_out": budget}
    if done.returncode != 0:
        return {"n": n, "failed": done.stderr.strip().splitlines()[-1:] or ["?"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    head = ["agents", "s/round", *PHASES, "report s", "peak RSS", "folder/round"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if "rounds" not in r:
            why = (
                f"> {r['timed_out']:.0f} s, not finished" if "timed_out" in r else f"failed: {r['failed'][0]}"
            )
            lines.append(f"| {r['n']:,} | {why} |" + " |" * (len(head) - 2))
            continue
        later = r["rounds"][1:] or r["rounds"]
        med = {k: statistics.median(x.get(k, 0.0) for x in later) for k in ("total", *PHASES)}
        cells = [
            f"{r['n']:,}",
            f"{med['total']:.2f}",
            *(f"{med[p]:.2f}" for p in PHASES),
            f"{r['report_seconds']:.1f}",
            f"{r['peak_rss_mib']:.0f} MiB",
            f"{r['folder_bytes_per_round'] / 2**10:.0f} KiB",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,1000,10000", help="numbers of agents, comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="T: rounds 0..T are run")
    parser.add_argument("--samples", type=int, default=8, help="L")
    parser.add_argument(
        "--context",
        type=int,
        default=8192,
        help="each fake agent's window in words (the embedded default's 8,192)",
    )
    parser.add_argument("--budget", type=float, default=900, help="seconds each size may take")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.one is not None:
        print(json.dumps(one(opts.one, opts.rounds, opts.samples, opts.context)))
        return
    results = []
    for n in (int(s) for s in opts.sizes.split(",")):
        results.append(measure(n, opts.rounds, opts.samples, opts.context, opts.budget))
        print(table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    print(table(results))
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
