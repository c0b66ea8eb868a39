"""``manifest.json``: what produced a run folder, built the same way for every kind of run.

Every manifest holds the kind, when and by which command it was made, the package versions and, for a scenario
run, the scenario (its text, sha256, overrides and resolved values), the seed, the network, the topology as built
and the data regime. Each mode adds its own sections (the LLM mode: agents, embedder, store, corpus, streams; the
GMM mode: replicates, the mixture, timings).

A manifest is read in one place, :func:`read_manifest`, into a frozen :class:`RunManifest`: its sections are
typed attributes (absent ones empty, so folders of older versions still read) and what they imply — the
metric settings, the communities and model groups, the :class:`~lwd.metrics.MetricContext` of its agents —
are properties. Nothing else indexes the JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from lwd.core.errors import RunFolderError
from lwd.metrics import MetricContext, MetricSettings
from lwd.metrics.registry import model_groups
from lwd.run.kinds import RunKind
from lwd.run.scenario import LoadedScenario

__all__ = [
    "MANIFEST",
    "RunManifest",
    "ScenarioRecord",
    "header",
    "scenario_manifest",
    "read_manifest",
    "versions",
    "now_iso",
]

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


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class ScenarioRecord(_Section):
    """The scenario a run was started with: its name, file, text (and sha256), overrides and resolved values."""

    name: str = ""
    path: str | None = None
    sha256: str | None = None
    overrides: dict[str, Any] = {}
    text: str = ""
    resolved: dict[str, Any] = {}


class RunManifest(_Section):
    """A run folder's ``manifest.json``, typed (module docstring). Sections a kind of run does not write are
    empty; sections this version does not know are kept (``extra``) and written back by :meth:`with_section`."""

    kind: RunKind
    created: str = ""
    command: list[str] = []
    scenario: ScenarioRecord = ScenarioRecord()
    seed: int | None = None
    network: dict[str, Any] = {}
    topology: dict[str, Any] = {}
    internet: dict[str, Any] = {}
    versions: dict[str, str] = {}
    # the LLM mode
    agents: list[dict[str, Any]] = []
    embedder: dict[str, Any] = {}
    store: dict[str, Any] = {}
    corpus: dict[str, Any] = {}
    # the GMM mode
    means: list[Any] = []
    covariance: Any = None
    # a sweep
    sweep: dict[str, Any] = {}
    sweep_file: str | None = None
    scenario_file: str | None = None
    cells: dict[str, dict[str, Any]] = {}

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.scenario.name

    @property
    def description(self) -> str:
        return str(self.scenario.resolved.get("description", ""))

    @property
    def topology_name(self) -> str:
        """The topology's registered name (``complete``: the paper's)."""
        return str((self.scenario.resolved.get("topology") or {}).get("name", "complete"))

    @property
    def rounds(self) -> int:
        """T: the run's rounds are 0 … T."""
        return int(self.network["rounds"])

    @property
    def metric_settings(self) -> MetricSettings:
        """The ``[metrics]`` settings the run used (the defaults where the scenario set none)."""
        return MetricSettings.model_validate(self.scenario.resolved.get("metrics", {}))

    @property
    def communities(self) -> dict[str, tuple[int, ...]]:
        """The topology's communities as built: ``{name: member indices}`` (empty: none)."""
        found = self.topology.get("communities") or {}
        return {str(k): tuple(int(i) for i in v) for k, v in found.items()}

    @property
    def models(self) -> dict[str, tuple[int, ...]]:
        """``{model: its agents' indices}`` (an LLM run's agents, by the model each runs)."""
        return model_groups(self.agents)

    def context(self, names: tuple[str, ...] | list[str]) -> MetricContext:
        """The :class:`~lwd.metrics.MetricContext` of the run's agents ``names``."""
        return MetricContext(tuple(names), self.communities, self.models)

    def with_section(self, name: str, value: Any) -> dict[str, Any]:
        """The manifest as it was read, with section ``name`` set to ``value`` (to write back)."""
        return {**self._raw, name: value}


def read_manifest(
    folder: Path, expected: str = "the --out folder of `lwd run`, `lwd gmm` or `lwd sweep`"
) -> RunManifest:
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
    try:
        manifest = RunManifest.model_validate(data)
    except ValidationError as exc:
        raise RunFolderError(
            f"{path} is damaged: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
            fix="restore it from a copy, or run again into a new folder",
        ) from None
    manifest._raw = data
    return manifest
