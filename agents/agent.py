"""The Agent: one LangChain chat model, its prompt, and the rules for turning L samples into responses.

``Agent.reply(posts, samples, seed)`` asks the backend for L samples of ONE prompt, keeps each raw answer and
its cleaned first sentence, and regenerates empty answers a bounded number of times with their own seeds.
Sample l has seed ``seed + l``; its a-th regeneration has seed ``seed + a·L + l``, so every draw is
reproducible whatever the concurrency.

How the L samples are drawn is the backend's business: a model that samples natively (``samples_natively``:
llama.cpp's ``n``, OpenAI's ``n``, HF's batched generation) gets one request; any other chat model gets L
requests, at most ``concurrency`` in flight (on threads all agents share). Every request goes through the same wrappers
(:mod:`lwd.agents.reliability`): the endpoint's concurrency limit and bounded retries on transient failures.
A request that fails for good costs one sample (recorded as a failure with the error), never the run; an
endpoint that stays down stops the run before the round is written. A request for L samples that gets fewer
back records the missing ones as failures and draws them again (regenerations); answers beyond the L asked for
are never used (``missing`` and ``surplus`` in the reply, and in responses.csv).

Context window: when the k_t retrieved posts do not fit, the policy decides (``cap``: keep the first posts of
the random sample that fit and record how many; ``error``: stop with the numbers) — never silent truncation.
"""

from __future__ import annotations

import bisect
import collections
import itertools
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
from lwd.agents.prompt import PromptSpec, listed_words
from lwd.agents.records import MISSING, Generated, Reply, Response
from lwd.agents.reliability import Reliability, Usage, guarded
from lwd.agents.text import first_sentence
from lwd.core.errors import BackendError, ConfigError

__all__ = ["Agent"]

T = TypeVar("T")
FIT_FIRST = 64  # posts in the first prefix tried against the context window
REQUEST_THREADS = 64  # threads for one-sample requests, all agents together
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
                        str(gen.text),  # a plain str (LangChain's text is a str subclass, one more object)
                        int(info.get("seed", seed + i)),
                        info.get("completion_tokens"),
                        info.get("finish_reason"),
                        batch=info.get("batch"),
                        endpoint=info.get("endpoint"),
                    )
                )
            if len(returned) != n:  # a server that ignores or misreads `n`: the tables say so
                usage.missing += max(0, n - len(returned))
                usage.surplus += max(0, len(returned) - n)
                said = f"asked for {n} answers in one request, the backend returned {len(returned)}"
                endpoint = (
                    next((g.generation_info or {}).get("endpoint") for g in returned) if returned else None
                )
                log.warning("agent %r: %s%s", self.name, said, f" ({endpoint})" if endpoint else "")
                out += [
                    Generated("", seed + i, None, MISSING, error=said, endpoint=endpoint)
                    for i in range(len(out), n)
                ]  # failed: drawn again one at a time, like an empty answer
            return out, (result.llm_output or {}).get("prompt_tokens")
        if n == 1:
            return [self._single(messages, seed, usage)], None
        return _windowed(lambda i: self._single(messages, seed + i, usage), range(n), self.concurrency), None

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
        text = message.content if isinstance(message.content, str) else str(message.text)
        return Generated(
            text,
            seed,
            usage.get("output_tokens"),
            meta.get("finish_reason") or meta.get("done_reason"),
            endpoint=meta.get("endpoint"),
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
            endpoint=generated.endpoint,
        )

    # -- the context window ----------------------------------------------------------------------------------

    def fit(self, posts: Sequence[str], samples: int) -> list[str]:
        """The posts that fit the context window (all of them unless the model reports a smaller budget)."""
        return self._fitted(posts, samples)[0]

    def _fitted(self, posts: Sequence[str], samples: int) -> tuple[list[str], list[BaseMessage]]:
        """The posts that fit, and the prompt's messages with them: the longest prefix of ``posts`` whose prompt
        fits the budget (:func:`longest_prefix`: a few prompts near the answer are counted, never all k drawn,
        so a large draw of which a handful fit costs a handful). ``posts`` may be a lazy sequence (only the
        slices tried are read)."""
        if not self.model.counts_tokens:
            posts = list(posts)
            return posts, self.prompt.messages(posts)
        count = self.model.count_prompt_tokens
        budget = self.model.prompt_budget(samples)
        k = len(posts)
        tried: dict[int, tuple[list[str], list[BaseMessage]]] = {}

        def tokens(m: int) -> int:
            prefix = list(posts[:m])
            tried[m] = prefix, self.prompt.messages(prefix)
            return count(tried[m][1])

        if self.context_policy is ContextPolicy.ERROR:
            if (need := tokens(k)) > budget:
                raise ConfigError(
                    f"agent {self.name!r}: the prompt with k = {k} posts is {need} tokens, but the context "
                    f"leaves {budget} for it ({samples} samples of up to max_tokens each share the window)",
                    fix='raise the agent\'s n_ctx, lower beta, samples or max_tokens, or set [context] policy = "cap"',
                )
            return tried[k]
        words = ListedWords(posts)
        m = longest_prefix(tokens, k, budget, words, words.reach)
        if m < 0:
            raise ConfigError(
                f"agent {self.name!r}: even with no posts the prompt ({tokens(0)} tokens) "
                f"exceeds its budget of {budget} tokens",
                fix="raise n_ctx or lower samples or max_tokens",
            )
        return tried[m] if m in tried else (tokens(m), tried[m])[1]


# One-sample requests of every agent (backends without `n`) go through these threads, shared: a thousand agents
# cost tens of threads, not one pool per agent-round; the endpoint's limit applies beneath.
_REQUESTS = ThreadPoolExecutor(max_workers=REQUEST_THREADS, thread_name_prefix="lwd-request")


def _windowed(call: Callable[[int], T], items: Sequence[int], width: int) -> list[T]:
    """``call`` of each item on the shared request threads, at most ``width`` in flight, results in order."""
    waiting: collections.deque = collections.deque()
    out: list[T] = []
    for item in items:
        if len(waiting) >= width:
            out.append(waiting.popleft().result())
        waiting.append(_REQUESTS.submit(call, item))
    out += [future.result() for future in waiting]
    return out


def longest_prefix(
    tokens: Callable[[int], int],
    k: int,
    budget: int,
    guide: Callable[[int], float] | None = None,
    reach: Callable[[int, float], int] | None = None,
) -> int:
    """The largest m ≤ k with ``tokens(m) ≤ budget`` (−1 if not even 0), for ``tokens`` that grows with m.

    Counting a prompt costs its length, so the search counts few prompts, all near the answer: the first
    ``FIT_FIRST`` posts (all k when fewer: one count, as a draw that fits needs), then guesses within the bracket
    the counts so far leave; after a few guesses that do not close it, bisection. A guess takes the tokens per
    unit of ``guide`` (a cheap growing estimate of the first m posts' length, such as their words; the number of
    posts when none is given) from the counts so far, and ``reach(base, units)`` (the largest m with
    guide(m) − guide(base) ≤ units) turns what is left of the budget into posts. The answer is the one a search
    over every prefix gives, whatever the guide."""
    known: dict[int, int] = {}
    if guide is None:
        guide, reach = float, lambda base, units: base + int(units)

    def at(m: int) -> int:
        if m not in known:
            known[m] = tokens(m)
        return known[m]

    low, high = -1, k + 1  # tokens(low) ≤ budget < tokens(high); -1 and k + 1 stand for "none" and "beyond"
    m = min(k, FIT_FIRST)
    for probe in itertools.count():
        if at(m) <= budget:
            low = m
        else:
            high = m
        if high - low <= 1:
            return low
        if probe >= 8:  # the counts are far from the guide: halve the bracket
            m = (low + high) // 2
            continue
        base = max(low, 0)  # guess from the tokens per unit of the guide: between the bracket's ends, or on
        # from the first post (not from no post: an empty prompt says so in words of its own)
        start = high if high <= k else (1 if base > 1 else 0)
        span = guide(start) - guide(base)
        rate = (at(start) - at(base)) / span if span else 0
        m = reach(base, (budget - at(base)) / rate) if rate > 0 else high - 1
        m = min(max(m, low + 1), high - 1)
    raise AssertionError("unreachable")


class ListedWords:
    """Words of the first m posts as the prompt lists them (the guide of :func:`longest_prefix`: tokens grow with
    words), read only as far as asked."""

    def __init__(self, posts: Sequence[str]):
        self.posts, self.sums = posts, [0]

    def __call__(self, m: int) -> int:
        self._read(m)
        return self.sums[m]

    def reach(self, base: int, units: float) -> int:
        """The largest m ≤ k whose first m posts have at most ``units`` words more than the first ``base``."""
        target = self(base) + units
        while self.sums[-1] <= target and len(self.sums) <= len(self.posts):
            have = len(self.sums) - 1
            self._read(have + max(FIT_FIRST, have // 2))  # on in growing steps, never twice what is needed
        return bisect.bisect_right(self.sums, target) - 1

    def _read(self, m: int) -> None:
        have = len(self.sums) - 1
        if m > have:  # a prefix: a lazy Reading looks up only what it has not yet
            words = map(listed_words, self.posts[:m][have:])
            self.sums += itertools.accumulate(words, initial=self.sums[-1])
            del self.sums[have + 1]  # ``initial`` again
