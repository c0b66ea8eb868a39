"""Optional dependencies: which pip extra installs what, and a clear refusal when one is missing.

The core install (``pip install llm-web-dynamics``) runs the GMM mode. Everything heavy comes with an extra and
is imported lazily where it is used; a command that needs an extra calls :func:`require` first, so a missing
package is a one-line error naming the extra, never a ``ModuleNotFoundError`` from deep inside a run.
"""

from __future__ import annotations

import importlib.util

from lwd.core.errors import MissingExtraError

__all__ = ["EXTRAS", "missing", "require", "install_hint"]

DISTRIBUTION = "llm-web-dynamics"

# extra -> the modules it provides that lwd imports (see pyproject.toml)
EXTRAS: dict[str, tuple[str, ...]] = {
    "llm": ("langchain_core", "chromadb", "sentence_transformers"),
    "servers": ("langchain_openai", "langchain_ollama"),
    "tui": ("textual", "textual_plotext", "textual_serve"),
    "ray": ("ray",),
}


def missing(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that cannot be imported here."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def install_hint(extra: str | None, modules: list[str] | None = None) -> str:
    """The command that installs an extra (or, without one, the modules themselves)."""
    if extra:
        return f"pip install '{DISTRIBUTION}[{extra}]'"
    return "pip install " + " ".join(modules or [])


def require(extra: str | None, what: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise :class:`MissingExtraError` unless every module of ``extra`` (or ``modules``) is importable.

    ``what`` names what needs them, e.g. "`lwd run` (the LLM mode)"; with no extra, the fix names the modules.
    """
    gone = missing(modules if modules is not None else EXTRAS[extra or ""])
    if gone:
        raise MissingExtraError(
            f"{what} needs {', '.join(gone)}, which {'is' if len(gone) == 1 else 'are'} not installed",
            fix=install_hint(extra, gone),
        )
