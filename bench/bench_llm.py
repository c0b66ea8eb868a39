"""Benchmark of the LLM mode on the embedded engine (not part of the test run). About 10 minutes on 2 cores.

    python bench/bench_llm.py                 # both parts
    python bench/bench_llm.py --only round    # part 1 only

1. One agent-round of L = 40 at the paper's late-round prompt size (k = 100 posts, t = 60 of paper-bitcoin):
   completion tokens per second of lwd's path (``Agent.reply``: one request, n = 40, one prompt evaluation)
   against (a) the naive loop of 40 separate LangChain ``invoke`` calls (each evaluates the prompt again;
   measured on ``--naive`` of them, a rate does not need all 40) and (b) the engine's own batched throughput
   (the same n = 40 request sent straight to llama.cpp, no LangChain, no agent). Goals: ≥ 5× (a), ≥ 0.8× (b).
2. Projected wall time of ``paper-bitcoin`` (n = 3, L = 40, β = 0.5, T = 60) on this machine: five rounds are
   measured at the store sizes of t = 0, 15, 30, 45, 60 (every agent answers 40 times, answers are embedded),
   the time per round is fitted linearly in k_t and summed over t = 0..60. Goal: under 60 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from lwd.agents.registry import build_agent
from lwd.internet.corpus import load_corpus
from lwd.internet.retrieval import retrieval_size
from lwd.metrics.embedders import load_embedder
from lwd.run.scenario import load_scenario
from lwd.run.scheduler import retrieve
from lwd.scenarios import available

console = Console()

# Answers in the style the packaged models give, to fill the synthetic part of a late-round Internet.
ANSWERS = [
    "The future prospects of Bitcoin are uncertain, with a mix of positive and negative factors at play.",
    "Bitcoin is likely to keep growing as institutions adopt it, although regulation remains a risk.",
    "Bitcoin's future depends on regulation, adoption and how well it handles its energy use.",
    "Bitcoin will become more popular as more people learn how to use it for payments.",
    "The future of Bitcoin is poised to revolutionize finance, but volatility may slow adoption.",
    "Bitcoin could become a mainstream store of value as institutional investors keep buying.",
    "Bitcoin's price may rise after the next halving, yet market manipulation is a concern.",
    "Bitcoin is a speculative asset whose future depends on investor confidence and regulation.",
]


def late_round_posts(k: int, corpus: tuple[str, ...], t: int) -> list[str]:
    """The k posts an agent reads at round t of paper-bitcoin: uniform from 20 human + 3t synthetic posts."""
    store = list(corpus) + [ANSWERS[i % len(ANSWERS)] for i in range(3 * t)]
    ids = [str(i) for i in range(len(store))]
    return [store[int(i)] for i in retrieve(ids, k, seed=0, t=t, agent=0)]


def agent(name: str, samples: int):
    scenario = load_scenario(available()["paper-bitcoin"]).scenario
    config = next(a for a in scenario.agents if a.name == name)
    built = build_agent(config, query=scenario.query, samples=samples, base=None)
    built.model.load()
    return built, scenario


def completion_tokens(chat, texts: list[str]) -> int:
    return sum(chat.get_num_tokens(t) for t in texts if t)


def round_bench(naive: int) -> dict:
    smol, scenario = agent("smollm2", 40)
    corpus = load_corpus("builtin:crypto-20").texts
    k = retrieval_size(0.5, 20 + 3 * 60)
    posts = late_round_posts(k, corpus, 60)
    messages = smol.prompt.messages(posts)
    prompt_tokens = smol.model.count_prompt_tokens(messages)
    chat = smol.model

    start = time.perf_counter()
    reply = smol.reply(posts, 40, seed=1)
    ours_s = time.perf_counter() - start
    ours_tokens = sum(r.tokens or 0 for r in reply.responses)

    body = {
        **chat.sampling(),
        "n": 40,
        "seed": 1,
        "cache_prompt": False,
        "id_slot": 0,
        "messages": [{"role": "user", "content": str(m.content)} for m in messages],
    }
    start = time.perf_counter()
    direct = chat.engine.call("chat", body)
    engine_s = time.perf_counter() - start
    engine_tokens = completion_tokens(chat, [c["message"]["content"] for c in direct["choices"]])

    start = time.perf_counter()
    texts = [chat.invoke(messages, seed=100 + i).content for i in range(naive)]
    naive_s = time.perf_counter() - start
    naive_tokens = completion_tokens(chat, texts)
    chat.close()
    rates = {
        "ours": ours_tokens / ours_s,
        "engine": engine_tokens / engine_s,
        "naive": naive_tokens / naive_s,
    }
    return {
        "k": k,
        "prompt_tokens": prompt_tokens,
        "ours_s": ours_s,
        "ours_tokens": ours_tokens,
        "engine_s": engine_s,
        "engine_tokens": engine_tokens,
        "naive_calls": naive,
        "naive_s": naive_s,
        "naive_tokens": naive_tokens,
        "tokens_per_s": rates,
        "vs_naive": rates["ours"] / rates["naive"],
        "vs_engine": rates["ours"] / rates["engine"],
        "naive_40_projected_s": naive_s / naive * 40,
    }


def projection_bench() -> dict:
    scenario = load_scenario(available()["paper-bitcoin"]).scenario
    agents = [build_agent(a, query=scenario.query, samples=40, base=None) for a in scenario.agents]
    for a in agents:
        a.model.load()
    embedder = load_embedder("all-MiniLM-L6-v2")
    corpus = load_corpus("builtin:crypto-20").texts
    measured = []
    for t in (0, 15, 30, 45, 60):
        k = retrieval_size(0.5, 20 + 3 * t)
        start = time.perf_counter()
        texts = []
        for i, a in enumerate(agents):
            reply = a.reply(late_round_posts(k, corpus, t), 40, seed=1000 * t + i)
            texts += [r.clean for r in reply.valid]
        embedder.embed(texts)
        seconds = time.perf_counter() - start
        measured.append({"t": t, "k": k, "seconds": seconds})
        console.print(f"  round at t = {t:2d} (k_t = {k:3d}): {seconds:6.1f} s")
    for a in agents:
        a.model.close()
    ks = np.array([m["k"] for m in measured], float)
    secs = np.array([m["seconds"] for m in measured])
    slope, intercept = np.polyfit(ks, secs, 1)
    all_k = np.array([retrieval_size(0.5, 20 + 3 * t) for t in range(61)], float)
    total = float(np.sum(intercept + slope * all_k))
    return {
        "rounds": measured,
        "fit_seconds": {"intercept": intercept, "per_post": slope},
        "projected_minutes": total / 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["round", "projection"], help="run one part")
    parser.add_argument(
        "--naive", type=int, default=8, help="naive invokes to time (the rate is extrapolated)"
    )
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    opts = parser.parse_args()
    results: dict = {"cpus": os.cpu_count()}
    if opts.only in (None, "round"):
        console.print("[bold]1. one agent-round, L = 40, late-round prompt[/bold]")
        r = results["round"] = round_bench(opts.naive)
        table = Table(header_style="bold")
        for col in ("path", "wall", "completion tokens", "tokens/s", "lwd is"):
            table.add_column(col, justify="right" if col != "path" else "left")
        table.add_row(
            "lwd Agent.reply (n = 40, one prefill)",
            f"{r['ours_s']:.1f} s",
            str(r["ours_tokens"]),
            f"{r['tokens_per_s']['ours']:.1f}",
            "",
        )
        table.add_row(
            f"(a) naive: {r['naive_calls']} LangChain invokes",
            f"{r['naive_s']:.1f} s",
            str(r["naive_tokens"]),
            f"{r['tokens_per_s']['naive']:.1f}",
            f"{r['vs_naive']:.1f}× (≥ 5×)",
        )
        table.add_row(
            "(b) llama.cpp n = 40 request, direct",
            f"{r['engine_s']:.1f} s",
            str(r["engine_tokens"]),
            f"{r['tokens_per_s']['engine']:.1f}",
            f"{r['vs_engine']:.2f}× (≥ 0.8×)",
        )
        console.print(
            f"k_t = {r['k']} posts, prompt = {r['prompt_tokens']} tokens; 40 naive invokes would take "
            f"~{r['naive_40_projected_s']:.0f} s"
        )
        console.print(table)
    if opts.only in (None, "projection"):
        console.print("[bold]2. paper-bitcoin projected from five measured rounds[/bold]")
        p = results["projection"] = projection_bench()
        console.print(
            f"time per round ≈ {p['fit_seconds']['intercept']:.1f} s + "
            f"{p['fit_seconds']['per_post']:.2f} s per retrieved post → projected "
            f"[bold]{p['projected_minutes']:.0f} minutes[/bold] for T = 60 (goal < 60)"
        )
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
