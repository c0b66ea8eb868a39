"""The matched GMM twin of an LLM run: Algorithm 3 on the same network — n, topology, data regime, β per
model, L, T, seed and |A⁽⁰⁾| (the corpus size, unless the scenario's [gmm.human] sets its own) — with the
scenario's [gmm] mixture (the paper's B = 2 proxy when it has none). ``lwd run --gmm-twin``, ``lwd report`` and
the TUI overlay its metrics on the LLM run's, each divided by its value at round 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lwd.gmm.config import HumanData
from lwd.gmm.simulate import GMMRun
from lwd.run.gmm import metric_table, read_metric_table, simulate_network, write_metric_table
from lwd.run.manifest import read_manifest
from lwd.run.scenario import LoadedScenario

__all__ = ["twin_of", "write_twin", "read_twin", "twin_metrics", "TWIN_DIR"]

TWIN_DIR = "twin"


def twin_of(loaded: LoadedScenario, human_points: int) -> GMMRun:
    """The GMM proxy of the LLM scenario's network, with |A⁽⁰⁾| = ``human_points`` unless [gmm.human] is set."""
    s = loaded.scenario
    config = s.gmm
    if "human" not in config.model_fields_set:
        config = config.model_copy(update={"human": HumanData(points=human_points)})
    return simulate_network(s, loaded.base, config=config)


def twin_metrics(loaded: LoadedScenario, human_points: int) -> dict[str, np.ndarray]:
    """Every metric of the twin the GMM mode computes: ``{column: (R, T+1)}``."""
    return metric_table(twin_of(loaded, human_points), loaded.scenario, loaded.base)


def write_twin(folder: Path, loaded: LoadedScenario) -> dict[str, np.ndarray]:
    """Simulate the twin of the run in ``folder`` and write ``twin/metrics.csv`` (replicate, round, metrics)."""
    folder = Path(folder)
    posts = read_manifest(folder)["corpus"]["posts"]
    table = twin_metrics(loaded, posts)
    (folder / TWIN_DIR).mkdir(exist_ok=True)
    write_metric_table(folder / TWIN_DIR / "metrics.csv", table)
    return table


def read_twin(folder: Path) -> dict[str, np.ndarray] | None:
    """The twin's metrics written in ``folder`` (``{column: (R, T+1)}``, ``frobenius`` among them), or None."""
    path = Path(folder) / TWIN_DIR / "metrics.csv"
    return read_metric_table(path) if path.is_file() else None
