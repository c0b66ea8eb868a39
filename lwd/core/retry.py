"""One retry policy for every client of a server: the agents' chat requests (:mod:`lwd.agents.reliability`) and
the embedder's batches (:mod:`lwd.metrics.remote`).

What is worth another try is said once: an HTTP answer whose status is in :data:`RETRY_STATUS` (timeouts, rate
limits, a server error or an overloaded server), or an exception of a type the client declares transient
(connection refused or reset, timed out: :data:`ALWAYS_TRANSIENT` plus the client's own). Any other failure is
not retried: retrying cannot fix a 400 or a web page where JSON belongs.

:func:`retried` runs a call up to ``attempts`` times with exponential backoff (``backoff`` seconds before the
first retry, doubled after each) on tenacity, the library LangChain itself retries with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import tenacity

__all__ = ["RETRY_STATUS", "ALWAYS_TRANSIENT", "Errors", "http_status", "transient", "retried"]

T = TypeVar("T")
Errors = tuple[type[BaseException], ...]

# HTTP answers worth another try: timeouts, rate limits, a server error or an overloaded/restarting server
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
ALWAYS_TRANSIENT: Errors = (ConnectionError, TimeoutError)  # refused, reset, timed out: whatever the client


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception from an HTTP client carries (openai, httpx, ollama), if any."""
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def transient(exc: BaseException, errors: Errors = ALWAYS_TRANSIENT) -> bool:
    """Worth another try: an answer with a status in RETRY_STATUS, or an exception of a type in ``errors``."""
    status = http_status(exc)
    if status is not None:
        return status in RETRY_STATUS
    return isinstance(exc, errors)


def retried(
    call: Callable[[], T],
    attempts: int,
    backoff: float,
    worth_retry: Callable[[BaseException], bool],
    on_retry: Callable[[BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, tried up to ``attempts`` times while it fails with an exception ``worth_retry`` says is
    transient, sleeping ``backoff``·2^(i−1) seconds before retry i; ``on_retry(exc)`` before each sleep. The
    last failure (or the first that is not transient) is raised as it is."""
    policy = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts)),
        wait=tenacity.wait_exponential(multiplier=backoff, min=0, max=float("inf")),
        retry=tenacity.retry_if_exception(worth_retry),
        before_sleep=(lambda state: on_retry(state.outcome.exception())) if on_retry else None,
        sleep=sleep,
        reraise=True,
    )
    return policy(call)
