"""The matched GMM twin of an LLM run: Algorithm 3 on the same network — n, topology, data regime, β per
model, L, T, seed and |A⁽⁰⁾| (the corpus size, unless the scenario's [gmm.human] sets its own) — with the
scenario's [gmm] mixture (the paper's B = 2 proxy when it has none). ``lwd run --gmm-twin``, ``lwd report`` and
the TUI overlay the two curves of ‖D⁽ᵗ⁾‖_F, each divided by its value at round 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lwd.gmm.config import HumanData
from lwd.gmm.simulate import GMMRun
from lwd.scenario import LoadedScenario

__all__ = ["twin_of", "normalised", "write_twin", "TWIN_DIR"]

TWIN_DIR = "twin"


def twin_of(loaded: LoadedScenario, human_points: int) -> GMMRun:
    """The GMM proxy of the LLM scenario's network, with |A⁽⁰⁾| = ``human_points`` unless [gmm.human] is set."""
    from lwd.gmm_mode import simulate_network

    s = loaded.scenario
    config = s.gmm
    if "human" not in config.model_fields_set:
        config = config.model_copy(update={"human": HumanData(points=human_points)})
    return simulate_network(s, loaded.base, config=config)


def normalised(values: np.ndarray) -> np.ndarray:
    """Values divided by their first entry along the last axis (NaN where that is 0)."""
    values = np.asarray(values, dtype=float)
    first = values[..., :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(first != 0, values / first, np.nan)


def write_twin(folder: Path, loaded: LoadedScenario) -> GMMRun:
    """Simulate the twin of the run in ``folder`` and write ``twin/metrics.csv`` (replicate,round,frobenius)."""
    folder = Path(folder)
    posts = json.loads((folder / "manifest.json").read_text())["corpus"]["posts"]
    run = twin_of(loaded, posts)
    (folder / TWIN_DIR).mkdir(exist_ok=True)
    rep, rnd = np.meshgrid(np.arange(run.frobenius.shape[0]), np.arange(run.rounds + 1), indexing="ij")
    np.savetxt(
        folder / TWIN_DIR / "metrics.csv",
        np.column_stack([rep.ravel(), rnd.ravel(), run.frobenius.ravel()]),
        fmt=["%d", "%d", "%.17g"],
        delimiter=",",
        header="replicate,round,frobenius",
        comments="",
    )
    return run


def read_twin(folder: Path) -> np.ndarray | None:
    """(R, T+1) ‖D‖_F of the twin written in ``folder``, or None."""
    path = Path(folder) / TWIN_DIR / "metrics.csv"
    if not path.is_file():
        return None
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    reps = int(data[:, 0].max()) + 1
    return data[:, 2].reshape(reps, -1)
