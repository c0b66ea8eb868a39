"""`lwd sweep` on a real local Ray instance: a 2×2 grid × 2 seeds of the GMM mode, skip-finished, failed cells."""

import csv
import json
import textwrap

import numpy as np
import pytest
from conftest import offline_page
from typer.testing import CliRunner

from lwd.cli import app
from lwd.core.errors import ConfigError
from lwd.core.trust import TRUST_ENV
from lwd.report.sources import mean_interval
from lwd.report.sweep import first_below, write_sweep_report
from lwd.run.gmm import simulate_scenario
from lwd.run.scenario import load_scenario
from lwd.run.sweep import CellStatus, load_sweep, run_cell, run_sweep
from lwd.scenarios import available, sweeps

pytest.importorskip("ray")

SWEEP = """
scenario = "paper-gmm-b2"
seeds = 2
threshold = 0.5

[grid]
topology = [{ name = "complete" }, { name = "ring" }]
"network.beta" = [0.2, 0.5]

[overrides]
"network.n" = 4
"network.rounds" = 20
"""

# a topology that builds in the driver (where the cell is validated) and fails inside a Ray worker
FLAKY = """
import networkx as nx
import ray

from lwd.internet.topologies import Topology, register


@register("flaky")
class Flaky(Topology):
    def graph(self, ctx):
        if ray.is_initialized():
            raise RuntimeError("the flaky topology broke inside a worker")
        return nx.complete_graph(ctx.n)
"""


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    path = tmp / "sweep.toml"
    path.write_text(SWEEP)
    seen = []
    result = run_sweep(
        path,
        tmp / "out",
        on_result=lambda cell, seed, res: seen.append((cell.id, seed)),
        finish=write_sweep_report,
    )
    return tmp, path, result, seen


def test_a_local_ray_sweep_runs_every_cell_and_seed(sweep):
    tmp, _, result, seen = sweep
    assert result.done == 8 and result.skipped == 0 and result.failed == []
    assert len(set(seen)) == 8  # progress reported once per (cell, seed)
    table = rows(tmp / "out" / "results.csv")
    assert list(table[0]) == [
        *("cell", "seed", "topology", "network.beta", "round", "frobenius"),
        *("appendix_a", "with_draw_noise", "factor"),  # Appendix A beside every GMM cell
    ]
    assert len(table) == 2 * 2 * 2 * 21  # cells × seeds × rounds 0..T
    summary = rows(tmp / "out" / "summary.csv")
    assert len(summary) == 8
    assert (tmp / "out" / "figures" / "summary.png").read_bytes()[:4] == b"\x89PNG"
    page = offline_page(tmp / "out" / "report.html", charts=1)  # ‖D‖_F of the GMM cells, a band per cell
    assert page.count("(2 seeds)") >= 4
    manifest = json.loads((tmp / "out" / "manifest.json").read_text())
    assert manifest["kind"] == "sweep" and len(manifest["cells"]) == 4


def test_each_cell_equals_the_same_run_made_directly(sweep):
    tmp, _, _, _ = sweep
    table = [
        r for r in rows(tmp / "out" / "results.csv") if r["topology"] == "ring" and r["network.beta"] == "0.5"
    ]
    seed1 = [float(r["frobenius"]) for r in table if r["seed"] == "1"]
    loaded = load_scenario(
        available()["paper-gmm-b2"],
        {
            "network.n": 4,
            "network.rounds": 20,
            "topology": {"name": "ring"},
            "network.beta": 0.5,
            "seed": 1,
            "replicates": 1,
        },
    )
    np.testing.assert_array_equal(seed1, simulate_scenario(loaded).frobenius[0])


def test_running_again_skips_finished_cells(sweep):
    tmp, path, _, _ = sweep
    before = (tmp / "out" / "results.csv").read_bytes()
    again = run_sweep(path, tmp / "out", finish=write_sweep_report)
    assert again.done == 0 and again.skipped == 8
    assert (tmp / "out" / "results.csv").read_bytes() == before
    # one result lost (say the machine died while writing it): only that one runs again
    lost = next((tmp / "out" / "cells").glob("*/seed-1.json"))
    lost.unlink()
    third = run_sweep(path, tmp / "out", finish=write_sweep_report)
    assert third.done == 1 and third.skipped == 7 and lost.is_file()
    assert (tmp / "out" / "results.csv").read_bytes() == before


def test_a_failing_cell_is_reported_and_the_others_finish(tmp_path, monkeypatch):
    monkeypatch.setenv(TRUST_ENV, "1")  # the sweep names a topology file: `lwd --trust-code sweep`
    (tmp_path / "flaky.py").write_text(FLAKY)
    path = tmp_path / "sweep.toml"
    path.write_text(
        SWEEP.replace(
            'topology = [{ name = "complete" }, { name = "ring" }]',
            f'topology = [{{ name = "complete" }}, {{ name = "flaky", module = "{tmp_path / "flaky.py"}" }}]',
        )
    )
    result = run_sweep(path, tmp_path / "out", finish=write_sweep_report)
    failures = rows(tmp_path / "out" / "failures.csv")
    by_cell = {(f["topology"], f["network.beta"], f["seed"]): f["error"] for f in failures}
    # the flaky topology validates in the driver and breaks in the worker: reported with its error
    assert "the flaky topology broke inside a worker" in by_cell[("flaky", "0.5", "1")]
    assert len(failures) == 4 and len(result.failed) == 4
    done = rows(tmp_path / "out" / "summary.csv")
    assert {(r["topology"], r["network.beta"]) for r in done} == {("complete", "0.2"), ("complete", "0.5")}


LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def test_a_local_sweep_listens_on_loopback_only(tmp_path):
    """Every server a local sweep starts (GCS, raylet, agents, workers) binds 127.0.0.1, never * or the
    machine's own address: checked while the Ray instance runs, on every process under this one."""
    psutil = pytest.importorskip("psutil")
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.replace("seeds = 2", "seeds = 1"))
    seen: dict[str, set[str]] = {}

    def listening(cell, seed, result):
        me = psutil.Process()
        pids = {p.pid: p for p in me.children(recursive=True)}
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
                seen.setdefault(conn.laddr.ip, set()).add(pids[conn.pid].name())

    result = run_sweep(path, tmp_path / "out", on_result=listening)
    assert not result.failed
    names = {name for found in seen.values() for name in found}
    assert any("raylet" in n for n in names) and any("gcs" in n for n in names)  # Ray's servers were seen
    assert set(seen) <= LOOPBACK, {ip: found for ip, found in seen.items() if ip not in LOOPBACK}


def test_a_cell_that_does_not_validate_refuses_the_sweep_before_anything_starts(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.replace('"network.beta" = [0.2, 0.5]', '"network.beta" = [0.5, 1.5, nan]'))
    with pytest.raises(ConfigError) as info:
        run_sweep(path, tmp_path / "out")
    said = str(info.value)
    assert said.startswith(f"Invalid sweep {path}") and "`network.beta`" in said
    assert "got 1.5 (from the sweep" in said and "got nan" in said and "[cell topology=complete" in said
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_bad_sweep_files_are_clear_errors(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SWEEP.replace("seeds = 2", "seeds = 0"))
    with pytest.raises(ConfigError, match="`seeds`"):
        load_sweep(path)
    path.write_text(SWEEP.replace('scenario = "paper-gmm-b2"', 'scenario = "nope"'))
    with pytest.raises(ConfigError, match="no shipped scenario named 'nope'"):
        load_sweep(path)
    path.write_text(SWEEP.replace("threshold = 0.5", "threshhold = 0.5"))
    with pytest.raises(ConfigError, match="threshhold"):
        load_sweep(path)


def test_shipped_sweep_is_valid_and_not_listed_as_a_scenario():
    assert "sweeps/gmm-topologies" in sweeps() and not any(k.startswith("sweeps/") for k in available())
    config, scenario = load_sweep(sweeps()["sweeps/gmm-topologies"])
    assert scenario == available()["paper-gmm-b2"] and len(config.seeds) >= 2
    assert {t["name"] for t in config.grid["topology"]} >= {"complete", "ring", "communities"}


def test_lwd_sweep_command_line(sweep):
    tmp, path, _, _ = sweep
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp / "out")])
    assert result.exit_code == 0, result.output
    assert "0 cell-seed runs done, 8 already finished, 0 failed" in result.output
    missing = CliRunner().invoke(app, ["sweep", "sweeps/none"])
    assert missing.exit_code == 2 and "sweeps/gmm-topologies" in missing.output


def test_summary_statistics():
    assert first_below([4.0, 3.0, 1.9, 2.5], 0.5, relative=True) == 2
    assert first_below([4.0, 3.0], 0.5, relative=True) is None
    assert first_below([4.0, 3.0, 1.0], 3.0, relative=False) == 1
    mean, half = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302652729911275 * 1.0 / np.sqrt(3))
    assert mean_interval([None, 5.0]) == (5.0, 0.0)


def test_docs_example_sweep_parses(tmp_path):
    from lwd.run import sweep as module

    example = textwrap.dedent(module.__doc__.split("::")[1].split("Each (cell, seed)")[0])
    path = tmp_path / "doc.toml"
    path.write_text(example)
    config, _ = load_sweep(path)
    assert config.ray.num_cpus == 1 and list(config.grid) == ["network.beta", "topology"]


def test_a_gmm_cell_carries_appendix_a_beside_its_simulation(tmp_path):
    scenario = str(available()["paper-gmm-b2"])
    result = run_cell(scenario, {"network.rounds": 30}, 0, str(tmp_path / "cell"))
    assert result["status"] is CellStatus.OK
    first, last = result["rows"][0], result["rows"][-1]
    assert first["appendix_a"] == first["with_draw_noise"] == first["frobenius"]  # the same start
    assert last["appendix_a"] < last["with_draw_noise"] < first["frobenius"]  # the expectation falls fastest
    assert 0 < last["factor"] < 1
