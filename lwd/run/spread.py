"""Pure-Python agents spread over the machine's cores.

Agents whose backend does its work in Python (``ChatBackend.waits`` is False: lwd's fake, a rule-based agent of
your own) cannot overlap on threads: the GIL runs one at a time. Past :data:`SPREAD_AGENTS` such agents on Linux, a
round forks one worker process per core; each inherits the agents and the round's draws (copy-on-write: nothing is
sent but the replies coming back) and answers a run of consecutive agents at a time. The replies are the ones the
agents would give one after another — an agent's answers depend only on its prompt and seed, which resume already
requires — so the run folder is byte-identical either way. The workers end with the round, and with their
parent: killed with it (``PR_SET_PDEATHSIG``), they never outlive it holding the run folder's lock and its store.

``processes`` in :func:`workers` (the scheduler's setting) overrides the choice: 1 keeps every agent in the
scheduler's thread, N > 1 forks N workers whatever the network's size (the tests use it on small networks).
"""

from __future__ import annotations

import ctypes
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
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
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
        with ProcessPoolExecutor(
            processes, mp_context=context, initializer=_worker, initargs=(os.getpid(),)
        ) as pool:
            results = pool.map(_answer_part, itertools.repeat(key), parts)
            try:
                for part in results:
                    yield from part
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        _ROUNDS.pop(key, None)


def _worker(parent: int) -> None:
    """A worker lives one round: no collections (one would write to, and so copy, every page of the objects it
    inherited), Ctrl-C is the parent's to handle (it lets the parts in flight finish, then stops), SIGTERM ends
    it (the parent's handler, inherited, would not), and it dies with its parent, even a parent killed with
    SIGKILL."""
    gc.disable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with(parent)


def _die_with(parent: int) -> None:
    """SIGKILL this process when its parent ends (Linux: prctl PR_SET_PDEATHSIG); a parent already gone ends
    it now."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:  # pragma: no cover - Linux has it
        return
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _answer_part(key: int, part: Sequence[int]) -> list[Any]:
    answer = _ROUNDS[key]
    return [answer(i) for i in part]


def _forks() -> bool:
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()
