"""Many agents on shared inference: the dispatcher, and one engine shared by many agents.

    python bench/bench_agents.py dispatch [--agents 1000] [--delay 0.5] [--limit 64]
    python bench/bench_agents.py shared [--agents 100] [--rounds 3] [--samples 4]

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

Nothing here asserts a goal; the README's "Scaling out" section quotes the numbers.
"""

from __future__ import annotations

import argparse
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


def shared_run(text: str, overrides: list[str], tokenize: str | None = None) -> dict:
    """``lwd run`` in a child process: the answer phase's seconds, the answer and prompt tokens, the seconds
    the engine spent on the requests, and the child's peak RSS."""
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


def shared(args: argparse.Namespace) -> None:
    results = {}
    one = shared_run(shared_scenario(1, args.rounds, args.samples), [])
    results["embedded, 1 agent"] = one
    results[f"embedded, {args.agents} agents (one engine)"] = shared_run(
        shared_scenario(args.agents, args.rounds, args.samples), []
    )
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [sys.executable, "-m", "lwd.agents.serve", "--port", str(port), "--parallel", str(args.samples)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        server.stdout.readline()  # "serving … at …": ready
        url = f"http://127.0.0.1:{port}/v1"
        results[f"lwd server, {args.agents} agents"] = shared_run(
            shared_scenario(args.agents, args.rounds, args.samples),
            ["backend=openai", f"base_url={url}", "model=smollm2-135m-instruct", "concurrency=1"],
            tokenize=f"http://127.0.0.1:{port}/tokenize",
        )
    finally:
        server.terminate()
        server.wait()
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
    b.add_argument("--json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    dispatch(args) if args.part == "dispatch" else shared(args)


if __name__ == "__main__":
    main()
