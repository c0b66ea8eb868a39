"""`lwd gmm` and `lwd scenarios` as a user runs them: the run folder, its files, and the refusals."""

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import offline_page
from typer.testing import CliRunner

from lwd.cli import app
from lwd.run.gmm import simulate_scenario
from lwd.run.scenario import load_scenario
from lwd.scenarios import available

runner = CliRunner()


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture(scope="module")
def gmm_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "b2"
    result = runner.invoke(
        app, ["gmm", "paper-gmm-b2", "--rounds", "6", "--replicates", "2", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_run_folder_has_every_output(gmm_folder):
    names = {p.relative_to(gmm_folder).as_posix() for p in gmm_folder.rglob("*") if p.is_file()}
    assert names == {
        "metrics.csv",
        "weights.csv",
        "rounds.csv",
        "scenario.toml",
        "manifest.json",
        "figures/frobenius.png",
        "figures/densities.png",
        "figures/metrics.png",
        "figures/appendix-a.png",
        "expectation.csv",
        "report.html",
    }
    offline_page(
        gmm_folder / "report.html", charts=1
    )  # ‖D‖_F over rounds: bands of the replicates and theory
    for png in ("frobenius", "densities", "appendix-a"):
        assert (gmm_folder / "figures" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(gmm_folder.parent.glob(".*partial*"))  # the staging folder is gone


def test_metrics_csv_holds_the_simulation(gmm_folder):
    rows = read_csv(gmm_folder / "metrics.csv")
    assert rows[0] == ["replicate", "round", "frobenius"]
    assert len(rows) - 1 == 2 * 7  # replicates × rounds 0..T
    loaded = load_scenario(
        available()["paper-gmm-b2"], overrides={"network.rounds": 6, "replicates": 2, "seed": 3}
    )
    run = simulate_scenario(loaded)
    got = np.array([[float(v) for v in row] for row in rows[1:]])
    np.testing.assert_array_equal(got[:, 2].reshape(2, 7), run.frobenius)  # written at full precision
    weights = read_csv(gmm_folder / "weights.csv")
    assert weights[0] == ["replicate", "round", "model", "pi_0", "pi_1"]
    assert len(weights) - 1 == 2 * 7 * 3
    rounds = read_csv(gmm_folder / "rounds.csv")
    assert rounds[0] == ["round", "model", "store_size", "visible", "k", "alpha", "c"]
    assert [int(r[2]) for r in rounds[1:]] == [9 * t for t in range(7) for _ in range(3)]  # |A_t| per model
    assert [int(r[4]) for r in rounds[1:]] == [9 * t // 2 for t in range(7) for _ in range(3)]  # ⌊0.5·|A_t|⌋


def test_manifest_pins_what_ran(gmm_folder):
    manifest = json.loads((gmm_folder / "manifest.json").read_text())
    assert manifest["kind"] == "gmm"
    assert manifest["seed"] == 3 and manifest["replicates"] == 2
    assert manifest["scenario"]["name"] == "paper-gmm-b2"
    assert manifest["scenario"]["overrides"] == {"replicates": 2, "seed": 3, "network.rounds": 6}
    assert manifest["scenario"]["resolved"]["network"]["rounds"] == 6
    assert len(manifest["scenario"]["sha256"]) == 64
    assert {"python", "numpy", "numba", "llm-web-dynamics"} <= set(manifest["versions"])
    assert "manifest.json" in manifest["outputs"] and "figures/frobenius.png" in manifest["outputs"]


def test_existing_folder_is_never_overwritten(gmm_folder):
    before = (gmm_folder / "metrics.csv").read_bytes()
    result = runner.invoke(app, ["gmm", "paper-gmm-b2", "--rounds", "2", "--out", str(gmm_folder)])
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert (gmm_folder / "metrics.csv").read_bytes() == before


def test_bad_scenario_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('description = "x"\n[network]\nn = 3\nbeta = 7\nsamples = 3\nrounds = 5\n')
    out = tmp_path / "out"
    result = runner.invoke(app, ["gmm", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert "network.beta" in result.output and str(bad) in result.output
    assert not out.exists()


def test_scenarios_lists_every_shipped_file_with_its_description():
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0
    for name in available():
        assert name in result.output
    assert "Paper Fig. 4/5" in result.output


def test_help_reads_like_documentation():
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "gmm" in top.output and "scenarios" in top.output
    gmm = runner.invoke(app, ["gmm", "--help"])
    for words in ("--replicates", "--seed", "--out", "metrics.csv", "Algorithm"):
        assert words in gmm.output


def test_console_script_is_installed(tmp_path):
    """The real `lwd` entry point, in a subprocess, the way the README runs it."""
    exe = shutil.which("lwd") or str(__import__("pathlib").Path(sys.executable).parent / "lwd")
    out = tmp_path / "cli"
    proc = subprocess.run(
        [exe, "gmm", "paper-gmm-b11", "--rounds", "3", "--replicates", "1", "-q", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "metrics.csv").is_file()


def test_a_gmm_run_imports_no_llm_stack_and_not_dcor(tmp_path):
    """`lwd gmm` with its report needs neither dcor (its import compiles numba code for ~14 s: an LLM run's
    energy test imports it where it is used) nor torch, sklearn or chromadb."""
    script = (
        "import sys\nfrom typer.testing import CliRunner\nfrom lwd.cli import app\n"
        f"r = CliRunner().invoke(app, ['gmm', 'paper-gmm-b2', '-o', {str(tmp_path / 'run')!r}, '-q', "
        "'--replicates', '2', '--rounds', '20'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('dcor', 'torch', 'sklearn', 'chromadb') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "run" / "report.html").is_file()
