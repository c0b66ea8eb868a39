"""Factories of the local backends: scenario config in, :class:`~lwd.agents.agent.Agent` out."""

from __future__ import annotations

import os
from pathlib import Path

from lwd.agents.agent import Agent, ContextPolicy
from lwd.agents.config import LlamaCppAgentConfig
from lwd.agents.models import resolve_model, sha256_file
from lwd.agents.prompt import CHAT_TEMPLATE, COMPLETION_TEMPLATE, PromptSpec

__all__ = ["build_llamacpp", "prompt_for"]

MAX_PARALLEL = 64  # llama.cpp slots per engine; more samples are drawn in chunks


def prompt_for(config, query: str, style: str) -> PromptSpec:
    template = config.prompt or (COMPLETION_TEMPLATE if style == "completion" else CHAT_TEMPLATE)
    return PromptSpec(
        query=query,
        template=template,
        system=config.system_prompt,
        style=style,
        answer_prefix=config.answer_prefix,
    )


def build_llamacpp(
    config: LlamaCppAgentConfig, *, query: str, samples: int, base: Path | None, policy: ContextPolicy
) -> Agent:
    from lwd.agents.llamacpp import ChatLlamaCpp
    from lwd.agents.registry import limiter

    model = resolve_model(config.model, base)
    style = config.style or model.style or "chat"
    stop = list(config.stop) if config.stop is not None else (["\n"] if style == "completion" else None)
    chat = ChatLlamaCpp(
        model_path=str(model.path),
        style=style,
        n_ctx=config.n_ctx,
        n_parallel=min(samples, MAX_PARALLEL),
        n_threads=config.threads or os.cpu_count() or 1,
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        min_p=config.min_p,
        repeat_penalty=config.repeat_penalty,
        max_tokens=config.max_tokens,
        stop=stop,
    )
    describe = {
        "backend": "llamacpp",
        "model": config.model,
        "path": str(model.path),
        "sha256": sha256_file(model.path),
        "style": style,
        "n_ctx": config.n_ctx,
        "n_parallel": chat.n_parallel,
        "threads": chat.n_threads,
        "stop": stop,
        **chat.sampling(),
    }
    return Agent(
        config.name,
        chat,
        prompt_for(config, query, style),
        config.max_retries,
        policy,
        limiter=limiter("local-cpu", 1),
        describe=describe,
    )
