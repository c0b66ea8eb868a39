"""Pools of endpoints: the servers that serve one model, shared by every client of them.

:class:`EndpointPool` gives each request the endpoint with the fewest requests in flight (the first such one on a
tie), never more than ``limit`` in flight on any one; an endpoint whose request failed in a way worth another try
is set aside for ``cooldown`` seconds while the others answer, and is probed again when every other one is set
aside too. An endpoint that says it is busy (HTTP 503 or 429 with ``Retry-After``: lwd's own server when its
queue is long) has not failed: it is passed over for the seconds it asked, and the request waits for it (or
goes to another) without counting a failure — for at most :data:`BUSY_PATIENCE` seconds. An endpoint that
returns fewer answers than asked :data:`SHORT_LIMIT` times in a row is set aside like one that failed. It
records what each endpoint served and failed. The agents' server pools (:mod:`lwd.agents.pool`) and the remote
embedder (:mod:`lwd.metrics.remote`) share it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from lwd.core.retry import http_status

__all__ = ["EndpointPool", "pool_for", "waited", "retry_after", "COOLDOWN", "BUSY_PATIENCE", "SHORT_LIMIT"]

COOLDOWN = 30.0  # seconds an endpoint that failed is passed over while others answer
BUSY_PATIENCE = 1800.0  # seconds one request waits for busy endpoints before their "busy" counts as a failure
MAX_RETRY_AFTER = 30.0  # the longest pause a busy endpoint's Retry-After is taken at its word for
SHORT_LIMIT = 3  # answers with fewer samples than asked, in a row, that set an endpoint aside
log = logging.getLogger(__name__)
T = TypeVar("T")


class EndpointPool:
    """Requests in flight per endpoint, the endpoints set aside, and what each served."""

    def __init__(self, urls: Sequence[str], limit: int, cooldown: float = COOLDOWN):
        self.urls, self.limit, self.cooldown = tuple(urls), max(1, limit), cooldown
        n = len(self.urls)
        self.in_flight, self.aside_until, self.busy_until = [0] * n, [0.0] * n, [0.0] * n
        self.served, self.failed, self.short_streak = [0] * n, [0] * n, [0] * n
        self._changed = threading.Condition()

    def take(self, avoid: set[int]) -> int | None:
        """An endpoint for one request, waiting while every usable one is at its limit; None when every
        endpoint is in ``avoid`` (all failed this request). Endpoints set aside are used only when every other
        one is set aside too (a probe: the one set aside longest ago). The wait counts in :func:`waited`."""
        started = time.perf_counter()
        try:
            return self._take(avoid)
        finally:
            _WAITED.seconds = waited() + time.perf_counter() - started

    def _take(self, avoid: set[int]) -> int | None:
        with self._changed:
            while True:
                now = time.monotonic()
                usable = [i for i in range(len(self.urls)) if i not in avoid]
                if not usable:
                    return None
                live = [i for i in usable if self.aside_until[i] <= now]
                choices = live or sorted(usable, key=lambda i: self.aside_until[i])[:1]
                free = [i for i in choices if self.in_flight[i] < self.limit and self.busy_until[i] <= now]
                if free:
                    pick = min(free, key=lambda i: (self.in_flight[i], i))
                    self.in_flight[pick] += 1
                    return pick
                soonest = min(
                    (self.busy_until[i] for i in choices if self.busy_until[i] > now), default=now + 1
                )
                self._changed.wait(timeout=min(1.0, max(0.01, soonest - now)))

    def done(self, index: int, ok: bool, error: BaseException | None = None) -> None:
        """A request on endpoint ``index`` ended; one that failed sets the endpoint aside."""
        with self._changed:
            self.in_flight[index] -= 1
            if ok:
                self.served[index] += 1
                self.aside_until[index] = 0.0
            else:
                self.failed[index] += 1
                self.aside_until[index] = time.monotonic() + self.cooldown
                others = [u for i, u in enumerate(self.urls) if i != index and self.aside_until[i] == 0.0]
                log.warning(
                    "endpoint %s failed (%s: %s); set aside for %.0f s%s",
                    self.urls[index],
                    type(error).__name__,
                    error,
                    self.cooldown,
                    f", its requests go to {', '.join(others)}" if others else "",
                )
            self._changed.notify_all()

    def rest(self, index: int, seconds: float) -> None:
        """A request on endpoint ``index`` was answered "busy, come back in ``seconds``": not a failure; the
        endpoint gets no request for that long (capped at :data:`MAX_RETRY_AFTER`)."""
        pause = min(max(seconds, 0.05), MAX_RETRY_AFTER)
        with self._changed:
            self.in_flight[index] -= 1
            self.busy_until[index] = time.monotonic() + pause
            self._changed.notify_all()
        log.debug("endpoint %s is busy: asked again in %.1f s", self.urls[index], pause)

    def answered_short(self, index: int, asked: int, got: int) -> None:
        """Endpoint ``index`` returned ``got`` of the ``asked`` answers of one request (``got == asked``: all of
        them). :data:`SHORT_LIMIT` short answers in a row set it aside."""
        if asked < 2 and got >= asked:
            return  # one answer asked and given: says nothing of how the endpoint reads `n`
        with self._changed:
            streak = self.short_streak[index] + 1 if got < asked else 0
            self.short_streak[index] = 0 if streak >= SHORT_LIMIT else streak
        if streak >= SHORT_LIMIT:  # each short answer itself is the caller's to report (it knows who asked)
            self.set_aside(index, f"it returned fewer answers than asked {streak} times in a row")

    def first_answer(
        self, call: Callable[[int], T], worth_retry: Callable[[BaseException], bool]
    ) -> tuple[T, int]:
        """``call(index)`` on the endpoints the pool gives until one answers: returns its answer and index. A
        failure ``worth_retry`` sets that endpoint aside and tries another; any other failure is the request's
        (the endpoint answered) and is raised; when every endpoint failed it, the last failure is raised (the
        caller's attempts and backoff take over, and probe the endpoints set aside)."""
        tried: set[int] = set()
        last: BaseException | None = None
        patience = time.monotonic() + BUSY_PATIENCE
        while (index := self.take(tried)) is not None:
            try:
                answer = call(index)
            except Exception as exc:
                pause = retry_after(exc)
                if pause is not None and time.monotonic() < patience:
                    self.rest(index, pause)  # busy, not failed: asked again when it said (or elsewhere)
                    continue
                if not worth_retry(exc):
                    self.done(index, True)  # it answered: the request is at fault, not the endpoint
                    raise
                self.done(index, False, exc)
                tried.add(index)
                last = exc
                continue
            self.done(index, True)
            return answer, index
        assert last is not None
        raise last

    def set_aside(self, index: int, reason: str) -> None:
        """Pass endpoint ``index`` over for a while (it failed its check before the run)."""
        with self._changed:
            self.aside_until[index] = time.monotonic() + self.cooldown
        log.warning("endpoint %s set aside for %.0f s: %s", self.urls[index], self.cooldown, reason)

    def describe(self) -> dict[str, Any]:
        """What each endpoint served and failed so far."""
        return {
            url: {"served": s, "failed": f}
            for url, s, f in zip(self.urls, self.served, self.failed, strict=True)
        }


def retry_after(exc: BaseException) -> float | None:
    """The seconds an endpoint asked to wait in an answer "busy" (HTTP 503 or 429 with a ``Retry-After`` of
    seconds) carried by an HTTP client's exception (its ``response``), else None."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if http_status(exc) not in (429, 503) or headers is None:
        return None
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None  # absent, or an HTTP date: an ordinary failure


_WAITED = threading.local()


def waited() -> float:
    """Seconds this thread has spent waiting for an endpoint of a pool, ever (differences of two readings
    give the wait inside a call: the time a request spent queued, not at its endpoint)."""
    return getattr(_WAITED, "seconds", 0.0)


_POOLS: dict[tuple, EndpointPool] = {}
_POOLS_LOCK = threading.Lock()


def pool_for(key: str, urls: Sequence[str], limit: int) -> EndpointPool:
    """The pool of ``urls`` for the backend ``key``, shared by every agent on them (the first sets the limit)."""
    with _POOLS_LOCK:
        found = _POOLS.get((key, tuple(urls)))
        if found is None:
            found = _POOLS[(key, tuple(urls))] = EndpointPool(urls, limit)
        return found
