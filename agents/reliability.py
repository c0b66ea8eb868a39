"""Reliability around any backend, as wrappers rather than flags in each: a per-endpoint concurrency limit,
bounded retries with exponential backoff on transient failures, and a clear error when an endpoint stays down.

Per-request timeouts are set on each backend's HTTP client (they are where the waiting happens); a timeout
surfaces here as a transient failure like a refused connection or a 500/502/503/504 answer (408 and 429 too).
Which exceptions are transient is declared by the backend (:attr:`ChatBackend.transient_errors`, e.g. httpx's
transport errors), never guessed from class names. Any other HTTP status (400, 404, 501, …) is not retried,
since retrying cannot fix it: it stops the run with the status the server gave; so does an answer that is not
the backend's API (:attr:`ChatBackend.answer_errors`: an HTML page where JSON belongs). Anything else keeps its
traceback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from lwd.core.endpoints import waited
from lwd.core.errors import BackendError
from lwd.core.retry import ALWAYS_TRANSIENT, Errors, http_status, retried, transient

__all__ = ["Reliability", "Usage", "guarded"]

T = TypeVar("T")


@dataclass(frozen=True)
class Reliability:
    """How patiently an agent asks its endpoint. ``attempts = 1``: no retries (in-process engines)."""

    attempts: int = 1
    backoff: float = 1.0  # seconds before the first retry, doubled after each
    endpoint: str = "in-process"  # for messages
    fix: str = ""  # one line: how to bring the endpoint back
    transient: Errors = ALWAYS_TRANSIENT  # failures worth another try (+ the backend's transient_errors)
    bad_answer: Errors = ()  # the endpoint answered, but not in its API (the backend's answer_errors)


@dataclass
class Usage:
    """What an agent's requests cost in a round: seconds inside the endpoint (waiting for a free slot not
    counted), retries after transient failures, and answers a request for several got too few (``missing``)
    or too many (``surplus``) of."""

    seconds: float = 0.0
    retries: int = 0
    missing: int = 0
    surplus: int = 0


def guarded(
    call: Callable[[], T],
    policy: Reliability,
    agent: str,
    limiter: threading.Semaphore | None = None,
    usage: Usage | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()`` inside the endpoint's concurrency limit, retried on transient failures (the one policy of
    :mod:`lwd.core.retry`); the time spent inside the limit (not the wait for a free slot) and the retries are
    added to ``usage``. A failure that retrying cannot fix, or the last one, is a BackendError that says which;
    anything else keeps its traceback."""

    def once() -> T:
        if limiter is None:
            return _timed(call, usage)
        with limiter:
            return _timed(call, usage)

    def worth_retry(exc: BaseException) -> bool:
        return not isinstance(exc, policy.bad_answer) and transient(exc, policy.transient)

    def counted(exc: BaseException) -> None:
        if usage is not None:
            usage.retries += 1

    started = time.perf_counter()
    try:
        return retried(once, policy.attempts, policy.backoff, worth_retry, counted, sleep)
    except Exception as exc:
        error = _stopped(exc, policy, agent, time.perf_counter() - started)
        if error is None:
            raise  # not an answer from the endpoint: a bug keeps its traceback
        raise error from exc


def _stopped(exc: Exception, policy: Reliability, agent: str, seconds: float) -> BackendError | None:
    """The run-stopping error for a request that failed for good, or None for a bug."""
    if isinstance(exc, policy.bad_answer):
        return BackendError(
            f"agent {agent!r}: {policy.endpoint} answered, but not with its API ({exc}); it is not "
            "retried. The round in progress was not written",
            fix="check the agent's base_url: it must name the inference server itself (for an "
            "OpenAI-compatible server, its /v1 URL), not a web page or a proxy in front of it",
        )
    if transient(exc, policy.transient):
        return BackendError(
            f"agent {agent!r}: {policy.endpoint} failed {policy.attempts} time(s) over {seconds:.0f} s "
            f"({type(exc).__name__}: {exc}). The round in progress was not written",
            fix=policy.fix or "check the endpoint",
        )
    status = http_status(exc)
    if status is None:
        return None
    return BackendError(
        f"agent {agent!r}: {policy.endpoint} refused the request with HTTP {status} "
        f"({type(exc).__name__}: {str(exc)[:300]}); it is not retried. The round in progress was not written",
        fix="check the agent's model, base_url and options against what the server supports",
    )


def _timed(call: Callable[[], T], usage: Usage | None) -> T:
    """``call()``, its seconds added to ``usage`` — less any wait for a pool's endpoint inside it."""
    start, queued = time.perf_counter(), waited()
    try:
        return call()
    finally:
        if usage is not None:
            usage.seconds += time.perf_counter() - start - (waited() - queued)
