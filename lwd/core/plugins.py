"""One loader for every kind of plugin: backends (``lwd.backends``), topologies (``lwd.topologies``), metrics
(``lwd.metrics``) — and what comes next (retrieval policies).

A :class:`Registry` holds one kind's plugins by name: lwd's own and those a decorator registered in the user's
code, then the entry points installed packages declare under the kind's group, loaded on first use (a package
that is never asked for is never imported). Each loaded object is checked (``accept``: it raises ConfigError
with the fix when the object is not of the kind) before it is kept. An unknown name is a ConfigError listing
the known ones.

Some plugins register themselves when their module is imported (a metric's decorator): for those the entry point
names a module, ``imports = True``, and :meth:`Registry.load_all` imports every such module once.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from lwd.core.errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """The plugins of one kind, by name (module docstring)."""

    def __init__(
        self,
        kind: str,
        group: str,
        *,
        accept: Callable[[str, Any, str], T] | None = None,
        unknown: Callable[[Any, list[str]], ConfigError] | None = None,
        imports: bool = False,
    ):
        self.kind, self.group, self.imports = kind, group, imports
        self._accept = accept or (lambda name, item, where: item)
        self._unknown = unknown or self._default_unknown
        self._items: dict[str, T] = {}
        self._imported = False

    def add(self, name: str, item: Any, where: str = "") -> T:
        """Register ``item`` under ``name`` (checked as an entry point's object is); returns what is kept."""
        kept = self._accept(name, item, where or f"{self.kind} {name!r}")
        self._items[name] = kept
        return kept

    def register(self, name: str) -> Callable[[Any], Any]:
        """A decorator that registers what it decorates under ``name`` and returns it unchanged."""

        def decorate(item: Any) -> Any:
            try:
                self.add(name, item, f"@register({name!r})")
            except ConfigError as exc:  # in code, not in a scenario: a programming error
                raise TypeError(str(exc)) from None
            return item

        return decorate

    def registered(self, name: str) -> T | None:
        """The plugin registered under ``name`` so far, without loading anything (None: none yet)."""
        return self._items.get(name)

    def pop(self, name: str) -> T | None:
        """Forget ``name`` (tests that register a plugin of their own)."""
        return self._items.pop(name, None)

    def names(self) -> list[str]:
        """Every name: lwd's own and the registered ones in order, then the installed entry points'."""
        self._import_all()
        return [*self._items, *(n for n in self._points() if n not in self._items)]

    def get(self, name: Any) -> T:
        """The plugin ``name``; an installed entry point is loaded and checked the first time."""
        if isinstance(name, str) and name in self._items:
            return self._items[name]
        points = self._points()
        if isinstance(name, str) and name in points and not self.imports:
            point = points[name]
            return self.add(
                name, point.load(), f"entry point {name!r} in group {self.group!r} ({point.value})"
            )
        self._import_all()
        if isinstance(name, str) and name in self._items:
            return self._items[name]
        raise self._unknown(name, self.names())

    def load_all(self) -> dict[str, T]:
        """Every plugin by name, the entry points loaded."""
        self._import_all()
        for name in self._points():
            if name not in self._items:
                self.get(name)
        return dict(self._items)

    def _points(self) -> dict[str, EntryPoint]:
        return {point.name: point for point in entry_points(group=self.group)}

    def _import_all(self) -> None:
        """For plugins that register themselves: import every entry point's module once."""
        if self.imports and not self._imported:
            self._imported = True
            for point in self._points().values():
                point.load()

    def _default_unknown(self, name: Any, known: list[str]) -> ConfigError:
        return ConfigError(
            f"unknown {self.kind} {name!r}: expected one of {', '.join(known)}",
            fix=f"choose one of those, or install the package that provides it (it declares it under the entry "
            f"point group {self.group!r})",
        )
