"""Many agents on shared inference: the dispatcher, and one engine shared by many agents.

    python bench/bench_agents.py dispatch [--agents 1000] [--delay 0.5] [--limit 64]
    python bench/bench_agents.py shared [--agents 100] [--rounds 3] [--samples 4] [--server-only]
    python bench/bench_agents.py prefix [--agents 100] [--rounds 1]
    python bench/bench_agents.py embed [--answers 8000] [--batch 256]

``dispatch`` — (a) of the issue: a round of ``--agents`` agents whose every request takes ``--delay`` seconds,
(1) lwd's fake backend with that delay (the scheduler keeps at most 64 agents' requests in flight), and (2) as
many OpenAI-compatible agents on a stub server on 127.0.0.1 that answers after ``--delay`` seconds, one endpoint
with ``concurrency = --limit``: the round's answer phase against the ideal agents × delay / limit, and the most
threads the process ran.

``shared`` — (b): ``--agents`` SmolLM2 agents (four personas, as scenarios/network-100.toml) with L = ``--samples``
over ``--rounds`` rounds, on the embedded engine (one engine shared by all) and on lwd's own server
(``python -m lwd.agents.serve``): tokens per second of the answer phase against the engine's own (the tokens
over the seconds the engine spent on the requests, which run one at a time), and the peak memory of the run
against a run of one agent.

``prefix`` — the prompt tokens a server evaluates per round with the paper's prompt layout and with
``layout = "shared-first"`` (query and persona before the posts): ``--agents`` agents as in ``shared`` (L = 1,
answers of 8 tokens: the prompts are what is measured), on a fresh ``python -m lwd.agents.serve`` each, read from
its ``/metrics`` (llama.cpp's counters of prompt tokens evaluated and reused from its cache); the reproducible
server (no prompt cache) as the reference.

``embed`` — ϕ of a round's ``--answers`` answers (1,000 agents × L = 8 by default) in this process and on
lwd's embedding server (``python -m lwd.metrics.serve``, the packaged MiniLM) on this machine: seconds, answers
per second, and the largest difference between the two's vectors. On one machine the server only adds HTTP; what
it buys is moving the work to another machine (a GPU), which this measures the price of.

Nothing here asserts a goal; the README's "Scaling out" section quotes the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# -- (a) the dispatcher ----------------------------------------------------------------------------------------


def stub_server(delay: float, port: int) -> None:
    """An OpenAI-compatible server on 127.0.0.1:``port`` that answers every chat completion after ``delay``
    seconds (run in a process of its own: its threads are not the run's)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send({"object": "list", "data": [{"id": "stub", "object": "model"}]})

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            time.sleep(delay)
            n, seed = int(request.get("n", 1)), int(request.get("seed", 0))
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": f"Bitcoin answer {seed % 97} {i}."},
                    "finish_reason": "stop",
                }
                for i in range(n)
            ]
            self._send(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "stub",
                    "choices": choices,
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5 * n, "total_tokens": 10 + 5 * n},
                }
            )

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    server.serve_forever()


def dispatch_round(agents: str, n: int) -> dict:
    """One round (round 0 only) of ``n`` agents described by ``agents`` (one [[agents]] table with count = n)."""
    from lwd.run.kinds import EventKind
    from lwd.run.llm import start_run
    from lwd.run.scenario import load_scenario

    threads, seconds = [threading.active_count()], {}

    def on_event(event) -> None:
        threads.append(threading.active_count())
        if event.kind is EventKind.ROUND_DONE:
            seconds.update(event.seconds or {})

    text = textwrap.dedent("""
        description = "bench_agents dispatch"
        [network]
        beta = 0.5
        samples = 4
        rounds = 1
        [embedder]
        model = "hash"
    """) + agents.replace("COUNT", str(n))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.toml"
        path.write_text(text)
        started = time.perf_counter()
        start_run(load_scenario(path), Path(tmp) / "run", on_event=on_event, until=0)
        whole = time.perf_counter() - started
    return {"answers_s": seconds.get("answers"), "run_s": whole, "threads_max": max(threads)}


def dispatch(args: argparse.Namespace) -> None:
    n, delay, limit = args.agents, args.delay, args.limit
    port = 19000 + os.getpid() % 1000
    server = multiprocessing.get_context("fork").Process(target=stub_server, args=(delay, port), daemon=True)
    server.start()
    time.sleep(1.0)
    url = f"http://127.0.0.1:{port}/v1"
    rows = {
        "fake (delay)": dispatch_round(
            f'[[agents]]\nname = "f{{i}}"\ncount = COUNT\nbackend = "fake"\ndelay = {delay}\n', n
        ),
        "openai (stub server)": dispatch_round(
            f'[[agents]]\nname = "o{{i}}"\ncount = COUNT\nbackend = "openai"\nmodel = "stub"\nbase_url = "{url}"\n'
            f"concurrency = {limit}\nattempts = 1\n",
            n,
        ),
    }
    server.terminate()
    ideal = n * delay / limit
    print(f"\n{n} agents, every request {delay} s, {limit} in flight: ideal answer phase {ideal:.1f} s\n")
    print("| backend | answers s/round | × ideal | whole run (round 0, setup included) | most threads |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['answers_s']:.1f} | {row['answers_s'] / ideal:.2f} | {row['run_s']:.1f} s "
            f"| {row['threads_max']} |"
        )
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


# -- (b) one engine shared by many agents -----------------------------------------------------------------------


def shared_scenario(agents: int, rounds: int, samples: int) -> str:
    """scenarios/network-100.toml with its sizes and backend replaced."""
    text = (ROOT / "scenarios" / "network-100.toml").read_text()
    per = max(1, agents // 4)
    text = text.replace("count = 25", f"count = {per}")
    text = text.replace("rounds = 3", f"rounds = {rounds}").replace("samples = 4", f"samples = {samples}")
    if agents < 4:  # one agent: the first population alone
        head, first = text.split("[[agents]]")[0], text.split("[[agents]]")[1]
        text = head + "[[agents]]" + first
        text = text.replace('name = "small_world"', 'name = "complete"').replace("neighbours = 2\n", "")
        text = text.replace("p = 0.1\n", "")
    return text


def shared_run(
    text: str, overrides: list[str], tokenize: str | None = None, server: str | None = None
) -> dict:
    """``lwd run`` in a child process: the answer phase's seconds, the answer and prompt tokens, the seconds
    the engine spent on the requests (on lwd's ``server``: its own /metrics counters, since a pooled request's
    latency includes its wait for the endpoint), and the child's peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.toml"
        path.write_text(text)
        code = textwrap.dedent(f"""
            import json, resource, sys
            from pathlib import Path
            from lwd.run.kinds import EventKind
            from lwd.run.llm import start_run
            from lwd.run.scenario import load_scenario
            phases = []
            def on_event(event):
                if event.kind is EventKind.ROUND_DONE:
                    phases.append(event.seconds or {{}})
            over = dict(a.split("=", 1) for a in {overrides!r})
            loaded = load_scenario(Path({str(path)!r}), {{"agents.*": over}} if over else None)
            start_run(loaded, Path({tmp!r}) / "run", on_event=on_event)
            print(json.dumps({{"answers": [p.get("answers", 0) for p in phases],
                              "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
        """)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        out = json.loads(done.stdout.strip().splitlines()[-1])
        with open(Path(tmp) / "run" / "responses.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    tokens = sum(int(r["tokens"]) if r["tokens"] else _tokens(r["raw"], tokenize) for r in rows)
    engine = {}  # an agent-round's latency is on each of its rows: once per (round, agent)
    for r in rows:
        engine[(r["round"], r["agent"])] = float(r["latency_s"])
    return {
        "answers_s": sum(out["answers"]),
        "tokens": tokens,
        "engine_s": sum(engine.values()),
        "rss_mib": out["rss"],
        "answers": len(rows),
    }


def _tokens(text: str, tokenize: str | None) -> int:
    """Tokens of an answer a server did not count one by one (an OpenAI-compatible server reports a request's
    total): llama.cpp's own /tokenize on that server."""
    if not tokenize or not text:
        return 0
    request = urllib.request.Request(
        tokenize, data=json.dumps({"content": text}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=60) as response:
        return len(json.loads(response.read())["tokens"])


@contextlib.contextmanager
def lwd_server(*options: str):
    """``python -m lwd.agents.serve`` on a free port with ``options``; yields its root URL."""
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [sys.executable, "-m", "lwd.agents.serve", "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        server.stdout.readline()  # "serving … at …": ready
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def on_server(root: str, *more: str) -> list[str]:
    """The overrides that send every agent to lwd's server at ``root``."""
    return ["backend=openai", f"base_url={root}/v1", "model=smollm2-135m-instruct", *more]


def shared(args: argparse.Namespace) -> None:
    results = {}
    one = shared_run(shared_scenario(1, args.rounds, args.samples), [])
    results["embedded, 1 agent"] = one
    if not args.server_only:
        results[f"embedded, {args.agents} agents (one engine)"] = shared_run(
            shared_scenario(args.agents, args.rounds, args.samples), []
        )
    with lwd_server("--parallel", str(args.samples)) as root:
        results[f"lwd server, {args.agents} agents"] = shared_run(
            shared_scenario(args.agents, args.rounds, args.samples),
            on_server(root, "concurrency=1"),
            tokenize=f"{root}/tokenize",
        )
    print(f"\nSmolLM2-135M, four personas, L = {args.samples}, rounds 0–{args.rounds}\n")
    print(
        "| run | answers | tokens | answer phase s | tokens/s | engine's tokens/s | ratio | peak RSS | × 1 agent |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        rate, own = r["tokens"] / r["answers_s"], r["tokens"] / r["engine_s"]
        print(
            f"| {name} | {r['answers']} | {r['tokens']} | {r['answers_s']:.0f} | {rate:.1f} | {own:.1f} | "
            f"{rate / own:.2f} | {r['rss_mib']:.0f} MiB | {r['rss_mib'] / one['rss_mib']:.2f} |"
        )
    print("\n(the lwd server row's RSS is the run's process only; the server holds the model)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


# -- prompts laid out for prefix caching ---------------------------------------------------------------------


def counters(root: str) -> dict[str, float]:
    """llama.cpp's counters from the server's /metrics (prompt_tokens_total, prompt_seconds_total, …)."""
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"{root}/metrics") as response:
        lines = response.read().decode().splitlines()
    found = {}
    for line in lines:
        name, _, value = line.partition(" ")
        if name.startswith("llamacpp:") and name.endswith("_total"):
            found[name.split(":")[1]] = float(value)
    return found


def prefix(args: argparse.Namespace) -> None:
    text = shared_scenario(args.agents, args.rounds, 1)
    rows = []
    for name, layout, options in [
        ("paper layout, reproducible server (no prompt cache)", "paper", ()),
        ("paper layout, --concurrent", "paper", ("--concurrent",)),
        ("shared-first layout, --concurrent", "shared-first", ("--concurrent",)),
    ]:
        with lwd_server("--parallel", "4", *options) as root:
            run = shared_run(text, on_server(root, "concurrency=4", "max_tokens=8", f"layout={layout}"))
            rows.append((name, run, counters(root)))
    rounds = args.rounds + 1
    print(f"\n{args.agents} SmolLM2 agents, four personas, L = 1, rounds 0–{args.rounds}; per round:\n")
    print("| prompts | prompt tokens | evaluated | reused from cache | evaluated share | answer phase s |")
    print("|---|---|---|---|---|---|")
    for name, run, seen in rows:
        evaluated, cached = seen["prompt_tokens_total"] / rounds, seen["prompt_tokens_cached_total"] / rounds
        print(
            f"| {name} | {evaluated + cached:,.0f} | {evaluated:,.0f} | {cached:,.0f} | "
            f"{evaluated / (evaluated + cached):.0%} | {run['answers_s'] / rounds:.0f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({n: {**r, **c} for n, r, c in rows}, indent=1))


# -- embeddings on a server ------------------------------------------------------------------------------------


def embed(args: argparse.Namespace) -> None:
    import numpy as np

    from lwd.metrics.embedders import load_embedder

    with open(ROOT / "internet" / "data" / "crypto-20.csv", newline="") as fh:
        posts = [row["text"] for row in csv.DictReader(fh)]
    words = " ".join(posts).split()
    answers = [" ".join(words[(i * 7) % len(words) :][:20]) + f" ({i})" for i in range(args.answers)]
    local = load_embedder("all-MiniLM-L6-v2", batch_size=args.batch)
    local.embed(answers[:64])  # warm
    started = time.perf_counter()
    here = local.embed(answers)
    rows = [("in this process", time.perf_counter() - started, 0.0)]
    port = 19000 + os.getpid() % 1000
    server = subprocess.Popen(
        [sys.executable, "-m", "lwd.metrics.serve", "--port", str(port), "--batch-size", str(args.batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        server.stdout.readline()
        remote = load_embedder(
            "all-MiniLM-L6-v2", batch_size=args.batch, server={"urls": (f"http://127.0.0.1:{port}/v1",)}
        )
        remote.embed(answers[:64])
        started = time.perf_counter()
        there = remote.embed(answers)
        rows.append(
            ("lwd's server on this machine", time.perf_counter() - started, float(np.abs(there - here).max()))
        )
    finally:
        server.terminate()
        server.wait()
    print(f"\n{args.answers} answers, all-MiniLM-L6-v2, batches of {args.batch}\n")
    print("| where | seconds | answers/s | largest difference from in-process |")
    print("|---|---|---|---|")
    for name, seconds, diff in rows:
        print(f"| {name} | {seconds:.1f} | {args.answers / seconds:,.0f} | {diff:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="part", required=True)
    a = sub.add_parser("dispatch")
    a.add_argument("--agents", type=int, default=1000)
    a.add_argument("--delay", type=float, default=0.5)
    a.add_argument("--limit", type=int, default=64)
    b = sub.add_parser("shared")
    b.add_argument("--agents", type=int, default=100)
    b.add_argument("--rounds", type=int, default=3)
    b.add_argument("--samples", type=int, default=4)
    b.add_argument("--server-only", action="store_true", help="skip the 100 embedded agents (~10 min)")
    b.add_argument("--json")
    c = sub.add_parser("prefix")
    c.add_argument("--agents", type=int, default=100)
    c.add_argument("--rounds", type=int, default=1)
    c.add_argument("--json")
    d = sub.add_parser("embed")
    d.add_argument("--answers", type=int, default=8000)
    d.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    {"dispatch": dispatch, "shared": shared, "prefix": prefix, "embed": embed}[args.part](args)


if __name__ == "__main__":
    main()
