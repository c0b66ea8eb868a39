"""Deterministic fakes for fast tests and dry runs: a chat model and an embedder. They prove the wiring;
the real parts (packaged models, sentence-transformers, Chroma) are tested beside them.

``FakeChatModel`` answers like a tiny opinionated agent: with probability ``copy_rate`` it restates the first
sentence of one of the posts it read (so a network of fakes collapses as the Internet fills with their posts),
otherwise it writes a sentence from its persona's vocabulary. Every answer is a pure function of the prompt and
the seed. ``HashEmbedder`` maps texts to normalised bags of hashed words: texts sharing words are close.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from lwd.agents.tracing import ls_params

__all__ = ["FakeChatModel", "HashEmbedder", "build_fake_agent"]

_MOODS = ["bright", "uncertain", "volatile", "promising", "bleak", "steady", "speculative", "transformative"]
_REASONS = [
    "institutional adoption",
    "regulatory pressure",
    "energy costs",
    "ETF inflows",
    "the next halving",
    "retail enthusiasm",
    "security breaches",
    "central bank policy",
    "payment use",
    "market manipulation",
]


def _digest(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


class FakeChatModel(BaseChatModel):
    """A deterministic chat model that reads the posts in its prompt (lines starting with ``- ``)."""

    persona: str = "fake"
    copy_rate: float = Field(default=0.6, ge=0, le=1)
    empty_rate: float = Field(default=0.0, ge=0, le=1)
    n_ctx: int = 1_000_000  # in words
    max_tokens: int = 64
    seed: int = 0
    n: int = 1

    samples_natively: ClassVar[bool] = True

    @property
    def _llm_type(self) -> str:
        return "fake-lwd"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return ls_params(self, "lwd-fake", self.persona, stop, **kwargs)

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return sum(len(str(m.content).split()) for m in messages)

    def prompt_budget(self, n: int) -> int:
        return self.n_ctx - n * self.max_tokens

    def get_num_tokens(self, text: str) -> int:
        return len(text.split())

    def answer(self, prompt: str, seed: int) -> str:
        rng = np.random.default_rng(_digest(self.persona, prompt, seed))
        if rng.random() < self.empty_rate:
            return ""
        posts = [line[2:].strip() for line in prompt.splitlines() if line.startswith("- ")]
        if posts and rng.random() < self.copy_rate:
            chosen = posts[int(rng.integers(len(posts)))]
            return re.split(r"(?<=[.!?])\s", chosen, maxsplit=1)[0]
        own = np.random.default_rng(_digest(self.persona))  # the persona's leanings
        moods = own.permutation(_MOODS)[:3]
        reasons = own.permutation(_REASONS)[:4]
        return f"Bitcoin's future looks {rng.choice(moods)} because of {rng.choice(reasons)}."

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        n, seed = int(kwargs.get("n", self.n)), int(kwargs.get("seed", self.seed))
        prompt = "\n".join(str(m.content) for m in messages)
        generations = []
        for i in range(n):
            text = self.answer(prompt, seed + i)
            info = {"seed": seed + i, "finish_reason": "stop", "completion_tokens": len(text.split())}
            generations.append(ChatGeneration(message=AIMessage(content=text), generation_info=info))
        return ChatResult(
            generations=generations, llm_output={"prompt_tokens": self.count_prompt_tokens(messages)}
        )

    def _combine_llm_outputs(self, llm_outputs: list[dict | None]) -> dict:
        return next((o for o in llm_outputs if o), {})


class HashEmbedder:
    """Feature-hashed bag of words, L2-normalised. ``embed(texts) -> (m, dim)`` float32."""

    def __init__(self, dim: int = 64):
        self.name = f"hash-{dim}"
        self.dim = dim

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "kind": "fake"}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9']+", text.lower()):
                h = _digest(word)
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def build_fake_agent(config, *, query: str, samples: int, base: Path | None, policy):
    """Registry factory of the ``fake`` backend."""
    from lwd.agents.backends import make_agent

    model = FakeChatModel(
        persona=config.name + (config.system_prompt or ""),
        copy_rate=config.copy_rate,
        empty_rate=config.empty_rate,
        n_ctx=config.n_ctx,
        max_tokens=config.max_tokens,
    )
    return make_agent(
        config,
        model,
        query=query,
        style=config.style or "chat",
        policy=policy,
        endpoint=None,
        describe={
            "persona": model.persona,
            "copy_rate": config.copy_rate,
            "empty_rate": config.empty_rate,
            "n_ctx": config.n_ctx,
        },
    )


def check_fake(config, base: Path | None = None):
    """Registry checker of the ``fake`` backend: always ready."""
    from lwd.agents.servers import Check

    return Check(config.name, "fake", "in-process", True, True, config.n_ctx, detail="deterministic fake")
