"""``lwd sweep``: a grid of scenario overrides × seeds, run as Ray tasks.

A sweep file names a base scenario, the grid (dotted scenario keys → lists of values) and the seeds::

    scenario = "paper-gmm-b2"        # a shipped name, or a path relative to this file
    seeds = 4                        # 0..3, or a list
    threshold = 0.5                  # "collapsed" once ‖D‖_F ≤ threshold × its round-0 value (relative = true)

    [grid]
    "network.beta" = [0.2, 0.5]
    topology = [{ name = "complete" }, { name = "ring" }]

    [overrides]                      # applied to every cell, e.g. LLM agents on a shared inference server:
    # "agents.*" = { backend = "openai", base_url = "http://gpu-node:8000/v1", model = "llama-3.1-8b" }

    [ray]
    num_cpus = 1                     # CPUs per cell (Ray schedules as many cells at once as fit)

Each (cell, seed) is one Ray task (a local Ray instance unless ``--address`` joins a cluster; without Ray
installed, the cells run one after another in this process). A task returns its rows to the driver, which writes ``cells/<cell>/seed-<s>.json`` as the task finishes: re-running the sweep skips
every (cell, seed) already there. A task that fails is recorded with its error (``failures.csv``) and the others go
on. The tables and the figure (``results.csv``, ``summary.csv``, ``failures.csv``, ``figures/summary.png``) are
the report's, drawn from ``cells/`` (:mod:`lwd.report.sweep`). A cell's rows hold every metric its mode computes.
A sweep without ``[grid]`` is replicates of one scenario: ``lwd run SCENARIO --replicates R`` builds one.
GMM cells run one replicate per seed (the seed is the replicate); LLM cells write their run folder under
``cells/<cell>/seed-<s>/`` on the machine that ran them (use a shared filesystem for ``--out`` on a cluster).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from lwd.core.errors import ConfigError, RunFolderError, SetupError
from lwd.core.files import write_json
from lwd.core.validation import FrozenModel, describe, read_toml
from lwd.run.folder import check_creatable, make_folder
from lwd.run.gmm import check_network_memory, expectation_table, metric_table, simulate_scenario
from lwd.run.kinds import CellStatus, RunKind
from lwd.run.llm import resume_run, start_run
from lwd.run.manifest import MANIFEST, header, versions
from lwd.run.records import BOOKKEEPING
from lwd.run.scenario import load_scenario
from lwd.run.sweep_runners import on_ray, pick_runner
from lwd.scenarios import resolve

__all__ = [
    "Cell",
    "SweepConfig",
    "RayOptions",
    "load_sweep",
    "run_sweep",
    "run_cells",
    "replicates",
    "cells_of",
    "label",
    "result_path",
    "read_result",
]

# Every Ray worker: no downloads, and one numba/BLAS thread per CPU the task asked for (set in run_sweep).


class RayOptions(FrozenModel):
    num_cpus: float = Field(default=1, gt=0, description="CPUs each cell's task reserves")
    num_gpus: float = Field(default=0, ge=0, description="GPUs each cell's task reserves")


class SweepConfig(FrozenModel):
    scenario: str = Field(
        min_length=1, description="base scenario: a shipped name or a path relative to the sweep"
    )
    description: str = ""
    seeds: int | tuple[int, ...] = Field(default=3, description="a count (seeds 0..N−1) or a list of seeds")
    grid: dict[str, tuple[Any, ...]] = Field(
        default_factory=dict, description="dotted scenario key -> the values to sweep (none: replicates)"
    )
    overrides: dict[str, Any] = Field(default_factory=dict, description="applied to every cell")
    threshold: float = Field(default=0.5, gt=0, description="the collapse threshold on ‖D‖_F")
    relative: bool = Field(default=True, description="threshold × ‖D⁽⁰⁾‖_F (true) or an absolute value")
    ray: RayOptions = Field(default_factory=RayOptions)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: int | tuple[int, ...]) -> tuple[int, ...]:
        seeds = tuple(range(value)) if isinstance(value, int) else value
        if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
            raise ValueError(f"expected a count ≥ 1 or a list of distinct seeds ≥ 0, got {value!r}")
        return seeds

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
        empty = [k for k, v in value.items() if not v]
        if empty:
            raise ValueError(f"expected at least one value for {', '.join(empty)}")
        return value


@dataclass(frozen=True)
class Cell:
    """One combination of the grid's values."""

    params: dict[str, Any]

    @property
    def labels(self) -> dict[str, str]:
        """The swept values as short labels (a table value such as a topology by its name and settings)."""
        return {k: label(v) for k, v in self.params.items()}

    @property
    def id(self) -> str:
        text = "_".join(f"{k.split('.')[-1]}={v}" for k, v in self.labels.items())
        slug = re.sub(r"[^A-Za-z0-9=._-]+", "-", text)[:80] or "scenario"  # no grid: the scenario itself
        digest = hashlib.sha256(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:8]
        return f"{slug}-{digest}"


def label(value: Any) -> str:
    """A swept value as a short label: a table (a topology) by its name and settings."""
    if isinstance(value, dict):
        rest = ",".join(f"{k}={v}" for k, v in value.items() if k not in ("name", "module"))
        return f"{value.get('name', '?')}" + (f"({rest})" if rest else "")
    return str(value)


def load_sweep(path: Path) -> tuple[SweepConfig, Path]:
    """The sweep file validated, and the base scenario's file."""
    path = Path(path)
    _, raw = read_toml(path, "sweep", "See `lwd sweep --help` for the format.")
    try:
        config = SweepConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError.invalid("sweep", str(path), describe(exc, raw, {}, SweepConfig)) from None
    base = path.parent / config.scenario
    try:
        scenario = resolve(base if base.is_file() else config.scenario)
    except ConfigError as exc:
        raise ConfigError(f"sweep {path}: `scenario` = {config.scenario!r}: {exc}") from None
    return config, scenario


def cells_of(config: SweepConfig) -> list[Cell]:
    keys = list(config.grid)
    return [Cell(dict(zip(keys, values, strict=True))) for values in itertools.product(*config.grid.values())]


def _number(text: str) -> float:
    return float(text) if text else float("nan")  # an empty cell: a metric undefined that round


def run_cell(scenario: str, overrides: dict, seed: int, folder: str) -> dict:
    """One (cell, seed): validate the cell's scenario, run it, return its per-round rows (never raises)."""
    started = time.perf_counter()
    try:
        loaded = load_scenario(scenario, {**overrides, "seed": seed, "replicates": 1})
        s = loaded.scenario
        if s.kind is RunKind.GMM:
            run = simulate_scenario(loaded)
            table = {
                **metric_table(run, s, loaded.base),
                **expectation_table(run, loaded),
            }  # Appendix A beside
            rows = [
                {"round": t, **{c: float(v[0, t]) for c, v in table.items()}} for t in range(run.rounds + 1)
            ]
        else:
            out = Path(folder)
            resume_run(out) if (out / MANIFEST).is_file() else start_run(loaded, out)
            with open(out / "metrics.csv", newline="", encoding="utf-8") as fh:
                rows = [
                    {
                        "round": int(r["round"]),
                        **{k: _number(v) for k, v in r.items() if k not in ("round", *BOOKKEEPING)},
                    }
                    for r in csv.DictReader(fh)
                ]
        return {
            "status": CellStatus.OK,
            "rows": rows,
            "settings": s.metrics.model_dump(),
            "names": list(s.names),
            "communities": {k: list(v) for k, v in s.wiring(loaded.base).communities.items()},
            "seconds": time.perf_counter() - started,
            "host": os.uname().nodename,
        }
    except BaseException as exc:  # noqa: BLE001 - a failed cell is a result, reported with its error
        return {
            "status": CellStatus.FAILED,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "seconds": time.perf_counter() - started,
            "host": os.uname().nodename,
        }


@dataclass
class SweepResult:
    folder: Path
    done: int
    skipped: int
    failed: list[tuple[str, int, str]]


ProgressCallback = Callable[[Cell, int, dict], None]
StartCallback = Callable[[list[Cell], list[int], set[tuple[str, int]]], None]


def run_sweep(
    path: Path,
    out: Path,
    address: str | None = None,
    on_start: StartCallback | None = None,
    on_result: ProgressCallback | None = None,
    finish: Callable[[Path], object] | None = None,
) -> SweepResult:
    """The sweep file at ``path``, run into ``out`` (see :func:`run_cells`)."""
    config, scenario = load_sweep(path)
    return run_cells(config, scenario, out, address, on_start, on_result, finish, source=Path(path))


def check_cells(config: SweepConfig, scenario: Path, source: Path | None = None) -> None:
    """Validate every cell's scenario before anything starts: one ConfigError naming the sweep file, each
    problem once (with the cells it is in), nothing created."""
    problems: dict[str, list[str]] = {}
    for cell in cells_of(config):
        overrides = {**config.overrides, **cell.params, "seed": config.seeds[0], "replicates": 1}
        try:
            loaded = load_scenario(
                scenario, overrides, origin=f"the sweep {source}" if source else "the sweep"
            )
            if loaded.scenario.kind is RunKind.GMM:
                check_network_memory(loaded.scenario)  # a cell too large for this machine, before any starts
        except (ConfigError, SetupError) as exc:
            name = ", ".join(f"{k}={v}" for k, v in cell.labels.items()) or "the scenario"
            for problem in getattr(exc, "problems", None) or [str(exc)]:
                problems.setdefault(problem, []).append(name)
    if problems:
        raise ConfigError.invalid(
            "sweep",
            f"{source or scenario} (its cells run scenario {scenario})",
            [
                f"{problem} [cell {cells[0]}" + (f" and {len(cells) - 1} more]" if len(cells) > 1 else "]")
                for problem, cells in problems.items()
            ],
        )


def replicates(scenario: Path, seeds: list[int], overrides: dict[str, Any], num_cpus: float) -> SweepConfig:
    """A scenario run with several seeds, as a sweep without a grid (`lwd run SCENARIO --replicates R`)."""
    return SweepConfig(
        scenario=str(scenario),
        description=f"{len(seeds)} replicates of {scenario}",
        seeds=tuple(seeds),
        overrides=overrides,
        ray=RayOptions(num_cpus=num_cpus),
    )


def run_cells(
    config: SweepConfig,
    scenario: Path,
    out: Path,
    address: str | None = None,
    on_start: StartCallback | None = None,
    on_result: ProgressCallback | None = None,
    finish: Callable[[Path], object] | None = None,
    source: Path | None = None,
) -> SweepResult:
    """Run every (cell, seed) of ``config`` not finished yet in ``out``: as Ray tasks where Ray is installed (a
    local instance, or the cluster at ``address``), else one after another in this process. Then
    ``finish(out)`` (the interfaces: the report)."""
    check_cells(config, scenario, source)
    runner = pick_runner(address)  # a refusal leaves nothing behind
    out = Path(out)
    check_creatable(out)
    if out.is_dir() and any(out.iterdir()) and not (out / "cells").is_dir():
        raise RunFolderError(
            f"output folder {out} holds something other than a sweep (lwd never overwrites a run)",
            fix="choose another --out (giving a sweep's own folder again finishes the cells it lacks)",
        )
    cells = cells_of(config)
    make_folder(out / "cells")
    if source is not None and not (out / "sweep.toml").exists():
        (out / "sweep.toml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    finished = {(c.id, s) for c in cells for s in config.seeds if _finished(out, c, s)}
    if on_start:
        on_start(cells, list(config.seeds), finished)
    runnable = [(c, s) for c in cells for s in config.seeds if (c.id, s) not in finished]
    failed: list[tuple[str, int, str]] = []

    def record(cell: Cell, seed: int, result: dict) -> None:
        result = {"cell": cell.id, "seed": seed, "params": cell.params, "labels": cell.labels, **result}
        result_path(out, cell, seed).parent.mkdir(parents=True, exist_ok=True)
        write_json(result_path(out, cell, seed), result)
        if result["status"] is not CellStatus.OK:
            failed.append((cell.id, seed, result["error"]))
        if on_result:
            on_result(cell, seed, result)

    started = time.perf_counter()
    if runnable:
        overrides = config.overrides
        jobs = [
            (c, s, (str(scenario), {**overrides, **c.params}, s, str(_run_path(out, c, s))))
            for c, s in runnable
        ]
        runner(run_cell, jobs, config.ray, address, record)
    _write_manifest(out, source, config, scenario, cells, address, time.perf_counter() - started, runner)
    if finish is not None:
        finish(out)
    return SweepResult(out, len(runnable), len(finished), failed)


def result_path(out: Path, cell: Cell, seed: int) -> Path:
    """Where the result of (cell, seed) is saved as it arrives."""
    return out / "cells" / cell.id / f"seed-{seed}.json"


def _run_path(out: Path, cell: Cell, seed: int) -> Path:
    return out / "cells" / cell.id / f"seed-{seed}"


def _finished(out: Path, cell: Cell, seed: int) -> bool:
    result = read_result(out, cell, seed)
    return result is not None and result["status"] is CellStatus.OK


def read_result(out: Path, cell: Cell, seed: int) -> dict | None:
    """The saved result of (cell, seed): ``status`` a :class:`CellStatus`, a metric that was NaN (``null`` in
    the strict JSON) NaN again; None when there is none yet or it is unreadable (the cell runs again)."""
    try:
        data = json.loads(result_path(out, cell, seed).read_text(encoding="utf-8"))
        data["status"] = CellStatus(data["status"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    rows = data.get("rows") or []
    data["rows"] = [{k: math.nan if v is None else v for k, v in row.items()} for row in rows]
    return data


def _write_manifest(out, path, config, scenario, cells, address, seconds, runner) -> None:
    write_json(
        out / MANIFEST,
        {
            **header(RunKind.SWEEP),
            "sweep": config.model_dump(mode="json"),
            "sweep_file": str(Path(path).resolve()) if path else None,
            "scenario_file": str(scenario),
            "cells": {c.id: c.params for c in cells},
            "ray_address": (address or "local") if runner is on_ray else "none (in this process)",
            "seconds_this_run": round(seconds, 3),
            "versions": versions(),
        },
    )
