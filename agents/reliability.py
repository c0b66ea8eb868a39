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

__all__ = ["Reliability", "Usage", "transient", "guarded", "http_status", "RETRY_STATUS", "ALWAYS_TRANSIENT"]

T = TypeVar("T")
Errors = tuple[type[BaseException], ...]

ALWAYS_TRANSIENT: Errors = (ConnectionError, TimeoutError)  # refused, reset, timed out: whatever the client


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


# HTTP answers worth another try: timeouts, rate limits, a server error or an overloaded/restarting server
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception from an HTTP client carries (openai, httpx, ollama), if any."""
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def transient(exc: BaseException, errors: Errors = ALWAYS_TRANSIENT) -> bool:
    """Worth another try: an answer with a status in RETRY_STATUS, or an exception of a type in ``errors``
    (connection refused or reset, timeouts: what the backend declares)."""
    status = http_status(exc)
    if status is not None:
        return status in RETRY_STATUS
    return isinstance(exc, errors)


def guarded(
    call: Callable[[], T],
    policy: Reliability,
    agent: str,
    limiter: threading.Semaphore | None = None,
    usage: Usage | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()`` inside the endpoint's concurrency limit, retried on transient failures; the time spent inside
    the limit (not the wait for a free slot) and the retries are added to ``usage``."""
    delay = policy.backoff
    started = time.perf_counter()
    for attempt in range(1, policy.attempts + 1):
        try:
            if limiter is None:
                return _timed(call, usage)
            with limiter:
                return _timed(call, usage)
        except Exception as exc:
            if isinstance(exc, policy.bad_answer):
                raise BackendError(
                    f"agent {agent!r}: {policy.endpoint} answered, but not with its API ({exc}); it is not "
                    "retried. The round in progress was not written",
                    fix="check the agent's base_url: it must name the inference server itself (for an "
                    "OpenAI-compatible server, its /v1 URL), not a web page or a proxy in front of it",
                ) from exc
            if not transient(exc, policy.transient):
                status = http_status(exc)
                if status is None:
                    raise  # not an answer from the endpoint: a bug keeps its traceback
                raise BackendError(
                    f"agent {agent!r}: {policy.endpoint} refused the request with HTTP {status} "
                    f"({type(exc).__name__}: {str(exc)[:300]}); it is not retried. The round in progress was "
                    "not written",
                    fix="check the agent's model, base_url and options against what the server supports",
                ) from exc
            if attempt == policy.attempts:
                waited = time.perf_counter() - started
                raise BackendError(
                    f"agent {agent!r}: {policy.endpoint} failed {policy.attempts} time(s) over {waited:.0f} s "
                    f"({type(exc).__name__}: {exc}). The round in progress was not written",
                    fix=policy.fix or "check the endpoint",
                ) from exc
            if usage is not None:
                usage.retries += 1
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _timed(call: Callable[[], T], usage: Usage | None) -> T:
    """``call()``, its seconds added to ``usage`` — less any wait for a pool's endpoint inside it."""
    start, queued = time.perf_counter(), waited()
    try:
        return call()
    finally:
        if usage is not None:
            usage.seconds += time.perf_counter() - start - (waited() - queued)
