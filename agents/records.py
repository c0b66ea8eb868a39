"""What an agent produced in a round, as plain records: no LangChain, no engine, so run folders, reports and the
GMM mode read them with the core install alone."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Generated", "Response", "Reply", "MISSING"]


MISSING = "missing"  # the finish_reason of an answer asked for that the backend did not return


@dataclass(frozen=True)
class Generated:
    """One draw from a backend, before it is cleaned."""

    text: str
    seed: int
    tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None  # the request failed for good
    batch: int | None = None  # sequences decoded together with it (in-process batched backends)
    endpoint: str | None = None  # the server that answered (server backends)


@dataclass(frozen=True)
class Response:
    """One of an agent's L answers in a round."""

    sample: int
    seed: int  # the seed of the draw that was kept
    raw: str
    clean: str
    tokens: int | None
    attempts: int  # 1 + regenerations
    finish_reason: str | None
    failed: bool  # still empty after every regeneration
    error: str | None = None  # why the last request for it failed, if it did
    batch: int | None = None  # sequences decoded with it: below the asked size after an out-of-memory halving
    endpoint: str | None = None  # the server that answered it (one of its agent's pool)


@dataclass(frozen=True)
class Reply:
    """An agent's round: its L responses and what it read."""

    agent: str
    responses: tuple[Response, ...]
    prompt_tokens: int | None
    seconds: float  # time its endpoint spent on it (waiting for a free slot not counted)
    k: int  # posts retrieved
    k_used: int  # posts that fit the context window (== k unless capped)
    regenerations: int = 0
    retries: int = 0  # requests repeated after transient failures (a slow or restarting server)
    missing: int = 0  # answers a request for several did not return (each recorded failed, then drawn again)
    surplus: int = 0  # answers returned beyond those asked for (never used)

    @property
    def valid(self) -> list[Response]:
        return [r for r in self.responses if not r.failed]
