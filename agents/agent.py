"""The Agent: one LangChain chat model, its prompt, and the rules for turning L samples into responses.

``Agent.reply(posts, samples, seed)`` asks the backend for L samples of ONE prompt, keeps each raw answer and
its cleaned first sentence, and regenerates empty answers a bounded number of times with their own seeds.
Sample l has seed ``seed + l``; its a-th regeneration has seed ``seed + a·L + l``, so every draw is
reproducible whatever the concurrency.

How the L samples are drawn is the backend's business: a model that samples natively (``samples_natively``:
llama.cpp's ``n``, OpenAI's ``n``, HF's batched generation) gets one request; any other chat model gets L
requests, at most ``concurrency`` in flight. Every request goes through the same wrappers
(:mod:`lwd.agents.reliability`): the endpoint's concurrency limit and bounded retries on transient failures.
A request that fails for good costs one sample (recorded as a failure with the error), never the run; an
endpoint that stays down stops the run before the round is written. A request for L samples that gets fewer
back records the missing ones as failures and draws them again (regenerations); answers beyond the L asked for
are never used (``missing`` and ``surplus`` in the reply, and in responses.csv).

Context window: when the k_t retrieved posts do not fit, the policy decides (``cap``: keep the first posts of
the random sample that fit and record how many; ``error``: stop with the numbers) — never silent truncation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from lwd.agents.config import ContextPolicy
from lwd.agents.contract import ChatBackend
from lwd.agents.prompt import PromptSpec
from lwd.agents.records import MISSING, Generated, Reply, Response
from lwd.agents.reliability import Reliability, Usage, guarded
from lwd.agents.text import first_sentence
from lwd.core.errors import BackendError, ConfigError

__all__ = ["Agent"]

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Agent:
    """A named participant of the network."""

    name: str
    model: BaseChatModel
    prompt: PromptSpec
    max_retries: int = 3
    context_policy: ContextPolicy = ContextPolicy.CAP
    limiter: threading.Semaphore | None = None  # shared by every agent of one endpoint (or of the local CPU)
    describe: dict[str, Any] = field(default_factory=dict)  # what the manifest records about this agent
    reliability: Reliability = field(default_factory=Reliability)
    concurrency: int = 1  # requests in flight when the model does not sample natively

    def __post_init__(self) -> None:
        if not isinstance(self.model, ChatBackend):
            raise TypeError(
                f"agent {self.name!r}: {type(self.model).__name__} does not declare the backend contract; "
                "its class must inherit lwd.agents.contract.ChatBackend"
            )

    def reply(self, posts: Sequence[str], samples: int, seed: int) -> Reply:
        """L answers to the prompt built from ``posts``."""
        usage = Usage()
        used, messages = self._fitted(posts, samples)
        drawn, prompt_tokens = self._draw(messages, samples, seed, usage)
        responses = [self._response(i, g, 1) for i, g in enumerate(drawn)]
        regenerations = 0
        for i, response in enumerate(responses):
            attempt = 1
            while response.failed and attempt <= self.max_retries:
                (again,), _ = self._draw(messages, 1, seed + attempt * samples + i, usage)
                attempt += 1
                regenerations += 1
                response = self._response(i, again, attempt)
            responses[i] = response
        return Reply(
            self.name,
            tuple(responses),
            prompt_tokens,
            usage.seconds,
            len(posts),
            len(used),
            regenerations,
            usage.retries,
            usage.missing,
            usage.surplus,
        )

    # -- drawing samples -------------------------------------------------------------------------------------

    def _draw(
        self, messages: list[BaseMessage], n: int, seed: int, usage: Usage
    ) -> tuple[list[Generated], int | None]:
        if self.model.samples_natively:
            result = self._guarded(lambda: self.model.generate([messages], n=n, seed=seed), usage)
            returned = result.generations[0]
            out = []
            for i, gen in enumerate(returned[:n]):  # answers beyond the n asked for are never used
                info = gen.generation_info or {}
                out.append(
                    Generated(
                        gen.text,
                        int(info.get("seed", seed + i)),
                        info.get("completion_tokens"),
                        info.get("finish_reason"),
                        batch=info.get("batch"),
                    )
                )
            if len(returned) != n:  # a server that ignores or misreads `n`: the tables say so
                usage.missing += max(0, n - len(returned))
                usage.surplus += max(0, len(returned) - n)
                said = f"asked for {n} answers in one request, the backend returned {len(returned)}"
                log.warning("agent %r: %s", self.name, said)
                out += [
                    Generated("", seed + i, None, MISSING, error=said) for i in range(len(out), n)
                ]  # failed: drawn again one at a time, like an empty answer
            return out, (result.llm_output or {}).get("prompt_tokens")
        if n == 1:
            return [self._single(messages, seed, usage)], None
        with ThreadPoolExecutor(
            max_workers=min(n, self.concurrency), thread_name_prefix=f"lwd-{self.name}"
        ) as pool:
            return list(pool.map(lambda i: self._single(messages, seed + i, usage), range(n))), None

    def _single(self, messages: list[BaseMessage], seed: int, usage: Usage) -> Generated:
        """One request with its own seed. A request that fails for good yields an empty, failed sample."""
        model = (
            self.model.model_copy(update={"seed": seed})
            if "seed" in type(self.model).model_fields
            else self.model
        )
        try:
            message = self._guarded(lambda: model.invoke(messages), usage)
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad answer must not end the run
            return Generated("", seed, None, "error", error=f"{type(exc).__name__}: {exc}")
        meta = getattr(message, "response_metadata", None) or {}
        usage = getattr(message, "usage_metadata", None) or {}
        text = message.content if isinstance(message.content, str) else message.text
        return Generated(
            text, seed, usage.get("output_tokens"), meta.get("finish_reason") or meta.get("done_reason")
        )

    def _guarded(self, call: Callable[[], T], usage: Usage) -> T:
        return guarded(call, self.reliability, self.name, self.limiter, usage)

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
            error=generated.error,
            batch=generated.batch,
        )

    # -- the context window ----------------------------------------------------------------------------------

    def fit(self, posts: Sequence[str], samples: int) -> list[str]:
        """The posts that fit the context window (all of them unless the model reports a smaller budget)."""
        return self._fitted(posts, samples)[0]

    def _fitted(self, posts: Sequence[str], samples: int) -> tuple[list[str], list[BaseMessage]]:
        """The posts that fit, and the prompt's messages with them (built once when every post fits)."""
        posts = list(posts)
        messages = self.prompt.messages(posts)
        if not self.model.counts_tokens:
            return posts, messages
        count = self.model.count_prompt_tokens
        budget = self.model.prompt_budget(samples)
        need = count(messages)
        if need <= budget:
            return posts, messages
        if self.context_policy is ContextPolicy.ERROR:
            raise ConfigError(
                f"agent {self.name!r}: the prompt with k = {len(posts)} posts is {need} tokens, but the context "
                f"leaves {budget} for it ({samples} samples of up to max_tokens each share the window)",
                fix='raise the agent\'s n_ctx, lower beta, samples or max_tokens, or set [context] policy = "cap"',
            )
        low, high = 0, len(posts)  # largest m with count(posts[:m]) <= budget
        while low < high:
            mid = (low + high + 1) // 2
            if count(self.prompt.messages(posts[:mid])) <= budget:
                low = mid
            else:
                high = mid - 1
        if low == 0 and count(self.prompt.messages([])) > budget:
            raise ConfigError(
                f"agent {self.name!r}: even with no posts the prompt ({count(self.prompt.messages([]))} tokens) "
                f"exceeds its budget of {budget} tokens",
                fix="raise n_ctx or lower samples or max_tokens",
            )
        return posts[:low], self.prompt.messages(posts[:low])
