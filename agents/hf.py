"""Hugging Face transformers backend: CPU here, CUDA when present.

``model`` is a local model folder (with config.json), a Hugging Face repo id already in the local cache, a
packaged model name or a ``.gguf`` file. A GGUF file is dequantised once and saved under ``~/.cache/lwd/hf``
(``LWD_CACHE``), so later loads take a fraction of a second. Nothing is downloaded (``HF_HUB_OFFLINE=1``).

L samples of one prompt share one prefill (the prompt but its last token, logits for its last position only)
and then one copy of its KV cache: each decode step attends to the shared prompt once for the whole batch and
to each sample's own tokens separately, merged exactly (agents/hf_prefix.py; models outside plain full
attention, or ``share_prefix = false``, fall back to repeating the cache per sample). The L continuations are
decoded in chunks as large as free GPU memory holds (agents/hf_memory.py, or ``batch_size``); a chunk that
still runs out of memory is halved and drawn again, and each answer records its chunk size. Sampling draws
from torch's generator, seeded per chunk inside ``torch.random.fork_rng`` (the global stream is left as it
was); transformers samples a batch from one generator, so per-sample seeds are not honoured: every sample
records its chunk's seed (chunk j seeded with s + its first sample's index, all from one prefill).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr
from typing_extensions import override

from lwd.agents import hf_memory
from lwd.agents.agent import Agent
from lwd.agents.config import ContextPolicy, HFAgentConfig, SamplingOptions
from lwd.agents.contract import ChatBackend
from lwd.agents.factory import make_agent
from lwd.agents.hf_files import local_model_folder
from lwd.agents.shared import Shared
from lwd.agents.tracing import ls_params
from lwd.core.errors import BackendError, SetupError
from lwd.core.offline import quiet

__all__ = ["ChatHF", "build_hf"]

log = logging.getLogger(__name__)

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
# loaded weights, one copy per (folder, device, dtype), with the lock their requests queue on (lwd.agents.shared)
MODELS: Shared[tuple[Any, Any, threading.Lock]] = Shared()


class ChatHF(ChatBackend, SamplingOptions, BaseChatModel):
    """A transformers causal LM as a LangChain chat model; ``generate([m], n=L, seed=s)`` samples L at once."""

    model_dir: str
    style: Literal["chat", "completion"] = "chat"
    device: str = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    n_ctx: int = 8192
    batch_size: int | None = Field(
        default=None, ge=1, description="sequences per generate() call (None: as many as fit)"
    )
    share_prefix: bool = True  # one copy of the prompt's KV cache for the L samples (agents/hf_prefix.py)
    stop: list[str] | None = None
    seed: int = 0
    n: int = 1

    samples_natively: ClassVar[bool] = True  # one prefill, the L samples decoded as a batch
    counts_tokens: ClassVar[bool] = True
    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)  # loading
    _engine_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)  # requests: the weights' own
    _wrapped: bool = PrivateAttr(default=False)  # weights handed in (wrap), not held in MODELS
    _keeps_logits: bool = PrivateAttr(default=False)
    _cache_arg: str = PrivateAttr(default="past_key_values")

    @property
    def _llm_type(self) -> str:
        return "hf-transformers"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return ls_params(self, "huggingface", Path(self.model_dir).name, stop, **kwargs)

    @property
    def resolved_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    @classmethod
    def wrap(cls, model: Any, tokenizer: Any, **options: Any) -> ChatHF:
        """A chat model around a transformers model already in memory (a notebook's fine-tune, a benchmark's
        random-initialised shape): nothing is read from disk; ``device`` is where the model already is."""
        chat = cls(
            model_dir=getattr(model.config, "_name_or_path", "") or type(model).__name__,
            device=str(model.device),
            **options,
        )
        chat._model, chat._tokenizer, chat._wrapped = model.eval(), tokenizer, True
        chat._inspect_forward()
        return chat

    def _inspect_forward(self) -> None:
        """What this transformers version's ``forward`` takes: ``logits_to_keep``, and the cache as ``cache``
        (5.24 on; ``past_key_values`` is deprecated there) or ``past_key_values``."""
        parameters = inspect.signature(self._model.forward).parameters
        self._keeps_logits = "logits_to_keep" in parameters
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"

    @override
    def load(self) -> None:
        """Load the weights, or take those another agent of the same folder, device and dtype loaded
        (:data:`MODELS`: one copy in memory, its requests one at a time)."""
        with self._lock:
            if self._model is not None:
                return
            loaded = MODELS.acquire(self._weights_key, self._load_weights)
            self._model, self._tokenizer, self._engine_lock = loaded
            self._inspect_forward()

    @property
    def _weights_key(self) -> tuple[str, str, str]:
        return (os.path.realpath(self.model_dir), self.resolved_device, self.dtype)

    def _load_weights(self) -> tuple[Any, Any, threading.Lock]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet()
        device = self.resolved_device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SetupError(
                f"device {self.device!r} asked for, but torch sees no CUDA GPU",
                fix='set device = "auto" or "cpu"',
            )
        dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}.get(
            self.dtype, torch.bfloat16 if device.startswith("cuda") else torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype, local_files_only=True)
        return model.to(device).eval(), tokenizer, threading.Lock()

    @override
    def close(self) -> None:
        with self._lock:
            if self._model is not None and not self._wrapped:
                MODELS.release(self._weights_key)
            self._model = self._tokenizer = None

    def render(self, messages: list[BaseMessage]) -> str:
        self.load()
        if self.style == "completion":
            return "\n\n".join(str(m.content) for m in messages)
        dicts = [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]
        return self._tokenizer.apply_chat_template(dicts, add_generation_prompt=True, tokenize=False)

    def _ids(self, text: str):
        special = self.style == "completion"  # a chat template already holds its special tokens
        return self._tokenizer(text, return_tensors="pt", add_special_tokens=special).input_ids

    @override
    def count_prompt_tokens(self, messages: list[BaseMessage]) -> int:
        return int(self._ids(self.render(messages)).shape[1])

    @override
    def prompt_budget(self, n: int) -> int:
        return self.n_ctx - self.max_tokens  # every sample holds the prompt and its own answer

    def get_num_tokens(self, text: str) -> int:
        self.load()
        return len(self._tokenizer(text, add_special_tokens=False).input_ids)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        import torch

        from lwd.agents import hf_prefix  # torch and transformers load with the first request

        n, seed = int(kwargs.get("n", self.n)), int(kwargs.get("seed", self.seed))
        stop = stop if stop is not None else self.stop
        started = time.perf_counter()
        ids = self._ids(self.render(messages)).to(self.resolved_device)
        with (
            self._engine_lock,
            torch.no_grad(),
            torch.random.fork_rng(
                devices=[] if self.resolved_device == "cpu" else [torch.device(self.resolved_device)]
            ),
        ):
            stage = "evaluating the prompt"
            try:
                prompt = self._prefill(ids)
                shared = self.share_prefix and hf_prefix.unsupported(self._model, prompt) is None
                size = self.batch_size or self._fitting(n, ids.shape[1], shared)
                stage = "decoding even one sample at a time"
                chunks = self._sample(ids, prompt, n, seed, stop, size, shared)
            except torch.OutOfMemoryError as exc:
                raise self._out_of_memory(stage, n, ids.shape[1]) from exc
        pad = self._pad_id()
        generations = []
        for chunk in chunks:
            for offset, row in enumerate(chunk.rows):
                text = self._tokenizer.decode(row, skip_special_tokens=True)
                for s in stop or []:
                    text = text.split(s, 1)[0]
                kept = (row != pad).nonzero()  # generate pads a finished sequence with the pad id
                tokens = int(kept[-1]) + 1 if len(kept) else 0
                info = {
                    "seed": seed + chunk.first,
                    "finish_reason": "length" if tokens >= self.max_tokens else "stop",
                    "completion_tokens": tokens,
                    "index": chunk.first + offset,
                    "batch": chunk.count,
                }
                generations.append(ChatGeneration(message=AIMessage(content=text), generation_info=info))
        return ChatResult(
            generations=generations,
            llm_output={
                "prompt_tokens": int(ids.shape[1]),
                "seconds": time.perf_counter() - started,
                "device": self.resolved_device,
                "kv": "shared" if shared else "repeated",
                "halvings": max(c.halvings for c in chunks),
            },
        )

    def _pad_id(self) -> int | None:
        pad = self._tokenizer.pad_token_id  # 0 is a real id (BERT-style vocabularies): test for None
        return pad if pad is not None else self._tokenizer.eos_token_id

    def _prefill(self, ids: Any) -> Any:
        """The prompt but its last token, run once into a batch-1 cache (logits for its last position only)."""
        from transformers import DynamicCache

        prompt = DynamicCache(config=self._model.config)
        keep = {"logits_to_keep": 1} if self._keeps_logits else {}
        self._model(ids[:, :-1], use_cache=True, **{self._cache_arg: prompt}, **keep)
        return prompt

    def _fitting(self, n: int, prompt_tokens: int, shared: bool) -> int:
        """Samples per chunk that fit the free GPU memory (all n on a CPU)."""
        from lwd.agents import hf_prefix

        config = self._model.config.get_text_config(decoder=True)
        per_sample = hf_memory.sample_bytes(
            hf_prefix.kv_bytes_per_token(self._model),
            prompt_tokens,
            self.max_tokens,
            shared=shared,
            vocab=config.vocab_size,
            heads=config.num_attention_heads,
            hidden=config.hidden_size,
            intermediate=getattr(config, "intermediate_size", 4 * config.hidden_size),
            itemsize=self._model.dtype.itemsize,
        )
        return hf_memory.chunk_size(n, hf_memory.free_bytes(self.resolved_device), per_sample)

    def _sample(self, ids: Any, prompt: Any, n: int, seed: int, stop, size: int, shared: bool):
        """The n continuations in chunks of ``size``, chunk j seeded with seed + its first index; an
        out-of-memory chunk is halved and drawn again."""
        import torch

        sampling = (
            {
                "do_sample": True,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "top_k": self.top_k or None,
                "min_p": self.min_p or None,
            }
            if self.temperature > 0
            else {"do_sample": False}
        )

        def draw(first: int, count: int):
            torch.manual_seed(seed + first)
            out = self._continue(
                ids,
                prompt,
                count,
                shared,
                max_new_tokens=self.max_tokens,
                repetition_penalty=self.repeat_penalty,
                stop_strings=stop or None,
                **sampling,
            )
            return out[:, ids.shape[1] :]

        def freed(count: int) -> None:
            log.warning("%s: out of GPU memory decoding %d samples at once; halving", self.model_dir, count)
            if self.resolved_device.startswith("cuda"):
                torch.cuda.empty_cache()

        return hf_memory.draw_in_chunks(n, size, draw, freed)

    def _continue(self, ids: Any, prompt: Any, count: int, shared: bool, **options: Any) -> Any:
        """``generate`` of ``count`` continuations of ``ids`` after its prefilled ``prompt`` cache: one copy of
        that cache read by all (``shared``) or a copy per continuation."""
        import torch

        from lwd.agents import hf_prefix

        if shared:
            cache = hf_prefix.SharedPrefixCache(prompt)  # the prompt's tensors, not a copy
            attention = hf_prefix.decoding(self._model, cache)
        else:
            cache, attention = copy.deepcopy(prompt), contextlib.nullcontext()
            cache.batch_repeat_interleave(count)
        batch = ids.repeat(count, 1)
        with attention:
            return self._model.generate(
                batch,
                attention_mask=torch.ones_like(batch),
                pad_token_id=self._pad_id(),
                tokenizer=self._tokenizer,
                **{self._cache_arg: cache},
                **options,
            )

    def _out_of_memory(self, stage: str, n: int, prompt_tokens: int) -> BackendError:
        import torch

        free = hf_memory.free_bytes(self.resolved_device)
        if self.resolved_device.startswith("cuda"):
            torch.cuda.empty_cache()
        return BackendError(
            f"model {Path(self.model_dir).name}: out of {self.resolved_device} memory {stage} "
            f"(prompt {prompt_tokens} tokens, {n} samples asked"
            + (f", {free / 2**30:.1f} GiB free)" if free is not None else ")"),
            fix="put fewer models on this GPU, lower n_ctx or beta (shorter prompts), use dtype = "
            '"bfloat16", or serve the model with vLLM and use the openai backend',
        )

    def _combine_llm_outputs(self, llm_outputs: list[dict | None]) -> dict:
        return next((o for o in llm_outputs if o), {})


def build_hf(
    config: HFAgentConfig, *, query: str, samples: int, base: Path | None, policy: ContextPolicy
) -> Agent:

    folder, describe = local_model_folder(config.model, base)
    style = config.style or describe.get("style") or "chat"
    chat = ChatHF(
        model_dir=str(folder),
        style=style,
        device=config.device,
        dtype=config.dtype,
        n_ctx=config.n_ctx,
        batch_size=config.batch_size,
        share_prefix=config.share_prefix,
        stop=config.stop_for(style),
        **config.sampling(),
    )
    device = chat.resolved_device
    return make_agent(
        config,
        chat,
        query=query,
        style=style,
        policy=policy,
        endpoint="local-cpu" if device == "cpu" else device,
        describe={
            **describe,
            "device": device,
            "dtype": config.dtype,
            "n_ctx": config.n_ctx,
            "seeds": "one per chunk of samples (transformers samples a batch from one generator)",
            "share_prefix": config.share_prefix,
        },
    )
