"""Loaded models that agents share: one engine per model and settings, whatever the number of agents on it.

A network of many agents on few models (many personas of one SmolLM2) must hold each model once. Each backend
keeps its loaded engines in a :class:`Shared` registry under a key of what the engine is built from (the weights
file and the settings that shape its computation); an agent acquires the engine on first use and releases it on
``close``; the last release frees it. Requests to one engine go one at a time through its own lock (the engine's
queue), so a request's answers depend on its prompt and seed alone, never on which agent asked before — what
``lwd resume`` already required of an engine used by one agent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Shared"]

T = TypeVar("T")


class Shared(Generic[T]):
    """Things built once per key and counted: ``acquire`` builds or reuses, ``release`` frees the last one."""

    def __init__(self) -> None:
        self._items: dict[Hashable, list] = {}  # key -> [thing, holders]
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def acquire(self, key: Hashable, build: Callable[[], T]) -> T:
        """The thing under ``key``, built by ``build()`` if none is held (built once, even when several agents
        ask at the same time; a build that fails leaves nothing behind)."""
        with self._lock:
            gate = self._building.setdefault(key, threading.Lock())
        with gate:  # one build per key; other keys build meanwhile
            with self._lock:
                if key in self._items:
                    self._items[key][1] += 1
                    return self._items[key][0]
            thing = build()
            with self._lock:
                self._items[key] = [thing, 1]
                return thing

    def release(self, key: Hashable) -> None:
        """One holder less; the thing is dropped (and freed once unreferenced) when none is left."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del self._items[key]

    def holders(self, key: Hashable) -> int:
        """How many hold the thing under ``key`` (0: not loaded)."""
        with self._lock:
            entry = self._items.get(key)
            return entry[1] if entry else 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
