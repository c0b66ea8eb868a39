"""The HF backend at scale, on a CPU: the L samples share one copy of the prompt's KV cache (exactly the
repeated-cache result), chunks sized from free memory and halved on out-of-memory, and the smaller fixes
(pad id 0, logits of the last prompt position only, cached weight hashes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from langchain_core.messages import HumanMessage  # noqa: E402

from lwd.agents import hf_memory, hf_prefix  # noqa: E402
from lwd.agents.hf import ChatHF  # noqa: E402
from lwd.agents.hf_files import local_model_folder  # noqa: E402
from lwd.core.errors import BackendError  # noqa: E402

PROMPT = [
    HumanMessage(
        "Posts: Bitcoin ETFs drew record inflows this week. Mining uses as much power as a small country. "
        "Please provide EXACTLY one concise sentence about the future prospects of Bitcoin."
    )
]


@pytest.fixture(scope="module")
def smollm2() -> Path:
    folder, _ = local_model_folder("smollm2-135m-instruct", None)  # the packaged GGUF, dequantised once
    return folder


def tiny(tmp_path: Path, tokenizer_from: Path, kind: str = "llama", **shape) -> Path:
    """A random-initialised model of a real architecture with SmolLM2's tokenizer, saved as a model folder."""
    config_class = {"llama": transformers.LlamaConfig, "mistral": transformers.MistralConfig}[kind]
    config = config_class(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=shape.pop("kv_heads", 2),
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
        **shape,
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    folder = tmp_path / f"tiny-{kind}"
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
        if (tokenizer_from / name).is_file():
            shutil.copy(tokenizer_from / name, folder / name)
    return folder


def chat(folder: Path, **options) -> ChatHF:
    model = ChatHF(model_dir=str(folder), **{"device": "cpu", "max_tokens": 24, **options})
    model.load()
    return model


def continuation(model: ChatHF, shared: bool, count: int = 4):
    """Greedy continuations of PROMPT with every step's logits, through the shared or the repeated cache."""
    ids = model._ids(model.render(PROMPT))
    with torch.no_grad():
        prompt = model._prefill(ids)
        return model._continue(
            ids,
            prompt,
            count,
            shared,
            max_new_tokens=12,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
        )


# -- the shared prefix is exact -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kv_heads", [4, 2], ids=["multi-head (deepseek-7b)", "grouped-query (llama, mistral)"]
)
@pytest.mark.parametrize("q_len", [1, 3])
def test_shared_prefix_attention_equals_attention_over_the_repeated_prompt(kv_heads, q_len):
    torch.manual_seed(1)
    batch, heads, dim, prefix, suffix = 5, 4, 16, 11, 6
    query = torch.randn(batch, heads, q_len, dim)
    pk, pv = torch.randn(1, kv_heads, prefix, dim), torch.randn(1, kv_heads, prefix, dim)
    sk, sv = torch.randn(batch, kv_heads, suffix, dim), torch.randn(batch, kv_heads, suffix, dim)
    prompt = transformers.DynamicCache()
    prompt.update(pk, pv, 0)
    cache = hf_prefix.SharedPrefixCache(prompt)
    module = torch.nn.Module()
    module.layer_idx = 0
    token = hf_prefix._ACTIVE.set(cache)
    try:
        out, _ = hf_prefix.shared_prefix_attention(module, query, sk, sv, None, scaling=dim**-0.5)
    finally:
        hf_prefix._ACTIVE.reset(token)
    # the reference: each row's own copy of the prompt followed by its tokens, causal for the last q_len
    keys = torch.cat([pk.expand(batch, -1, -1, -1), sk], dim=2).repeat_interleave(heads // kv_heads, dim=1)
    values = torch.cat([pv.expand(batch, -1, -1, -1), sv], dim=2).repeat_interleave(heads // kv_heads, dim=1)
    total = prefix + suffix
    mask = torch.arange(total) <= torch.arange(total - q_len, total)[:, None]
    expected = torch.nn.functional.scaled_dot_product_attention(query, keys, values, attn_mask=mask)
    assert out.shape == (batch, q_len, heads, dim)
    torch.testing.assert_close(out, expected.transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_the_packaged_model_gives_the_same_logits_and_answers_either_way(smollm2):
    model = chat(smollm2)
    shared, repeated = continuation(model, True), continuation(model, False)
    assert torch.equal(shared.sequences, repeated.sequences)
    for step_shared, step_repeated in zip(shared.logits, repeated.logits, strict=True):
        torch.testing.assert_close(step_shared, step_repeated, rtol=1e-4, atol=1e-4)
    # sampled, seeded: the same answers and seeds as the repeated cache, from one call to the next
    repeated_chat = chat(smollm2, share_prefix=False)
    drawn = [m.generate([PROMPT], n=5, seed=7) for m in (model, repeated_chat, model)]
    texts = [[g.text for g in r.generations[0]] for r in drawn]
    assert texts[0] == texts[1] == texts[2] and len(set(texts[0])) > 1
    assert [r.llm_output["kv"] for r in drawn] == ["shared", "repeated", "shared"]
    infos = [g.generation_info for g in drawn[0].generations[0]]
    assert [i["seed"] for i in infos] == [7] * 5 and {i["batch"] for i in infos} == {5}


def test_a_grouped_query_and_a_multi_head_model_match_too(tmp_path, smollm2):
    for kv_heads in (2, 4):
        model = chat(tiny(tmp_path / str(kv_heads), smollm2, kv_heads=kv_heads))
        shared, repeated = continuation(model, True, 3), continuation(model, False, 3)
        assert torch.equal(shared.sequences, repeated.sequences)
        torch.testing.assert_close(
            torch.stack(shared.logits), torch.stack(repeated.logits), rtol=1e-4, atol=1e-4
        )


def test_the_shared_cache_holds_the_prompt_once(smollm2):
    model = chat(smollm2)
    ids = model._ids(model.render(PROMPT))
    with torch.no_grad():
        prompt = model._prefill(ids)
    cache = hf_prefix.SharedPrefixCache(prompt)
    assert cache.layers[0].prefix_keys.data_ptr() == prompt.layers[0].keys.data_ptr()  # not copied
    assert cache.get_seq_length() == ids.shape[1] - 1
    per_token = hf_prefix.kv_bytes_per_token(model._model)
    assert per_token == 2 * 30 * 3 * 64 * 4  # SmolLM2-135M: 30 layers, 3 KV heads of 64, float32


def test_a_model_outside_plain_attention_falls_back_to_the_repeated_cache(tmp_path, smollm2):
    sliding = chat(tiny(tmp_path, smollm2, "mistral", sliding_window=8))
    ids = sliding._ids(sliding.render(PROMPT))
    with torch.no_grad():
        reason = hf_prefix.unsupported(sliding._model, sliding._prefill(ids))
    assert reason is not None and "sliding" in reason
    result = sliding.generate([PROMPT], n=3, seed=1)
    assert result.llm_output["kv"] == "repeated" and len(result.generations[0]) == 3
    plain = chat(tiny(tmp_path / "plain", smollm2, "mistral", sliding_window=None))
    assert plain.generate([PROMPT], n=2, seed=1).llm_output["kv"] == "shared"


def test_the_attention_refuses_to_run_outside_its_cache():
    module = torch.nn.Module()
    module.layer_idx = 0
    with pytest.raises(RuntimeError, match="decoding"):
        hf_prefix.shared_prefix_attention(module, *(torch.zeros(1, 1, 1, 4) for _ in range(3)), None)


# -- memory: chunks from a budget, halving on out-of-memory -------------------------------------------------


def test_chunk_sizes_follow_the_memory_budget():
    assert hf_memory.chunk_size(40, None, 10**9) == 40  # a CPU: not measured, all at once
    assert hf_memory.chunk_size(40, 10 * 2**30, 2**30) == 8  # 80 % of 10 GiB at 1 GiB per sample
    assert hf_memory.chunk_size(40, 10**6, 2**30) == 1  # never below one
    assert hf_memory.chunk_size(40, 10**15, 1) == 40
    shape = dict(vocab=128256, heads=32, hidden=4096, intermediate=14336, itemsize=2)
    # Llama-3.1-8B: 128 KiB of KV cache per token, a 2,500-token prompt, 64-token answers
    shared = hf_memory.sample_bytes(131072, 2500, 64, shared=True, **shape)
    repeated = hf_memory.sample_bytes(131072, 2500, 64, shared=False, **shape)
    assert repeated - shared == 2500 * 131072  # the repeated path holds the prompt once per sample
    assert hf_memory.chunk_size(40, 10 * 2**30, repeated) == 25  # 13.5 GB for 40: does not fit
    assert hf_memory.chunk_size(40, 10 * 2**30, shared) == 40


def test_an_out_of_memory_chunk_is_halved_and_drawn_again():
    calls = []

    def draw(first, count):
        calls.append((first, count))
        if count > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (fake)")
        return list(range(first, first + count))

    freed = []
    chunks = hf_memory.draw_in_chunks(10, 10, draw, freed.append)
    assert calls == [(0, 10), (0, 5), (0, 2), (2, 2), (4, 2), (6, 2), (8, 2)]
    assert freed == [10, 5] and [c.count for c in chunks] == [2] * 5
    assert [x for c in chunks for x in c.rows] == list(range(10))
    with pytest.raises(torch.OutOfMemoryError):
        hf_memory.draw_in_chunks(2, 2, lambda first, count: draw(first, 9), freed.append)


def test_the_backend_records_halved_chunks_and_stops_cleanly_when_one_sample_does_not_fit(
    smollm2, monkeypatch
):
    model = chat(smollm2, max_tokens=8)
    real = ChatHF._continue

    def tight(self, ids, prompt, count, shared, **options):
        if count > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (fake)")
        return real(self, ids, prompt, count, shared, **options)

    monkeypatch.setattr(ChatHF, "_continue", tight)
    result = model.generate([PROMPT], n=5, seed=3)
    infos = [g.generation_info for g in result.generations[0]]
    assert [i["batch"] for i in infos] == [2, 2, 2, 2, 1] and [i["seed"] for i in infos] == [3, 3, 5, 5, 7]
    assert result.llm_output["halvings"] == 1
    monkeypatch.setattr(ChatHF, "_continue", lambda *a, **k: (_ for _ in ()).throw(torch.OutOfMemoryError()))
    with pytest.raises(BackendError, match="out of cpu memory decoding even one sample at a time") as caught:
        model.generate([PROMPT], n=5, seed=3)
    assert "vLLM" in caught.value.fix
    monkeypatch.setattr(ChatHF, "_prefill", lambda *a: (_ for _ in ()).throw(torch.OutOfMemoryError()))
    with pytest.raises(BackendError, match="out of cpu memory evaluating the prompt"):
        model.generate([PROMPT], n=5, seed=3)


def test_an_agent_records_the_batch_of_each_answer(smollm2):
    from lwd.agents.config import HFAgentConfig
    from lwd.agents.registry import build_agent

    agent = build_agent(
        HFAgentConfig(name="hf", model="smollm2-135m-instruct", device="cpu", batch_size=2, max_tokens=8),
        query="the future of Bitcoin?",
        samples=3,
        base=None,
    )
    reply = agent.reply(["Bitcoin ETFs drew record inflows."], 3, 0)
    assert [r.batch for r in reply.responses] == [2, 2, 1]


# -- the smaller fixes ----------------------------------------------------------------------------------------


def test_a_pad_id_of_zero_is_a_pad_id(smollm2):
    model = chat(smollm2)
    model._tokenizer.pad_token_id = 0
    assert model._pad_id() == 0
    model._tokenizer.pad_token_id = None
    assert model._pad_id() == model._tokenizer.eos_token_id


def test_the_prefill_computes_logits_for_the_last_position_only(smollm2):
    model = chat(smollm2)
    seen = []
    forward = model._model.forward

    def spy(*args, **kwargs):
        out = forward(*args, **kwargs)
        seen.append(out.logits.shape[1])
        return out

    model._model.forward = spy
    ids = model._ids(model.render(PROMPT))
    with torch.no_grad():
        model._prefill(ids)
    assert ids.shape[1] > 20 and seen == [1]


def test_weight_hashes_are_cached_by_path_size_and_mtime(tmp_path, monkeypatch):
    import hashlib
    import os

    from lwd.core.files import sha256_file

    monkeypatch.setenv("LWD_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"w" * 3_000_000)
    reads = []
    real = hashlib.sha256

    def counting(*args):
        reads.append(1)
        return real(*args)

    monkeypatch.setattr(hashlib, "sha256", counting)
    first = sha256_file(weights)
    assert first == real(b"w" * 3_000_000).hexdigest() and len(reads) == 1
    assert sha256_file(weights) == first and len(reads) == 1  # the second start reads nothing
    weights.write_bytes(b"v" * 3_000_000)  # same size, new content and modification time: hashed again
    os.utime(weights, ns=(1, 1))
    assert sha256_file(weights) == real(b"v" * 3_000_000).hexdigest() and len(reads) == 2


def test_the_gpu_benchmark_runs_on_a_cpu_with_tiny_shapes(tmp_path):
    import json
    import subprocess
    import sys

    out = tmp_path / "gpu.json"
    bench = Path(__file__).parents[1] / "bench" / "bench_gpu.py"
    args = [
        "--tiny",
        "--device",
        "cpu",
        "--samples",
        "3",
        "--max-tokens",
        "4",
        "--ks",
        "10,55",
        "--json",
        str(out),
    ]
    proc = subprocess.run(
        [sys.executable, str(bench), *args, "--paths", "lwd,repeated"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert set(results["shapes"]) == {"Llama-3.1-8B", "deepseek-llm-7b", "Mistral-7B-v0.3"}
    rounds = results["shapes"]["deepseek-llm-7b"]["55"]
    assert rounds["lwd"]["kv"] == "shared" and rounds["repeated"]["kv"] == "repeated"
    assert rounds["lwd"]["tokens"] == 3 * 4  # no end-of-sequence: every sample runs max_tokens
    assert results["projection"]["rounds"] == 60 and results["projection"]["minutes"] > 0


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA GPU on this machine: the shared cache's CUDA path runs where one is",
)
def test_on_cuda_the_shared_cache_matches_in_bf16_and_holds_the_prompt_once(tmp_path, smollm2):
    model = chat(smollm2, device="cuda", dtype="bfloat16")
    shared, repeated = continuation(model, True, 8), continuation(model, False, 8)
    torch.testing.assert_close(shared.logits[0], repeated.logits[0], rtol=0.05, atol=0.05)  # bf16 rounding
    long = [HumanMessage(" ".join(["Bitcoin ETFs drew record inflows this week."] * 150))]
    peaks = {}
    for share in (True, False):
        sampler = chat(smollm2, device="cuda", dtype="bfloat16", share_prefix=share, max_tokens=8)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        sampler.generate([long], n=32, seed=0)
        peaks[share] = torch.cuda.max_memory_allocated() - base
    assert peaks[True] < peaks[False] / 4  # 32 copies of a ~1,500-token cache against one
