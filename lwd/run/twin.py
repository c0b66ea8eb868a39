"""The matched GMM twin of an LLM run: Algorithm 3 on the same network — n, topology, data regime, β per
model, L, T, seed and |A⁽⁰⁾| (the corpus size, unless the scenario's [gmm.human] sets its own).

Its mixture is fitted to the run's round-0 answers (:mod:`lwd.gmm.fit`: B by BIC, the agents' starting weights
from their answers, the human data's from the human posts) once round 0 is committed; before that, or when the
scenario writes its own [gmm] table, it is the scenario's [gmm] mixture (the paper's B = 2 proxy when it has
none). ``lwd run --gmm-twin``, ``lwd report`` and the TUI overlay its metrics on the LLM run's, each divided by
its value at round 0; the manifest records which mixture it was (``twin``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lwd.core.files import write_json
from lwd.gmm.config import GMMConfig, HumanData
from lwd.gmm.fit import FittedMixture, fit_mixture
from lwd.gmm.simulate import GMMRun
from lwd.run.gmm import metric_table, read_metric_table, simulate_network, write_metric_table
from lwd.run.manifest import MANIFEST, read_manifest
from lwd.run.rounds import RoundLog
from lwd.run.scenario import LoadedScenario

__all__ = ["twin_of", "twin_fit", "write_twin", "read_twin", "twin_metrics", "TWIN_DIR"]

TWIN_DIR = "twin"


def twin_of(loaded: LoadedScenario, human_points: int, fitted: FittedMixture | None = None) -> GMMRun:
    """The GMM proxy of the LLM scenario's network: the ``fitted`` mixture, else the scenario's [gmm] table
    with |A⁽⁰⁾| = ``human_points`` unless [gmm.human] is set."""
    s = loaded.scenario
    config: GMMConfig = s.gmm
    if fitted is not None:
        config = fitted.config(config, human_points)
    elif "human" not in config.model_fields_set:
        config = config.model_copy(update={"human": HumanData(points=human_points)})
    return simulate_network(s, loaded.base, config=config)


def twin_fit(folder: Path, loaded: LoadedScenario) -> FittedMixture | None:
    """The mixture fitted to the round-0 answers of the run in ``folder``; None when round 0 is not committed
    yet or the scenario writes its own [gmm] table (which then wins)."""
    log = RoundLog(folder)
    if "gmm" in loaded.scenario.model_fields_set or not log.committed():
        return None
    arrays = log.arrays(0)
    _, humans = log.initial()
    return fit_mixture(
        arrays.embeddings, arrays.owners, loaded.scenario.network.n, humans, loaded.scenario.seed
    )


def twin_metrics(
    loaded: LoadedScenario, human_points: int, fitted: FittedMixture | None = None
) -> dict[str, np.ndarray]:
    """Every metric of the twin the GMM mode computes: ``{column: (R, T+1)}``."""
    return metric_table(twin_of(loaded, human_points, fitted), loaded.scenario, loaded.base)


def write_twin(folder: Path, loaded: LoadedScenario) -> dict[str, np.ndarray]:
    """Simulate the twin of the run in ``folder``, write ``twin/metrics.csv`` (replicate, round, metrics) and
    record its mixture in the manifest (``twin``: the fit, or the scenario's)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    posts = manifest.corpus["posts"]
    fitted = twin_fit(folder, loaded)
    table = twin_metrics(loaded, posts, fitted)
    (folder / TWIN_DIR).mkdir(exist_ok=True)
    write_metric_table(folder / TWIN_DIR / "metrics.csv", table)
    mixture = (
        fitted.describe()
        if fitted
        else {"kind": "scenario", "gmm": loaded.scenario.gmm.model_dump(mode="json")}
    )
    write_json(folder / MANIFEST, manifest.with_section("twin", mixture))
    return table


def read_twin(folder: Path) -> dict[str, np.ndarray] | None:
    """The twin's metrics written in ``folder`` (``{column: (R, T+1)}``, ``frobenius`` among them), or None."""
    path = Path(folder) / TWIN_DIR / "metrics.csv"
    return read_metric_table(path) if path.is_file() else None
