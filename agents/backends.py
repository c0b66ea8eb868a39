"""Factories of the local backends: scenario config in, :class:`~lwd.agents.agent.Agent` out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from lwd.agents.agent import Agent, ContextPolicy
from lwd.agents.config import AgentBase, LlamaCppAgentConfig
from lwd.agents.models import resolve_model, sha256_file
from lwd.agents.prompt import CHAT_TEMPLATE, COMPLETION_TEMPLATE, PromptSpec

__all__ = ["build_llamacpp", "make_agent", "prompt_for"]

MAX_PARALLEL = 64  # llama.cpp slots per engine; more samples are drawn in chunks


def prompt_for(config: AgentBase, query: str, style: str) -> PromptSpec:
    template = config.prompt or (COMPLETION_TEMPLATE if style == "completion" else CHAT_TEMPLATE)
    return PromptSpec(
        query=query,
        template=template,
        system=config.system_prompt,
        style=style,
        answer_prefix=config.answer_prefix,
    )


def make_agent(
    config: AgentBase,
    chat: BaseChatModel,
    *,
    query: str,
    style: str,
    policy: ContextPolicy,
    endpoint: str | None,
    describe: dict[str, Any],
) -> Agent:
    """The Agent of a scenario's agent table, around its chat model. ``endpoint`` names the resource agents
    share one at a time (``local-cpu`` for in-process engines); ``describe`` adds to what the manifest
    records (backend, model, style, stop strings and sampling options are recorded for every agent)."""
    from lwd.agents.registry import limiter

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
        limiter=limiter(endpoint, 1) if endpoint else None,
        describe=info,
    )


def build_llamacpp(
    config: LlamaCppAgentConfig, *, query: str, samples: int, base: Path | None, policy: ContextPolicy
) -> Agent:
    from lwd.agents.llamacpp import ChatLlamaCpp

    model = resolve_model(config.model, base)
    style = config.style or model.style or "chat"
    chat = ChatLlamaCpp(
        model_path=str(model.path),
        style=style,
        n_ctx=config.n_ctx,
        n_parallel=min(samples, MAX_PARALLEL),
        n_threads=config.threads or os.cpu_count() or 1,
        stop=config.stop_for(style),
        **config.sampling(),
    )
    return make_agent(
        config,
        chat,
        query=query,
        style=style,
        policy=policy,
        endpoint="local-cpu",
        describe={
            "path": str(model.path),
            "sha256": sha256_file(model.path),
            "n_ctx": config.n_ctx,
            "n_parallel": chat.n_parallel,
            "threads": chat.n_threads,
        },
    )
