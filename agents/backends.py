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
from lwd.agents.reliability import Reliability

__all__ = ["build_llamacpp", "check_llamacpp", "gguf_context_length", "make_agent", "prompt_for"]

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
        limiter=limiter(endpoint, endpoint_limit) if endpoint else None,
        describe=info,
        reliability=reliability or Reliability(),
        concurrency=concurrency,
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


def gguf_context_length(path: Path) -> int | None:
    """The context length a GGUF file was trained for, from its metadata (None if unreadable)."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        arch_field = reader.fields["general.architecture"]
        arch = bytes(arch_field.parts[arch_field.data[0]]).decode()
        ctx = reader.fields[f"{arch}.context_length"]
        return int(ctx.parts[ctx.data[0]][0])
    except Exception:  # noqa: BLE001 - optional information
        return None


def check_llamacpp(config: LlamaCppAgentConfig, base: Path | None = None):
    """The model file is there; its trained context and the configured window."""
    from lwd.agents.models import ModelNotFoundError
    from lwd.agents.servers import Check

    try:
        model = resolve_model(config.model, base)
    except ModelNotFoundError as exc:
        return Check(
            config.name,
            "llamacpp",
            "in-process",
            True,
            False,
            detail=str(exc).split(":")[0],
            fix=str(exc).split("Fix: ")[-1]
            if "Fix: " in str(exc)
            else "give a packaged model name or a path to a .gguf file",
        )
    trained = gguf_context_length(model.path)
    return Check(
        config.name,
        "llamacpp",
        "in-process",
        True,
        True,
        min(config.n_ctx, trained or config.n_ctx),
        detail=f"{model.path.name} (trained context {trained}, n_ctx {config.n_ctx})",
        pins={"path": str(model.path)},
    )
