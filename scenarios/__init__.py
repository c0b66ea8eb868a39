"""lwd.scenarios — the scenario files shipped with lwd (package data), found by name (domain layer).

``available()`` maps names (``paper-gmm-b2``, ``backends/ollama`` …) to files; ``resolve()`` accepts a path
or a shipped name, so ``lwd gmm paper-gmm-b2`` and ``lwd gmm scenarios/paper-gmm-b2.toml`` both work.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

from lwd.core.errors import ConfigError

__all__ = ["available", "resolve", "summary", "sweeps"]

SWEEPS = "sweeps"  # sweep files (`lwd sweep`), not scenarios


def _root() -> Path:
    return Path(str(files(__name__)))


def available() -> dict[str, Path]:
    """Shipped scenario names -> files, sorted by name."""
    root = _root()
    found = {p.relative_to(root).with_suffix("").as_posix(): p for p in root.rglob("*.toml")}
    return dict(sorted((k, p) for k, p in found.items() if not k.startswith(f"{SWEEPS}/")))


def sweeps() -> dict[str, Path]:
    """Shipped sweep files: ``sweeps/NAME`` -> file."""
    root = _root() / SWEEPS
    return {f"{SWEEPS}/{p.stem}": p for p in sorted(root.glob("*.toml"))}


def resolve(name_or_path: str | Path) -> Path:
    """A scenario file from a path, or from a shipped name (with or without ``.toml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = available()
    key = path.as_posix().removesuffix(".toml").removeprefix("scenarios/")
    if key in shipped:
        return shipped[key]
    raise ConfigError.invalid(
        "scenario",
        str(name_or_path),
        [
            f"no such file, and no shipped scenario named {key!r}: expected a path to a .toml file or one of "
            f"{', '.join(shipped)}. Run `lwd scenarios` to list them."
        ],
    )


def summary(path: Path) -> tuple[str, str]:
    """(kind, description) of a scenario file, without full validation (for listings)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return "?", f"(unreadable: {exc})"
    kind = "llm" if "agents" in raw else "gmm"
    return kind, str(raw.get("description", "")).strip().splitlines()[0] if raw.get("description") else ""
