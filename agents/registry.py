"""Backends by name, imported lazily: ``backend = "llamacpp"`` in a scenario names a config class (lwd's own
:data:`lwd.agents.config.BACKEND_CONFIGS`, or an installed package's entry point), whose ``factory`` and ``checker`` name the functions that build and
check its agents. Nothing heavy is imported here, so listing and checking what is installed needs no LLM stack.

An unknown name is a :class:`~lwd.core.errors.ConfigError` listing the known ones; a backend whose optional
dependencies are missing is a :class:`~lwd.core.errors.MissingExtraError` naming the pip extra that provides
them. Nothing outside ``lwd.agents`` chooses a backend.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lwd.agents.config import AgentBase, ContextPolicy, backend_config, backends
from lwd.core.extras import missing, require

if TYPE_CHECKING:  # the LLM stack is only imported by the backends' own modules
    from lwd.agents.agent import Agent
    from lwd.agents.factory import Check

__all__ = ["backends", "installed", "build_agent", "check_agent"]


def installed(entry: type[AgentBase]) -> bool:
    """Whether every module the backend needs can be imported here."""
    return not missing(entry.needs)


def _call(config: AgentBase, target: str, *args: Any, **kwargs: Any) -> Any:
    entry = backend_config(config.backend)
    require(entry.extra, f"backend {config.backend!r} (agent {config.name!r})", modules=entry.needs)
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)(config, *args, **kwargs)


def build_agent(
    config: AgentBase,
    *,
    query: str,
    samples: int,
    base: Path | None,
    policy: ContextPolicy = ContextPolicy.CAP,
) -> Agent:
    """Build the Agent a scenario's ``[[agents]]`` table describes. Server backends are checked first (an
    unreachable server is a BackendError); local models load lazily, on first use."""
    return _call(config, type(config).factory, query=query, samples=samples, base=base, policy=policy)


def check_agent(config: AgentBase, base: Path | None = None) -> Check:
    """Contact an agent's endpoint (or find its model file): a :class:`lwd.agents.factory.Check`."""
    return _call(config, type(config).checker, base)
