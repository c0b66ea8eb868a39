"""Benchmark of every backend on this machine (not part of the test run): one agent-round of L = 40 at the
paper's early (k = 10 posts, t = 0) and late (k = 100, t = 60) prompt sizes, completion tokens per second.

    python bench/bench_backends.py                      # llamacpp, openai, ollama, hf
    python bench/bench_backends.py --only llamacpp openai

All run the packaged SmolLM2-135M-Instruct: ``llamacpp`` in-process; ``openai`` through llama.cpp's
OpenAI-compatible server (``python -m lwd.agents.serve``, one request with n = 40); ``ollama`` through an
Ollama-API server (ollama-proxy-plus in front of that server, 40 requests, 4 in flight); ``hf`` with
transformers on this machine's device (one prefill, 40 sequences in one batch).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_llm import late_round_posts  # noqa: E402
from servers import llama_server, ollama_server  # noqa: E402

from lwd.agents.config import (  # noqa: E402
    HFAgentConfig,
    LlamaCppAgentConfig,
    OllamaAgentConfig,
    OpenAIAgentConfig,
)
from lwd.agents.prompt import PAPER_QUERY  # noqa: E402
from lwd.agents.registry import build_agent  # noqa: E402
from lwd.internet.corpus import load_corpus  # noqa: E402
from lwd.internet.retrieval import retrieval_size  # noqa: E402

console = Console()
MODEL = "smollm2-135m-instruct"


def measure(agent, corpus) -> dict:
    out = {}
    for label, t in (("early", 0), ("late", 60)):
        k = retrieval_size(0.5, 20 + 3 * t)
        posts = late_round_posts(k, corpus, t)
        start = time.perf_counter()
        reply = agent.reply(posts, 40, seed=7)
        seconds = time.perf_counter() - start
        tokens = sum(r.tokens or len(r.raw.split()) for r in reply.responses)
        out[label] = {
            "k": k,
            "seconds": seconds,
            "tokens": tokens,
            "tokens_per_s": tokens / seconds,
            "prompt_tokens": reply.prompt_tokens,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=["llamacpp", "openai", "ollama", "hf"])
    parser.add_argument("--json", type=Path)
    opts = parser.parse_args()
    wanted = opts.only or ["llamacpp", "openai", "ollama", "hf"]
    corpus = load_corpus("builtin:crypto-20").texts
    results = {}
    with contextlib.ExitStack() as stack:
        server = (
            stack.enter_context(llama_server(parallel=40, ctx=16384))
            if {"openai", "ollama"} & set(wanted)
            else None
        )
        configs = {
            "llamacpp": lambda: LlamaCppAgentConfig(name="llamacpp", model=MODEL),
            "openai": lambda: OpenAIAgentConfig(name="openai", model=MODEL, base_url=server.url),
            "ollama": lambda: OllamaAgentConfig(
                name="ollama", model=proxy.model, base_url=proxy.url, concurrency=4
            ),
            "hf": lambda: HFAgentConfig(name="hf", model=MODEL),
        }
        proxy = stack.enter_context(ollama_server(server)) if "ollama" in wanted else None
        for name in wanted:
            agent = build_agent(configs[name](), query=PAPER_QUERY, samples=40, base=None)
            console.print(f"[bold]{name}[/bold] …")
            results[name] = measure(agent, corpus)
            close = getattr(agent.model, "close", None)
            if close:
                close()
    table = Table(
        title="one agent-round, L = 40, SmolLM2-135M (completion tokens per second)", header_style="bold"
    )
    for column in ("backend", "early (k=10)", "late (k=100)"):
        table.add_column(column, justify="right" if column != "backend" else "left")
    for name, r in results.items():
        table.add_row(
            name, *(f"{r[p]['tokens_per_s']:.1f} tok/s ({r[p]['seconds']:.1f} s)" for p in ("early", "late"))
        )
    console.print(table)
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
