"""Pools of servers: the endpoints that serve one model, shared by every agent on them.

A server agent's ``base_url`` may be a list. Its requests go to the endpoint with the fewest requests in flight
(the first such one on a tie), never more than ``concurrency`` in flight on any one endpoint — a limit shared by
every agent on that endpoint (:class:`EndpointPool`, one per backend and list of URLs). An endpoint whose request
fails in a way worth another try (refused, reset, timed out, a 5xx) is set aside for ``COOLDOWN`` seconds (:mod:`lwd.core.endpoints`) and the
request goes at once to another — and so is one that answers with something other than its API (an HTML page,
a body that is not JSON: the warning names it and what it sent); when every endpoint has failed it, the failure is the agent's (its attempts
and backoff apply, :mod:`lwd.agents.reliability`), and the next attempt probes the endpoints set aside. A run
whose every endpoint stays down stops with the usual clear error before the round is written, and resumes later.

Each answer records the endpoint that served it (``endpoint`` in responses.csv). Moving a request to another
endpoint changes nothing in it: its answers depend on its prompt and seed alone on a reproducible server (lwd's
own; vLLM with a seed on the same hardware), so a run that lost a server mid-round gives the answers an
undisturbed run gives. An endpoint that returns fewer samples than asked keeps being used (the missing ones are
drawn again) until it has done so three times in a row; then it is set aside. An endpoint that answers "busy"
(503 with Retry-After) is waited for, not failed. A single URL is a pool of one.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatResult
from pydantic import ConfigDict, PrivateAttr

from lwd.agents.contract import ChatBackend
from lwd.core.endpoints import EndpointPool
from lwd.core.retry import ALWAYS_TRANSIENT, transient

__all__ = ["PooledChat", "pooled_class"]


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
        errors = (*ALWAYS_TRANSIENT, *self.transient_errors)

        def ask(index: int) -> ChatResult:
            member = self.members[index]
            if self.seed is not None:
                member = member.model_copy(update={"seed": self.seed})
            return member._generate(messages, stop=stop, **kwargs)

        def endpoint_at_fault(exc: BaseException) -> bool:  # another endpoint may answer it
            return transient(exc, errors) or isinstance(exc, self.answer_errors)

        result, index = self._pool.first_answer(ask, endpoint_at_fault)
        url = self._pool.urls[index]
        if "n" in kwargs:  # L samples in one request: a member that keeps returning fewer is set aside
            self._pool.answered_short(index, kwargs["n"], len(result.generations))
        for generation in result.generations:
            generation.generation_info = {**(generation.generation_info or {}), "endpoint": url}
            generation.message.response_metadata = {**generation.message.response_metadata, "endpoint": url}
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
