"""The Agent: one LangChain chat model, its prompt, and the rules for turning L samples into responses.

``Agent.reply(posts, samples, seed)`` asks the backend for L samples of ONE prompt (how the backend batches
them is its own business, see :func:`sample`), keeps each raw answer and its cleaned first sentence, and
regenerates empty answers a bounded number of times with their own seeds. Sample l has seed ``seed + l``;
its a-th regeneration has seed ``seed + a·L + l``, so every draw is reproducible whatever the concurrency.

Context window: when the k_t retrieved posts do not fit, the policy decides (``cap``: keep the first posts of
the random sample that fit and record how many; ``error``: stop with the numbers) — never silent truncation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from lwd.agents.config import ContextPolicy
from lwd.agents.prompt import PromptSpec
from lwd.agents.text import first_sentence

__all__ = ["Agent", "Reply", "Response", "Generated", "ContextPolicy", "ContextBudgetError", "sample"]


class ContextBudgetError(RuntimeError):
    """The retrieved posts do not fit the agent's context window and the policy is ``error``."""


@dataclass(frozen=True)
class Generated:
    text: str
    seed: int
    tokens: int | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Response:
    """One of an agent's L answers in a round."""

    sample: int
    seed: int  # the seed of the draw that was kept
    raw: str
    clean: str
    tokens: int | None
    attempts: int  # 1 + regenerations
    finish_reason: str | None
    failed: bool  # still empty after every regeneration


@dataclass(frozen=True)
class Reply:
    """An agent's round: its L responses and what it read."""

    agent: str
    responses: tuple[Response, ...]
    prompt_tokens: int | None
    seconds: float
    k: int  # posts retrieved
    k_used: int  # posts that fit the context window (== k unless capped)
    regenerations: int = 0

    @property
    def valid(self) -> list[Response]:
        return [r for r in self.responses if not r.failed]


def sample(
    model: BaseChatModel, messages: Sequence[BaseMessage], n: int, seed: int
) -> tuple[list[Generated], int | None]:
    """L samples of one prompt: one call when the model samples natively (``samples_natively``), else L calls."""
    if getattr(model, "samples_natively", False):
        result = model.generate([list(messages)], n=n, seed=seed)
        out = []
        for i, gen in enumerate(result.generations[0]):
            info = gen.generation_info or {}
            out.append(
                Generated(
                    gen.text,
                    int(info.get("seed", seed + i)),
                    info.get("completion_tokens"),
                    info.get("finish_reason"),
                )
            )
        return out, (result.llm_output or {}).get("prompt_tokens")
    out = []
    for i in range(n):
        message = model.invoke(list(messages), seed=seed + i)
        meta = getattr(message, "response_metadata", {}) or {}
        usage = getattr(message, "usage_metadata", None) or {}
        out.append(
            Generated(str(message.content), seed + i, usage.get("output_tokens"), meta.get("finish_reason"))
        )
    return out, None


@dataclass
class Agent:
    """A named participant of the network."""

    name: str
    model: BaseChatModel
    prompt: PromptSpec
    max_retries: int = 3
    context_policy: ContextPolicy = ContextPolicy.CAP
    limiter: threading.Semaphore | None = None  # shared by agents that compete for one endpoint (or the CPU)
    describe: dict[str, Any] = field(default_factory=dict)  # what the manifest records about this agent

    def reply(self, posts: Sequence[str], samples: int, seed: int) -> Reply:
        """L answers to the prompt built from ``posts``; ``seconds`` excludes waiting for a shared endpoint."""
        if self.limiter is None:
            return self._reply(posts, samples, seed)
        with self.limiter:
            return self._reply(posts, samples, seed)

    def _reply(self, posts: Sequence[str], samples: int, seed: int) -> Reply:
        started = time.perf_counter()
        used = self.fit(posts, samples)
        messages = self.prompt.messages(used)
        drawn, prompt_tokens = sample(self.model, messages, samples, seed)
        responses = [self._response(i, g, 1) for i, g in enumerate(drawn)]
        regenerations = 0
        for i, response in enumerate(responses):
            attempt = 1
            while response.failed and attempt <= self.max_retries:
                retry_seed = seed + attempt * samples + i
                (again,), _ = sample(self.model, messages, 1, retry_seed)
                attempt += 1
                regenerations += 1
                response = self._response(i, again, attempt)
            responses[i] = response
        return Reply(
            self.name,
            tuple(responses),
            prompt_tokens,
            time.perf_counter() - started,
            len(posts),
            len(used),
            regenerations,
        )

    def _response(self, index: int, generated: Generated, attempts: int) -> Response:
        raw = self.prompt.answer(generated.text)
        clean = first_sentence(raw) if generated.text.strip() else ""
        return Response(
            index,
            generated.seed,
            raw,
            clean,
            generated.tokens,
            attempts,
            generated.finish_reason,
            failed=not clean,
        )

    def fit(self, posts: Sequence[str], samples: int) -> list[str]:
        """The posts that fit the context window (all of them unless the model reports a smaller budget)."""
        count = getattr(self.model, "count_prompt_tokens", None)
        budget_of = getattr(self.model, "prompt_budget", None)
        posts = list(posts)
        if count is None or budget_of is None:
            return posts
        budget = budget_of(samples)
        need = count(self.prompt.messages(posts))
        if need <= budget:
            return posts
        if self.context_policy is ContextPolicy.ERROR:
            raise ContextBudgetError(
                f"agent {self.name!r}: the prompt with k = {len(posts)} posts is {need} tokens, but the context "
                f"leaves {budget} for it ({samples} samples of up to max_tokens each share the window). Fix: raise "
                f'the agent\'s n_ctx, lower beta, samples or max_tokens, or set [context] policy = "cap".'
            )
        low, high = 0, len(posts)  # largest m with count(posts[:m]) <= budget
        while low < high:
            mid = (low + high + 1) // 2
            if count(self.prompt.messages(posts[:mid])) <= budget:
                low = mid
            else:
                high = mid - 1
        if low == 0 and count(self.prompt.messages([])) > budget:
            raise ContextBudgetError(
                f"agent {self.name!r}: even with no posts the prompt ({count(self.prompt.messages([]))} tokens) "
                f"exceeds its budget of {budget} tokens. Fix: raise n_ctx or lower samples or max_tokens."
            )
        return posts[:low]
