"""Pure-Python agents spread over the machine's cores.

Agents whose backend does its work in Python (``ChatBackend.waits`` is False: lwd's fake, a rule-based agent of
your own) cannot overlap on threads: the GIL runs one at a time. Past :data:`SPREAD_AGENTS` such agents on Linux, a
round forks one worker process per core; each inherits the agents and the round's draws (copy-on-write: nothing is
sent but the replies coming back) and answers a run of consecutive agents at a time. The replies are the ones the
agents would give one after another — an agent's answers depend only on its prompt and seed, which resume already
requires — so the run folder is byte-identical either way. The workers end with the round.

``processes`` in :func:`workers` (the scheduler's setting) overrides the choice: 1 keeps every agent in the
scheduler's thread, N > 1 forks N workers whatever the network's size (the tests use it on small networks).
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["SPREAD_AGENTS", "workers", "spread"]

SPREAD_AGENTS = 256  # pure-Python agents past which a round is spread over the cores (processes = None)
_PART = 32  # agents a worker answers before the next part is handed out (and their progress reported)
_ROUNDS: dict[int, Callable[[int], Any]] = {}  # what a forked worker reads: the round's answer


def workers(n: int, processes: int | None) -> int:
    """Worker processes for a round of n pure-Python agents: ``processes`` when set, else one per core past
    SPREAD_AGENTS agents where fork is available (Linux), else 1 (the scheduler's own thread)."""
    if processes is not None:
        return max(1, processes) if _forks() else 1
    if n < SPREAD_AGENTS or not _forks():
        return 1
    return max(1, min(_cores(), n // _PART))


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def spread(answer: Callable[[int], Any], n: int, processes: int) -> Iterator[Any]:
    """``answer(i)`` for i = 0 … n − 1, computed in ``processes`` forked workers, yielded in order as each part
    comes back. Stopping the iteration early (a cancelled round) lets the parts in flight finish and starts no
    more."""
    key = id(answer)
    _ROUNDS[key] = answer  # set before the fork: the workers inherit it
    parts = [range(i, min(n, i + _PART)) for i in range(0, n, _PART)]
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_worker) as pool:
            results = pool.map(_answer_part, itertools.repeat(key), parts)
            try:
                for part in results:
                    yield from part
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _ROUNDS.pop(key, None)


def _worker() -> None:
    """A worker lives one round: no collections (one would write to, and so copy, every page of the objects it
    inherited), and Ctrl-C is the parent's to handle (it lets the parts in flight finish, then stops)."""
    gc.disable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _answer_part(key: int, part: Sequence[int]) -> list[Any]:
    answer = _ROUNDS[key]
    return [answer(i) for i in part]


def _forks() -> bool:
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()
