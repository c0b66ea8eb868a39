"""One error path for everything a user can fix.

Every user error is an :class:`LwdError`: its message says what was expected and what was found, ``fix`` says
what to do. Interfaces print it in one or two lines and exit with code 2, never with a traceback; any other
exception is a bug and keeps its traceback. The subclasses say *where* the problem is, so callers can react to a
kind of problem (a sweep records a bad cell and goes on; ``lwd backends check`` shows a missing extra in its
table) without matching on messages.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "LwdError",
    "ConfigError",
    "SetupError",
    "MissingExtraError",
    "RunFolderError",
    "DiskFullError",
    "BackendError",
]


class LwdError(Exception):
    """A problem the user can fix. ``str()`` is the message followed by ``Fix: …`` when a fix is known."""

    def __init__(self, message: str, *, fix: str | None = None):
        super().__init__(message)
        self.message = message.rstrip()
        self.fix = fix.rstrip(". ") if fix else None

    def __str__(self) -> str:
        if not self.fix:
            return self.message
        end = "" if self.message.endswith((".", ":", "?", "!")) else "."
        return f"{self.message}{end} Fix: {self.fix}."


class ConfigError(LwdError):
    """An input file or setting that cannot be used: a scenario, a sweep file, a topology, a prompt that cannot
    fit the context. ``problems`` lists every problem of a file at once, each naming its key."""

    def __init__(
        self,
        message: str,
        *,
        fix: str | None = None,
        source: str | None = None,
        problems: Sequence[str] = (),
    ):
        super().__init__(message, fix=fix)
        self.source = source
        self.problems = list(problems)

    @classmethod
    def invalid(cls, what: str, source: str, problems: Sequence[str]) -> ConfigError:
        """'Invalid scenario FILE:' followed by one line per problem."""
        lines = "\n".join(f"  - {p}" for p in problems)
        return cls(f"Invalid {what} {source}:\n{lines}", source=source, problems=problems)


class SetupError(LwdError):
    """A run that cannot start here: a model file, corpus, embedder or store that cannot be used."""


class MissingExtraError(SetupError):
    """An optional dependency is not installed; ``fix`` names the pip extra that installs it."""


class RunFolderError(LwdError):
    """A run folder that cannot be used: it exists, is busy, or does not hold what it should."""


class DiskFullError(RunFolderError):
    """The disk (or quota) that holds a run folder filled up while lwd wrote to it; what was written is whole."""


class BackendError(LwdError):
    """An agent's model or server fails while the run goes on (it stays down, or refuses the request)."""
