"""Backends by name, imported lazily: ``backend = "llamacpp"`` in a scenario names a config class
(:data:`lwd.agents.config.BACKEND_CONFIGS`), whose ``factory`` and ``checker`` name the functions that build and
check its agents. Nothing heavy is imported here, so listing and checking what is installed needs no LLM stack.

An unknown name is a :class:`~lwd.core.errors.ConfigError` listing the known ones; a backend whose optional
dependencies are missing is a :class:`~lwd.core.errors.MissingExtraError` naming the pip extra that provides
them. Nothing outside ``lwd.agents`` chooses a backend.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lwd.agents.config import BACKEND_CONFIGS, AgentBase, ContextPolicy
from lwd.core.errors import ConfigError
from lwd.core.extras import missing, require

if TYPE_CHECKING:  # the LLM stack is only imported by the backends' own modules
    from lwd.agents.agent import Agent
    from lwd.agents.factory import Check

__all__ = ["BACKENDS", "backend", "installed", "build_agent", "check_agent"]

BACKENDS: dict[str, type[AgentBase]] = {c.backend_name(): c for c in BACKEND_CONFIGS}


def backend(name: str) -> type[AgentBase]:
    """The config class of the backend ``name``."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def installed(entry: type[AgentBase]) -> bool:
    """Whether every module the backend needs can be imported here."""
    return not missing(entry.needs)


def _call(config: AgentBase, target: str, *args: Any, **kwargs: Any) -> Any:
    entry = backend(config.backend)
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
