"""``manifest.json``: what produced a run folder, built the same way for every kind of run.

Every manifest holds the kind, when and by which command it was made, the package versions and, for a scenario
run, the scenario (its text, sha256, overrides and resolved values), the seed, the network, the topology as built
and the data regime. Each mode adds its own sections (the LLM mode: agents, embedder, store, corpus, streams; the
GMM mode: replicates, the mixture, timings).
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from lwd.core.errors import RunFolderError
from lwd.run.kinds import RunKind
from lwd.run.scenario import LoadedScenario

__all__ = ["MANIFEST", "header", "scenario_manifest", "read_manifest", "versions", "now_iso"]

MANIFEST = "manifest.json"

_VERSIONED = (
    "llm-web-dynamics",
    "numpy",
    "scipy",
    "numba",
    "matplotlib",
    "plotly",
    "pydantic",
    "typer",
    "rich",
    "torch",
    "transformers",
    "sentence-transformers",
    "chromadb",
    "langchain-core",
    "xllamacpp",
)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Versions of Python, the platform and the packages that shape results."""
    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def header(kind: RunKind) -> dict[str, Any]:
    """What every manifest starts with: the kind, when, and the command that made it."""
    return {"kind": str(kind), "created": now_iso(), "command": sys.argv}


def scenario_manifest(kind: RunKind, loaded: LoadedScenario, **sections: Any) -> dict[str, Any]:
    """The manifest of a scenario run: the common part, then the mode's ``sections``, then the versions."""
    s = loaded.scenario
    return {
        **header(kind),
        "scenario": {
            "name": loaded.name,
            "path": str(loaded.path.resolve()) if loaded.path else None,
            "sha256": loaded.sha256,
            "overrides": loaded.overrides,
            "text": loaded.text,
            "resolved": s.model_dump(mode="json"),
        },
        "seed": s.seed,
        "network": s.network.model_dump(),
        "topology": s.wiring(loaded.base).describe(),
        "internet": s.internet.model_dump(),
        **sections,
        "versions": versions(),
    }


def read_manifest(
    folder: Path, expected: str = "the --out folder of `lwd run`, `lwd gmm` or `lwd sweep`"
) -> dict:
    """A run folder's manifest; a RunFolderError naming the folder when there is none or it is unreadable."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(
            f"{folder} is not an lwd run folder (no {MANIFEST})", fix=f"give {expected}"
        ) from None
    except (OSError, ValueError) as exc:
        raise RunFolderError(
            f"{path} cannot be read ({exc})", fix="restore it from a copy, or run again into a new folder"
        ) from None
    if not isinstance(data, dict) or data.get("kind") not in set(RunKind):
        raise RunFolderError(
            f"{path} does not say what run it describes (kind = {data.get('kind') if isinstance(data, dict) else None!r})",
            fix=f"give {expected}",
        )
    return data
