"""The tables of a scenario file beside its agents and its mixture: ``[network]`` (n, β, L, T), ``[corpus]``
(A⁽⁰⁾), ``[store]`` (where the Internet lives), ``[embedder]`` (ϕ) and ``[context]`` (posts that do not fit).
:mod:`lwd.run.scenario` assembles them into a :class:`~lwd.run.scenario.Scenario`."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_serializer, field_validator

from lwd.agents.config import ContextPolicy
from lwd.core.urls import check_urls, endpoints
from lwd.core.validation import FrozenModel, finite, refuse_quoted

__all__ = [
    "MAX_ROUNDS",
    "MAX_AGENTS",
    "MAX_SAMPLES",
    "Network",
    "CorpusConfig",
    "StoreConfig",
    "EmbedderConfig",
    "ContextConfig",
]

MAX_ROUNDS = 100_000  # the paper runs T = 200; a GMM sweep rarely needs more than a few thousand
# Sizes past which a value is a typo, not an experiment: the who-reads-whom matrix is n × n (10,000 agents: 100 MB)
MAX_AGENTS = 10_000
MAX_SAMPLES = 10_000  # the paper's L is 40; every answer is generated, embedded and kept


class Network(FrozenModel):
    """Who reads what: n models, each reading k_t = ⌊β·|A_t|⌋ posts and answering L times per round, T rounds."""

    n: int = Field(
        ge=1,
        le=MAX_AGENTS,
        description=f"number of models (agents); LLM scenarios may omit it (their agent count); at most "
        f"{MAX_AGENTS:,}",
    )
    beta: float | tuple[float, ...] = Field(
        description="fraction β of the visible Internet each model reads: k_t = ⌊β·|A_t|⌋; "
        "a list gives each model its own β; 0: never reads (a control; `beta = 0` for every model is the "
        "network where nobody reads, the null of `lwd report --control-run`)"
    )
    samples: int = Field(
        ge=1,
        le=MAX_SAMPLES,
        description=f"L, responses (points) each model generates per round; at most {MAX_SAMPLES:,}",
    )
    rounds: int = Field(
        ge=1,
        le=MAX_ROUNDS,
        description=f"T, the last round: rounds 0..T are simulated; at most {MAX_ROUNDS}, a cap that catches a "
        "typo before it runs for days",
    )

    @field_validator("beta", mode="plain")
    @classmethod
    def _beta(cls, value: Any, info: ValidationInfo) -> float | tuple[float, ...]:
        def one(v: Any) -> float:
            if not finite(v):
                raise ValueError(f"expected a number in [0, 1], got {v!r}")
            if v < 0:
                raise ValueError("expected a number ≥ 0 (0: the model never reads, a control)")
            if v > 1:
                raise ValueError("expected a number ≤ 1")
            return float(v)

        refuse_quoted(list(value) if isinstance(value, list | tuple) else [value])
        if isinstance(value, list | tuple):  # each model its own β; 0: that model never reads (a control)
            n = info.data.get("n")
            if n is not None and len(value) != n:
                raise ValueError(f"expected one β per model: {n} numbers (n = {n}), got {len(value)}")
            return tuple(one(v) for v in value)
        return one(value)  # 0 everywhere: nobody reads, the null a control chart is calibrated on

    @field_serializer("beta")
    def _beta_out(self, value: float | tuple[float, ...]) -> float | list[float]:
        return (
            list(value) if isinstance(value, tuple) else value
        )  # the union's own serializer warns on tuples

    @property
    def betas(self) -> tuple[float, ...]:
        """β of each model."""
        return self.beta if isinstance(self.beta, tuple) else (self.beta,) * self.n


class CorpusConfig(FrozenModel):
    """A⁽⁰⁾ of the LLM mode: the human posts the Internet starts with."""

    file: str = Field(
        default="builtin:crypto-20",
        description='"builtin:crypto-20" or a CSV path (relative to the scenario file)',
    )
    column: str = Field(default="text", min_length=1, description="the CSV column that holds the posts")


class StoreConfig(FrozenModel):
    """Where the Internet lives: a Chroma store in the run folder, or a Chroma server."""

    url: str | None = Field(
        default=None, pattern=r"^https?://", description="Chroma server URL, e.g. http://127.0.0.1:8000"
    )
    collection: str = Field(
        default="internet",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$",
        description="collection name (3-63 characters)",
    )


class EmbedderConfig(FrozenModel):
    """ϕ, the embedding model of Section 3.1."""

    model: str = Field(
        default="all-MiniLM-L6-v2",
        min_length=1,
        description='"all-MiniLM-L6-v2" (packaged), '
        '"nomic-ai/nomic-embed-text-v1.5" (if cached), or a local sentence-transformers folder',
    )
    device: str = Field(default="cpu", description='"cpu", "cuda" … (in-process only)')
    batch_size: int = Field(default=64, ge=1, description="texts per forward pass (per request on a server)")
    base_url: str | tuple[str, ...] | None = Field(
        default=None,
        description="an OpenAI-compatible /v1/embeddings server, or a list (a pool), that embeds the answers "
        "instead of this machine; `model` is then the id the server answers to",
    )
    concurrency: int = Field(default=4, ge=1, description="requests in flight per embedding server")
    timeout: float = Field(default=120.0, gt=0, description="seconds an embedding request may take")
    attempts: int = Field(
        default=3, ge=1, description="tries of a batch over the whole pool before the run stops"
    )
    api_key_env: str | None = Field(
        default=None, description="environment variable holding the embedding server's API key"
    )

    _urls = field_validator("base_url", mode="before")(check_urls)

    @property
    def server(self) -> dict[str, Any] | None:
        """What :func:`lwd.metrics.embedders.load_embedder` needs to embed on the servers; None in-process."""
        if self.base_url is None:
            return None
        return {
            "urls": endpoints(self.base_url),
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "attempts": self.attempts,
            "api_key_env": self.api_key_env,
        }


class ContextConfig(FrozenModel):
    """What happens when an agent's k_t posts do not fit its context window."""

    policy: ContextPolicy = Field(
        default=ContextPolicy.CAP,
        description='"cap" (keep the posts that fit, record how many) or "error" (stop)',
    )
