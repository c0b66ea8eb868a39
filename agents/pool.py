"""Pools of servers: the endpoints that serve one model, shared by every agent on them.

A server agent's ``base_url`` may be a list. Its requests go to the endpoint with the fewest requests in flight
(the first such one on a tie), never more than ``concurrency`` in flight on any one endpoint — a limit shared by
every agent on that endpoint (:class:`EndpointPool`, one per backend and list of URLs). An endpoint whose request
fails in a way worth another try (refused, reset, timed out, a 5xx) is set aside for ``COOLDOWN`` seconds and the
request goes at once to another; when every endpoint has failed it, the failure is the agent's (its attempts
and backoff apply, :mod:`lwd.agents.reliability`), and the next attempt probes the endpoints set aside. A run
whose every endpoint stays down stops with the usual clear error before the round is written, and resumes later.

Each answer records the endpoint that served it (``endpoint`` in responses.csv). Moving a request to another
endpoint changes nothing in it: its answers depend on its prompt and seed alone on a reproducible server (lwd's
own; vLLM with a seed on the same hardware), so a run that lost a server mid-round gives the answers an
undisturbed run gives. A single URL is a pool of one.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatResult
from pydantic import ConfigDict, PrivateAttr

from lwd.agents.contract import ChatBackend
from lwd.agents.reliability import ALWAYS_TRANSIENT, transient

__all__ = ["EndpointPool", "PooledChat", "pool_for", "pooled_class", "COOLDOWN"]

COOLDOWN = 30.0  # seconds an endpoint that failed is passed over while others answer
log = logging.getLogger(__name__)


class EndpointPool:
    """Requests in flight per endpoint, the endpoints set aside, and what each served."""

    def __init__(self, urls: Sequence[str], limit: int, cooldown: float = COOLDOWN):
        self.urls, self.limit, self.cooldown = tuple(urls), max(1, limit), cooldown
        n = len(self.urls)
        self.in_flight, self.aside_until = [0] * n, [0.0] * n
        self.served, self.failed = [0] * n, [0] * n
        self._changed = threading.Condition()

    def take(self, avoid: set[int]) -> int | None:
        """An endpoint for one request, waiting while every usable one is at its limit; None when every
        endpoint is in ``avoid`` (all failed this request). Endpoints set aside are used only when every other
        one is set aside too (a probe: the one set aside longest ago)."""
        with self._changed:
            while True:
                now = time.monotonic()
                usable = [i for i in range(len(self.urls)) if i not in avoid]
                if not usable:
                    return None
                live = [i for i in usable if self.aside_until[i] <= now]
                choices = live or sorted(usable, key=lambda i: self.aside_until[i])[:1]
                free = [i for i in choices if self.in_flight[i] < self.limit]
                if free:
                    pick = min(free, key=lambda i: (self.in_flight[i], i))
                    self.in_flight[pick] += 1
                    return pick
                self._changed.wait(timeout=1.0)

    def done(self, index: int, ok: bool, error: BaseException | None = None) -> None:
        """A request on endpoint ``index`` ended; one that failed sets the endpoint aside."""
        with self._changed:
            self.in_flight[index] -= 1
            if ok:
                self.served[index] += 1
                self.aside_until[index] = 0.0
            else:
                self.failed[index] += 1
                self.aside_until[index] = time.monotonic() + self.cooldown
                others = [u for i, u in enumerate(self.urls) if i != index and self.aside_until[i] == 0.0]
                log.warning(
                    "endpoint %s failed (%s: %s); set aside for %.0f s%s",
                    self.urls[index],
                    type(error).__name__,
                    error,
                    self.cooldown,
                    f", its requests go to {', '.join(others)}" if others else "",
                )
            self._changed.notify_all()

    def set_aside(self, index: int, reason: str) -> None:
        """Pass endpoint ``index`` over for a while (it failed its check before the run)."""
        with self._changed:
            self.aside_until[index] = time.monotonic() + self.cooldown
        log.warning("endpoint %s set aside for %.0f s: %s", self.urls[index], self.cooldown, reason)

    def describe(self) -> dict[str, Any]:
        """What each endpoint served and failed so far."""
        return {
            url: {"served": s, "failed": f}
            for url, s, f in zip(self.urls, self.served, self.failed, strict=True)
        }


_POOLS: dict[tuple, EndpointPool] = {}
_POOLS_LOCK = threading.Lock()


def pool_for(key: str, urls: Sequence[str], limit: int) -> EndpointPool:
    """The pool of ``urls`` for the backend ``key``, shared by every agent on them (the first sets the limit)."""
    with _POOLS_LOCK:
        found = _POOLS.get((key, tuple(urls)))
        if found is None:
            found = _POOLS[(key, tuple(urls))] = EndpointPool(urls, limit)
        return found


class PooledChat(ChatBackend, BaseChatModel):
    """A chat model over a pool: one member chat model per endpoint (the same options, another URL); each
    request goes to the endpoint the pool gives, and to another when that one fails (module docstring).
    Every generation's ``generation_info`` and message metadata carry ``endpoint``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    members: list[Any]  # chat models, one per endpoint, in the pool's order
    seed: int | None = None  # one request's seed (the Agent sets it when it asks one sample at a time)

    _pool: EndpointPool = PrivateAttr()

    def __init__(self, pool: EndpointPool, **data: Any):
        super().__init__(**data)
        self._pool = pool

    @property
    def pool(self) -> EndpointPool:
        return self._pool

    @property
    def _llm_type(self) -> str:
        return f"pool-{getattr(self.members[0], '_llm_type', 'chat')}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"endpoints": list(self._pool.urls)}

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        tried: set[int] = set()
        errors = (*ALWAYS_TRANSIENT, *self.transient_errors)
        last: BaseException | None = None
        while True:
            index = self._pool.take(tried)
            if (
                index is None
            ):  # every endpoint failed this request: the agent's attempts and backoff take over
                assert last is not None
                raise last
            member = self.members[index]
            if self.seed is not None:
                member = member.model_copy(update={"seed": self.seed})
            try:
                result = member._generate(messages, stop=stop, **kwargs)
            except Exception as exc:
                if not transient(exc, errors):
                    self._pool.done(index, True)  # it answered: a refusal, not a failure of the endpoint
                    raise
                self._pool.done(index, False, exc)
                tried.add(index)
                last = exc
                continue
            self._pool.done(index, True)
            url = self._pool.urls[index]
            for generation in result.generations:
                generation.generation_info = {**(generation.generation_info or {}), "endpoint": url}
                generation.message.response_metadata = {
                    **generation.message.response_metadata,
                    "endpoint": url,
                }
            return result


@functools.cache
def pooled_class(member: type[BaseChatModel]) -> type[PooledChat]:
    """PooledChat with the capabilities of its members' class (how they sample, what errors they raise)."""
    attributes: dict[str, Any] = {
        name: getattr(member, name)
        for name in ("samples_natively", "transient_errors", "answer_errors", "counts_tokens")
    }
    attributes["__annotations__"] = {name: ClassVar for name in attributes}
    return type(f"Pooled{member.__name__}", (PooledChat,), attributes)
