"""GPU benchmark of the ``hf`` backend at the paper's scale (not part of the test run).

    python bench/bench_gpu.py                          # a CUDA GPU: the paper's three shapes, all resident
    python bench/bench_gpu.py --tiny --device cpu      # the same script, shrunken shapes: a CPU smoke run
    python bench/bench_gpu.py --json gpu.json          # also write the numbers (after every agent-round)
    python bench/bench_gpu.py --tokenizer FOLDER       # another tokenizer than the packaged MiniLM's

No weights can be downloaded, so the models are random-initialised in bf16 with the architectures of the
paper's three (Section 4.1; configs below, as in their config.json): Llama-3.1-8B-Instruct (GQA 32/8),
deepseek-llm-7b-chat (multi-head 32/32: the largest KV cache), Mistral-7B-Instruct-v0.3 (GQA 32/8). All three
stay resident, as in a run. The tokenizer is the packaged all-MiniLM-L6-v2 one (30,522 ids fit every
vocabulary); with no end-of-sequence token every sample runs the full ``--max-tokens``, so decode times are
upper bounds for real models, which stop earlier.

For each shape and each k in ``--ks`` (the posts read at t = 0, 30, 60 of the paper's run: 20 human posts,
3 answers added per round, β = 0.5), one agent-round of L = ``--samples`` answers to lwd's prompt is timed:

* lwd  — ``ChatHF.generate(n = L)``: one prefill, the L samples reading one copy of the prompt's KV cache;
* repeated — the same with ``share_prefix = False`` (each sample its own copy of the prompt's cache);
* plain — ``model.generate(num_return_sequences = L)`` of transformers, which prefills the prompt L times.

Reported: seconds per agent-round, the decode step (round minus prefill, per token), the weights' read time
(their bytes over the copy bandwidth measured here), peak memory, tokens/s and plain ÷ lwd. Then the paper
configuration (``scenarios/backends/hf-paper.toml``: n = 3, L = 40, T = 60) projected from a linear fit of
each shape's seconds in k. Goals (issue 13): under 3 minutes, no out-of-memory, decode ≤ 2× the weights' read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from bench_llm import late_round_posts  # noqa: E402

from lwd.agents.hf import ChatHF  # noqa: E402
from lwd.agents.prompt import PromptSpec  # noqa: E402
from lwd.internet.corpus import load_corpus  # noqa: E402
from lwd.internet.retrieval import retrieval_size  # noqa: E402
from lwd.metrics.embedders import _minilm_folder  # noqa: E402
from lwd.run.scenario import load_scenario  # noqa: E402
from lwd.scenarios import available  # noqa: E402

console = Console(width=150)

LLAMA3_ROPE = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}
SHAPES = {  # the three models' config.json, weights aside
    "Llama-3.1-8B": (
        transformers.LlamaConfig,
        dict(
            vocab_size=128256,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=131072,
            rope_parameters=LLAMA3_ROPE,
            rms_norm_eps=1e-5,
        ),
    ),
    "deepseek-llm-7b": (
        transformers.LlamaConfig,
        dict(
            vocab_size=102400,
            hidden_size=4096,
            intermediate_size=11008,
            num_hidden_layers=30,
            num_attention_heads=32,
            num_key_value_heads=32,
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            rms_norm_eps=1e-6,
        ),
    ),
    "Mistral-7B-v0.3": (
        transformers.MistralConfig,
        dict(
            vocab_size=32768,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            sliding_window=None,
            rms_norm_eps=1e-5,
        ),
    ),
}
TINY = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8}


def shape(name: str, tiny: bool):
    """The config of ``name``; ``tiny``: 2 layers of width 256, the vocabulary and the query/KV head ratio kept."""
    config_class, fields = SHAPES[name]
    if tiny:
        groups = fields["num_attention_heads"] // fields["num_key_value_heads"]
        fields = {**fields, **TINY, "num_key_value_heads": TINY["num_attention_heads"] // groups}
    return config_class(**fields, tie_word_embeddings=False)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def timed(device: str, call):
    """(seconds, peak bytes or None, result) of one call. The allocator's cache is kept, as in a run: emptied
    before each call, every call paid the device's allocations again (slow under a sandboxed driver)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    result = call()
    sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) if device.startswith("cuda") else None
    return seconds, peak, result


def copy_bandwidth(device: str) -> float:
    """Bytes per second one direction of a large device-to-device copy reaches (read and write both count)."""
    source = torch.empty(1 << 30, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    sync(device)
    start = time.perf_counter()
    for _ in range(10):
        target.copy_(source)
    sync(device)
    return 2 * 10 * source.numel() / (time.perf_counter() - start)


def build(name: str, device: str, tiny: bool):
    config = shape(name, tiny)
    config.eos_token_id = config.bos_token_id = config.pad_token_id = None
    torch.manual_seed(0)
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.generation_config.eos_token_id = None  # no early stop: every sample runs max_tokens
    return model.eval()


def agent_round(chat: ChatHF, model, messages, device: str, samples: int, paths, warm: bool = True) -> dict:
    """One agent-round through each path (``warm``: after the same call once untimed, the steady state of a
    run's later rounds), with the prefill timed apart."""
    ids = chat._ids(chat.render(messages)).to(device)
    out: dict = {"prompt_tokens": int(ids.shape[1])}
    chat.generate([messages], n=2, seed=99)  # warm-up: kernels, allocator
    with torch.no_grad():
        out["prefill_s"], _, _ = timed(device, lambda: chat._prefill(ids))
    for path in paths:
        if path == "plain":
            call = lambda: model.generate(  # noqa: E731
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=chat.temperature,
                top_p=chat.top_p,
                num_return_sequences=samples,
                max_new_tokens=chat.max_tokens,
                pad_token_id=chat._pad_id(),
            )
        else:
            sampler = chat if path == "lwd" else chat.model_copy(update={"share_prefix": False})  # same model
            call = lambda s=sampler: s.generate([messages], n=samples, seed=1)  # noqa: E731
        try:
            if warm:
                call()  # the same shapes once untimed: kernels chosen, allocator's blocks cached
            seconds, peak, result = timed(device, call)
        except torch.OutOfMemoryError:
            out[path] = {"oom": True}
            torch.cuda.empty_cache()
            continue
        if path == "plain":
            tokens, halvings, kv = samples * chat.max_tokens, 0, "plain"
        else:
            infos = [g.generation_info for g in result.generations[0]]
            tokens = sum(i["completion_tokens"] for i in infos)
            halvings, kv = result.llm_output["halvings"], result.llm_output["kv"]
        # plain generate prefills the prompt L times: its decode cannot be told from its prefill here
        decode_ms = None if path == "plain" else 1000 * (seconds - out["prefill_s"]) / chat.max_tokens
        out[path] = {
            "seconds": seconds,
            "peak_gib": None if peak is None else peak / 2**30,
            "tokens": tokens,
            "tokens_per_s": tokens / seconds,
            "decode_ms_per_step": decode_ms,
            "halvings": halvings,
            "kv": kv,
        }
    return out


def projection(rounds_by_shape: dict, ks: list[int]) -> dict:
    """The paper configuration's time from a linear fit of each shape's agent-round seconds in k."""
    scenario = load_scenario(available()["backends/hf-paper"]).scenario
    human = len(load_corpus(scenario.corpus.file).texts)
    n, rounds = len(scenario.agents), scenario.network.rounds
    all_k = np.array([retrieval_size(scenario.network.beta, human + n * t) for t in range(rounds)], float)
    total, fits = 0.0, {}
    for name, by_k in rounds_by_shape.items():
        seconds = [by_k[k]["lwd"]["seconds"] for k in ks]
        slope, intercept = np.polyfit(ks, seconds, 1) if len(ks) > 1 else (0.0, seconds[0])
        fits[name] = {"intercept_s": intercept, "per_post_s": slope}
        total += float(np.sum(intercept + slope * all_k))
    return {
        "agents": n,
        "rounds": rounds,
        "samples": scenario.network.samples,
        "fits": fits,
        "minutes": total / 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="shrunken shapes (2 layers, hidden 256)")
    parser.add_argument("--samples", type=int, default=40, help="L (40 in the paper)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--ks", default="10,55,100", help="posts read (comma-separated)")
    parser.add_argument("--paths", default="lwd,repeated,plain", help="which of lwd,repeated,plain to time")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument(
        "--cold", action="store_true", help="time each path's first call (no untimed call of the same shapes)"
    )
    parser.add_argument("--tokenizer", type=Path, help="a tokenizer folder (default: the packaged MiniLM's)")
    opts = parser.parse_args()
    ks = [int(k) for k in opts.ks.split(",")]
    paths = opts.paths.split(",")
    folder = opts.tokenizer or _minilm_folder()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    tokenizer.model_max_length = 1 << 20  # the embedder's 512 is no limit here
    corpus = load_corpus("builtin:crypto-20").texts
    prompt = PromptSpec(style="completion")
    bandwidth = copy_bandwidth(opts.device)
    models = {name: build(name, opts.device, opts.tiny) for name in SHAPES}  # all resident at once
    results: dict = {
        "device": torch.cuda.get_device_name(opts.device) if opts.device.startswith("cuda") else "cpu",
        "tiny": opts.tiny,
        "samples": opts.samples,
        "max_tokens": opts.max_tokens,
        "warm": not opts.cold,
        "copy_bandwidth_gbs": bandwidth / 1e9,
        "resident_gib": None,
        "shapes": {},
    }
    if opts.device.startswith("cuda"):
        results["resident_gib"] = torch.cuda.memory_allocated(opts.device) / 2**30
    table = Table(
        header_style="bold", title=f"one agent-round, L = {opts.samples}, {opts.max_tokens} tokens each"
    )
    for column in (
        "model",
        "k",
        "prompt",
        "path",
        "round",
        "decode/step",
        "÷ weights read",
        "peak",
        "tok/s",
        "plain ÷ this",
    ):
        table.add_column(column, justify="left" if column in ("model", "path") else "right")
    for name, model in models.items():
        weights_ms = 1000 * sum(p.numel() * p.element_size() for p in model.parameters()) / bandwidth
        chat = ChatHF.wrap(model, tokenizer, style="completion", max_tokens=opts.max_tokens, temperature=0.7)
        by_k = results["shapes"][name] = {"weights_read_ms": weights_ms}
        for k in ks:
            t = max(0, round((2 * k - len(corpus)) / 3))  # the round at which k_t = k
            messages = prompt.messages(late_round_posts(k, corpus, t))
            r = by_k[k] = agent_round(
                chat, model, messages, opts.device, opts.samples, paths, warm=not opts.cold
            )
            console.log(  # progress: a run cut short still tells what it measured
                f"{name} k = {k}: "
                + ", ".join(f"{p} {r[p].get('seconds', float('nan')):.2f} s" for p in paths)
            )
            if opts.json:
                opts.json.write_text(json.dumps(results, indent=2, default=float))
            for path in paths:
                p = r[path]
                if p.get("oom"):
                    table.add_row(name, str(k), str(r["prompt_tokens"]), path, "out of memory", *[""] * 5)
                    continue
                plain = r.get("plain", {}).get("seconds")
                table.add_row(
                    name,
                    str(k),
                    str(r["prompt_tokens"]),
                    f"{path} ({p['kv']})" if p["kv"] != path else path,
                    f"{p['seconds']:.2f} s",
                    "—" if p["decode_ms_per_step"] is None else f"{p['decode_ms_per_step']:.1f} ms",
                    "—"
                    if p["decode_ms_per_step"] is None
                    else f"{p['decode_ms_per_step'] / weights_ms:.1f}×",
                    "—" if p["peak_gib"] is None else f"{p['peak_gib']:.1f} GiB",
                    f"{p['tokens_per_s']:.0f}",
                    f"{plain / p['seconds']:.2f}×" if plain else "",
                )
    console.print(
        f"{results['device']}: copy bandwidth {bandwidth / 1e9:.0f} GB/s"
        + (f", three models resident {results['resident_gib']:.1f} GiB" if results["resident_gib"] else "")
    )
    console.print(table)
    if "lwd" in paths and all(not results["shapes"][n][k]["lwd"].get("oom") for n in SHAPES for k in ks):
        p = results["projection"] = projection({n: results["shapes"][n] for n in SHAPES}, ks)
        halvings = sum(results["shapes"][n][k]["lwd"]["halvings"] for n in SHAPES for k in ks)
        console.print(
            ("tiny shapes, not the paper's: " if opts.tiny else "")
            + f"paper configuration (n = {p['agents']}, L = {p['samples']}, T = {p['rounds']}) projected: "
            f"[bold]{p['minutes']:.1f} minutes[/bold] of generation (goal < 3; the paper: ~480), "
            f"out-of-memory halvings: {halvings}"
        )
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
