"""What every backend's factory shares: the prompt an agent's table describes, the per-endpoint limiters, the
:class:`Agent` built around a chat model, and the :class:`Check` a backend's checker reports."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel

from lwd.agents.agent import Agent
from lwd.agents.config import AgentBase, ContextPolicy
from lwd.agents.prompt import (
    CHAT_TEMPLATE,
    COMPLETION_TEMPLATE,
    SHARED_FIRST_CHAT,
    SHARED_FIRST_COMPLETION,
    PromptSpec,
)
from lwd.agents.reliability import Reliability

__all__ = ["Check", "make_agent", "prompt_for", "limiter"]


@dataclass
class Check:
    """What `lwd backends check` reports for one agent."""

    agent: str
    backend: str
    endpoint: str
    reachable: bool
    model_found: bool | None = None
    context: int | None = None
    detail: str = ""
    fix: str | None = None
    pins: dict[str, Any] = field(default_factory=dict)  # what the manifest records

    @property
    def ok(self) -> bool:
        return self.reachable and self.model_found is not False


def prompt_for(config: AgentBase, query: str, style: str) -> PromptSpec:
    completion = style == "completion"
    if config.layout == "shared-first":
        template = SHARED_FIRST_COMPLETION if completion else SHARED_FIRST_CHAT
    else:
        template = config.prompt or (COMPLETION_TEMPLATE if completion else CHAT_TEMPLATE)
    return PromptSpec(
        query=query,
        template=template,
        system=config.system_prompt,
        style=style,
        answer_prefix=config.answer_prefix,
        layout=config.layout,
    )


_LIMITERS: dict[str, threading.Semaphore] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter(key: str, limit: int) -> threading.Semaphore:
    """One semaphore per endpoint key, shared by every agent that uses it (``local-cpu``: in-process engines,
    which compete for the same cores and so run one at a time unless ``LWD_LOCAL_CONCURRENCY`` says more)."""
    with _LIMITERS_LOCK:
        if key not in _LIMITERS:  # the first agent of an endpoint sets its limit
            if key == "local-cpu":
                limit = int(os.environ.get("LWD_LOCAL_CONCURRENCY", limit))
            _LIMITERS[key] = threading.BoundedSemaphore(max(1, limit))
        return _LIMITERS[key]


def make_agent(
    config: AgentBase,
    chat: BaseChatModel,
    *,
    query: str,
    style: str,
    policy: ContextPolicy,
    endpoint: str | None,
    describe: dict[str, Any],
    reliability: Reliability | None = None,
    concurrency: int = 1,
    endpoint_limit: int = 1,
) -> Agent:
    """The Agent of a scenario's agent table, around its chat model.

    ``endpoint`` names what agents share (``local-cpu`` for in-process engines, a server's URL) and
    ``endpoint_limit`` how many requests it takes at once, all agents together; ``concurrency`` is how many
    requests this agent keeps in flight when its model cannot sample L at once. ``describe`` adds to what the
    manifest records (backend, model, style, stop strings and sampling options are recorded for every agent).
    """
    info = {
        "backend": config.backend,
        "model": config.model,
        "style": style,
        "stop": config.stop_for(style),
        **config.sampling(),
        **describe,
    }
    return Agent(
        config.name,
        chat,
        prompt_for(config, query, style),
        config.max_retries,
        policy,
        limiter=limiter(endpoint, endpoint_limit) if endpoint else None,
        describe=info,
        reliability=reliability or Reliability(),
        concurrency=concurrency,
    )
