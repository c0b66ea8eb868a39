"""The ``lwd`` command line (interfaces layer): the app, the options its commands share, and small helpers.

Each command is a thin shell over the run layer, then the report layer, in a module per group (``gmm``, ``llm``,
``backends``, ``network``, ``tui``); heavy imports are lazy so ``lwd --help`` is instant. Summaries go to stdout,
progress and errors to stderr.

One error path: any :class:`~lwd.core.errors.LwdError` a command raises is printed as one or two lines (the
problem, the fix) with exit code 2 and no traceback (:class:`LwdCommands`); any other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations

from lwd.cli import backends, compare, gmm, llm, network, tui  # noqa: F401 - the commands register on `app`
from lwd.cli.application import app, main

__all__ = ["app", "main"]
