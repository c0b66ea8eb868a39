"""The ``fake`` backend: a deterministic chat model for fast tests and dry runs. It proves the wiring; the real
parts (packaged models, servers) are tested beside it.

``FakeChatModel`` answers like a tiny opinionated agent: with probability ``copy_rate`` it restates the first
sentence of one of the posts it read (so a network of fakes collapses as the Internet fills with their posts),
otherwise it writes a sentence from its persona's vocabulary. Every answer is a pure function of the prompt and
the seed. ``delay`` makes every request take that long (a slow backend, for tests of interruption and load).
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field
from typing_extensions import override

from lwd.agents.agent import Agent
from lwd.agents.config import ContextPolicy, FakeAgentConfig
from lwd.agents.contract import ChatBackend
from lwd.agents.factory import Check, make_agent
from lwd.agents.tracing import ls_params

__all__ = ["FakeChatModel", "build_fake_agent", "check_fake"]

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


@functools.lru_cache(maxsize=64)
def _words(text: str) -> int:
    """Words of a text: ``len(text.split())``, counted line by line (a post read by many agents is one line
    counted once). Cached: the context check and the request count the same prompt (a string whose hash
    Python keeps, so the second count is a lookup)."""
    return sum(map(_line_words, text.split("\n")))


@functools.lru_cache(maxsize=1 << 16)
def _line_words(line: str) -> int:
    return len(line.split())


@functools.lru_cache(maxsize=1 << 14)
def _leanings(persona: str) -> tuple[np.ndarray, np.ndarray]:
    """The persona's moods and reasons (a pure function of the persona)."""
    own = np.random.default_rng(_digest(persona))
    return own.permutation(_MOODS)[:3], own.permutation(_REASONS)[:4]


_OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # where splitlines() breaks besides \\n


def _listed_posts(prompt: str, lines: list[str]) -> list[str]:
    """The posts listed in a prompt (its lines that start with ``- ``, without that mark; strip each one used),
    from its ``\\n``-separated ``lines``; a prompt with other line breaks is split as ``splitlines`` does."""
    if any(mark in prompt for mark in _OTHER_BREAKS):
        lines = prompt.splitlines()
    return [line[2:] for line in lines if line.startswith("- ")]


def _quoted(text: str, lines: list[str]) -> str:
    """``repr(text)``, put together from its ``\\n``-separated lines' (escaping is character by character, so
    only the quote differs: the text's own). A line (a post) read by many agents is escaped once."""
    quote = '"' if "'" in text and '"' not in text else "'"
    return quote + "\\n".join([_escaped(line, quote) for line in lines]) + quote


@functools.lru_cache(maxsize=1 << 16)
def _escaped(line: str, quote: str) -> str:
    """A line as ``repr`` writes it inside a text quoted with ``quote``."""
    written = repr(line)
    inside = written[1:-1]
    # the line alone is quoted with " (it has ' but no "), the text with ' (it has both): escape its '
    return inside.replace("'", "\\'") if written[0] != quote else inside


class FakeChatModel(ChatBackend, BaseChatModel):
    """A deterministic chat model that reads the posts in its prompt (lines starting with ``- ``)."""

    persona: str = "fake"
    copy_rate: float = Field(default=0.6, ge=0, le=1)
    empty_rate: float = Field(default=0.0, ge=0, le=1)
    n_ctx: int = 1_000_000  # in words
    max_tokens: int = 64
    delay: float = Field(default=0.0, ge=0, description="seconds each request takes")
    seed: int = 0
    n: int = 1

    samples_natively: ClassVar[bool] = True
    counts_tokens: ClassVar[bool] = True  # in words

    @property
    def _llm_type(self) -> str:
        return "fake-lwd"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return ls_params(self, "lwd-fake", self.persona, stop, **kwargs)

    @override
    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return sum(_words(str(m.content)) for m in messages)

    @override
    def prompt_budget(self, n: int) -> int:
        return self.n_ctx - n * self.max_tokens

    @property
    def waits(self) -> bool:  # type: ignore[override]
        return self.delay > 0  # a fake's work is pure Python; only a ``delay`` waits

    def get_num_tokens(self, text: str) -> int:
        return len(text.split())

    def answer(self, prompt: str, seed: int) -> str:
        return self.answers(prompt, [seed])[0]

    def answers(self, prompt: str, seeds: Sequence[int]) -> list[str]:
        """The answer to ``prompt`` for each seed. The prompt is read and hashed once for all of them (its
        digest for a seed is ``_digest(persona, prompt, seed)``, fed to sha256 up to the seed and copied)."""
        lines = prompt.split("\n")
        head = hashlib.sha256(f"({self.persona!r}, {_quoted(prompt, lines)}, ".encode())
        posts: list[str] | None = None  # the posts it read, parsed when an answer first copies one
        moods, reasons = _leanings(self.persona)
        out = []
        for seed in seeds:
            digest = head.copy()
            digest.update(f"{seed!r})".encode())
            rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest.digest()[:8], "little")))
            # (what default_rng(seed) builds, without its checks)
            if rng.random() < self.empty_rate:
                out.append("")
                continue
            if posts is None:
                posts = _listed_posts(prompt, lines)
            if posts and rng.random() < self.copy_rate:
                chosen = posts[int(rng.integers(len(posts)))].strip()
                out.append(re.split(r"(?<=[.!?])\s", chosen, maxsplit=1)[0])
            else:
                mood = moods[rng.integers(0, len(moods))]  # what rng.choice draws, without its checks
                out.append(
                    f"Bitcoin's future looks {mood} because of {reasons[rng.integers(0, len(reasons))]}."
                )
        return out

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        n, seed = int(kwargs.get("n", self.n)), int(kwargs.get("seed", self.seed))
        if self.delay:
            time.sleep(self.delay)
        prompt = "\n".join(str(m.content) for m in messages)
        generations = []
        for i, text in enumerate(self.answers(prompt, range(seed, seed + n))):
            info = {"seed": seed + i, "finish_reason": "stop", "completion_tokens": len(text.split())}
            generations.append(ChatGeneration(message=AIMessage(content=text), generation_info=info))
        return ChatResult(
            generations=generations, llm_output={"prompt_tokens": self.count_prompt_tokens(messages)}
        )

    def _combine_llm_outputs(self, llm_outputs: list[dict | None]) -> dict:
        return next((o for o in llm_outputs if o), {})


def build_fake_agent(
    config: FakeAgentConfig, *, query: str, samples: int, base: Path | None, policy: ContextPolicy
) -> Agent:
    """Registry factory of the ``fake`` backend."""
    model = FakeChatModel(
        persona=config.name + (config.system_prompt or ""),
        copy_rate=config.copy_rate,
        empty_rate=config.empty_rate,
        n_ctx=config.n_ctx,
        max_tokens=config.max_tokens,
        delay=config.delay,
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


def check_fake(config: FakeAgentConfig, base: Path | None = None) -> Check:
    """Registry checker of the ``fake`` backend: always ready."""
    return Check(config.name, "fake", "in-process", True, True, config.n_ctx, detail="deterministic fake")
