"""Replicates of an LLM run (`lwd run --replicates`) and `lwd compare`, on fake agents."""

import csv

import numpy as np
import pytest
from conftest import FAKE_SCENARIO, offline_page, read_rows, write_scenario
from typer.testing import CliRunner

from lwd.cli import app
from lwd.report.compare import read_sources, write_comparison
from lwd.run.llm import start_run
from lwd.run.scenario import load_scenario

runner = CliRunner()


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replicates")
    path = write_scenario(tmp, FAKE_SCENARIO)
    out = tmp / "set"
    result = runner.invoke(app, ["run", str(path), "--replicates", "3", "-T", "4", "-L", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return tmp, path, out, result.output


def test_replicates_run_every_seed_and_summarise_them(replicated):
    tmp, path, out, output = replicated
    summary = read_rows(out / "summary.csv")
    assert [r["seed"] for r in summary] == ["3", "4", "5"]  # the scenario's seed and the next ones
    for column in ("frobenius", "between_share", "energy"):
        assert {f"initial_{column}", f"final_{column}", f"ratio_{column}"} <= set(summary[0])
    assert {"initial_energy_p", "final_energy_p"} <= set(summary[0]) and "ratio_energy_p" not in summary[0]
    assert "onset" in summary[0] and (out / "figures" / "bands.png").is_file()
    offline_page(out / "report.html", charts=4)
    bands = read_rows(out / "bands.csv")
    assert {b["column"] for b in bands} == {"frobenius", "between_share", "energy", "energy_p"}
    assert {b["seeds"] for b in bands} == {"3"} and len(bands) == 4 * 5
    assert "final/initial over 3 seeds" in output and "collapse onset" in output


def test_each_replicate_is_the_run_with_that_seed(replicated, tmp_path):
    _, path, out, _ = replicated
    seed4 = next(out.glob("cells/*/seed-4"))
    direct = start_run(
        load_scenario(path, {"seed": 4, "network.rounds": 4, "network.samples": 3}), tmp_path / "d"
    )
    assert (seed4 / "metrics.csv").read_bytes() == (direct / "metrics.csv").read_bytes()
    bands = [b for b in read_rows(out / "bands.csv") if b["column"] == "frobenius" and b["round"] == "2"]
    values = [float(r["frobenius"]) for r in read_rows(out / "results.csv") if r["round"] == "2"]
    assert float(bands[0]["mean"]) == pytest.approx(np.mean(values))


def test_running_the_same_replicates_again_skips_the_finished_seeds(replicated):
    _, path, out, _ = replicated
    before = (out / "results.csv").read_bytes()
    again = runner.invoke(
        app, ["run", str(path), "--replicates", "3", "-T", "4", "-L", "3", "-o", str(out), "-q"]
    )
    assert again.exit_code == 0, again.output
    assert (out / "results.csv").read_bytes() == before


def test_compare_overlays_runs_replicate_sets_and_gmm_runs(replicated, tmp_path):
    _, path, out, _ = replicated
    single = start_run(load_scenario(path, {"network.rounds": 4, "network.samples": 3}), tmp_path / "one")
    assert (
        runner.invoke(app, ["gmm", "paper-gmm-b2", "-T", "4", "-q", "-o", str(tmp_path / "gmm")]).exit_code
        == 0
    )
    target = tmp_path / "cmp"
    result = runner.invoke(
        app,
        [
            "compare",
            str(out),
            str(single),
            str(tmp_path / "gmm"),
            "-o",
            str(target),
            "-l",
            "three",
            "-l",
            "one",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = {r["source"]: r for r in read_rows(target / "summary.csv")}
    assert set(summary) == {"three", "one", "gmm"}
    assert summary["three"]["seeds"] == "3" and summary["gmm"]["seeds"] == "5"
    assert summary["gmm"]["onsets"] == "" and len(summary["three"]["onsets"].split()) == 3
    ratios = [float(r["ratio_frobenius"]) for r in read_rows(out / "summary.csv")]
    assert float(summary["three"]["ratio_frobenius"]) == pytest.approx(np.mean(ratios))
    with open(target / "compare.csv", newline="") as fh:
        tidy = list(csv.DictReader(fh))
    assert len(tidy) == (3 + 1 + 5) * 5
    assert all(np.isfinite(float(row["frobenius"])) for row in tidy)  # plain numbers, not numpy reprs
    assert (target / "figures" / "compare.png").is_file()
    page = offline_page(target / "report.html", charts=4)  # ‖D‖_F, between share, ‖E‖_F, p-values
    assert "(5 seeds)" in page


def test_compare_reads_every_cell_of_a_sweep_as_a_source(replicated, tmp_path):
    _, _, out, _ = replicated
    sources = read_sources([out])
    assert len(sources) == 1 and sources[0].seeds == [3, 4, 5]
    write_comparison(sources, tmp_path / "c")
    assert (tmp_path / "c" / "summary.csv").is_file()


def test_compare_refuses_what_is_not_a_run_folder(tmp_path):
    result = runner.invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 2 and "not an lwd run folder" in result.output
