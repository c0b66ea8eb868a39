"""Reliability around any backend, as wrappers rather than flags in each: a per-endpoint concurrency limit,
bounded retries with exponential backoff on transient failures, and a clear error when an endpoint stays down.

Per-request timeouts are set on each backend's HTTP client (they are where the waiting happens); a timeout
surfaces here as a transient failure like a refused connection or a 5xx answer. Anything else (a 4xx answer,
a bad parameter) is not retried: retrying cannot fix it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from lwd.core.errors import BackendError

__all__ = ["Reliability", "Usage", "transient", "guarded"]

T = TypeVar("T")

_TRANSIENT_TYPES = {
    "APIConnectionError",
    "APITimeoutError",
    "InternalServerError",
    "RateLimitError",
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "ReadError",
    "RemoteProtocolError",
    "NetworkError",
    "TimeoutException",
    "ServiceUnavailableError",
}


@dataclass(frozen=True)
class Reliability:
    """How patiently an agent asks its endpoint. ``attempts = 1``: no retries (in-process engines)."""

    attempts: int = 1
    backoff: float = 1.0  # seconds before the first retry, doubled after each
    endpoint: str = "in-process"  # for messages
    fix: str = ""  # one line: how to bring the endpoint back


@dataclass
class Usage:
    """What an agent's requests cost in a round: seconds inside the endpoint (waiting for a free slot not
    counted) and retries after transient failures."""

    seconds: float = 0.0
    retries: int = 0


def transient(exc: BaseException) -> bool:
    """Connection refused or reset, timeouts, 429 and 5xx answers: worth another try."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int) and (status >= 500 or status == 429):
        return True
    return any(cls.__name__ in _TRANSIENT_TYPES for cls in type(exc).__mro__)


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
            if not transient(exc):
                raise
            if attempt == policy.attempts:
                waited = time.perf_counter() - started
                raise BackendError(
                    f"agent {agent!r}: {policy.endpoint} failed {policy.attempts} time(s) over {waited:.0f} s "
                    f"({type(exc).__name__}: {exc}). Completed rounds are kept; the round in progress was not "
                    "written",
                    fix=f"{policy.fix or 'check the endpoint'}, then `lwd resume` the run folder",
                ) from exc
            if usage is not None:
                usage.retries += 1
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _timed(call: Callable[[], T], usage: Usage | None) -> T:
    start = time.perf_counter()
    try:
        return call()
    finally:
        if usage is not None:
            usage.seconds += time.perf_counter() - start
