"""A core-only install (`pip install .`, no extras) runs the GMM mode on every shipped GMM scenario and on every
built-in topology, draws its report, and refuses the LLM mode, the TUI and sweeps naming the extra to install.

Runs against the interpreter of a second virtual environment, ``LWD_CORE_PYTHON`` (``make test`` builds it in
``.venv-core``); skipped when that is not set.
"""

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from lwd.internet import topologies
from lwd.scenarios import available

# absolute, not resolved: a venv's python is a link to the base interpreter
CORE = os.path.abspath(os.environ["LWD_CORE_PYTHON"]) if os.environ.get("LWD_CORE_PYTHON") else None
pytestmark = pytest.mark.skipif(not CORE, reason="LWD_CORE_PYTHON is not set (make test sets it: .venv-core)")

SETTINGS = {  # n = 6 models; every built-in topology with settings that fit
    "complete": "",
    "ring": "neighbours = 1",
    "star": "hub = 2",
    "erdos_renyi": "p = 0.4",
    "small_world": "neighbours = 2\np = 0.3",
    "communities": "groups = 2\np_out = 0.2",
    "edge_list": 'file = "edges.txt"\ncommunities = { left = [0, 1, 2], right = [3, 4, 5] }',
}


def lwd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    command = str(Path(CORE).with_name("lwd"))  # the console script: the source tree is not on its path
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=300, cwd=cwd, check=False)


def test_the_core_environment_has_no_extras():
    probe = "import importlib.util as u; print([m for m in ('langchain_core', 'chromadb', 'torch', "
    probe += "'sentence_transformers', 'textual', 'ray') if u.find_spec(m)])"
    result = subprocess.run([CORE, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", [n for n, p in available().items() if "[[agents]]" not in p.read_text()])
def test_every_shipped_gmm_scenario_runs_and_reports(name, tmp_path):
    out = tmp_path / "run"
    result = lwd("gmm", name, "--rounds", "4", "--replicates", "2", "-q", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert {"frobenius.png", "densities.png", "metrics.png"} <= {p.name for p in (out / "figures").iterdir()}
    again = lwd("report", str(out))
    assert again.returncode == 0, again.stderr


def test_the_list_of_topologies_is_every_built_in_one():
    from lwd.internet import builtin_topologies

    built_in = [
        n for n in topologies.available() if topologies.get(n).__module__ == builtin_topologies.__name__
    ]
    assert sorted(built_in) == sorted(SETTINGS)


@pytest.mark.parametrize("topology", sorted(SETTINGS))
def test_a_gmm_network_runs_on_every_built_in_topology(topology, tmp_path):
    (tmp_path / "edges.txt").write_text("0 1\n1 2\n2 0\n3 4\n4 5\n5 3\n2 3\n")
    scenario = tmp_path / "net.toml"
    scenario.write_text(
        textwrap.dedent(f"""
        description = "six GMMs on a {topology} network"
        [network]
        n = 6
        beta = 0.5
        samples = 3
        rounds = 5
        [topology]
        name = "{topology}"
        """)
        + SETTINGS[topology]
        + "\n"
    )
    out = tmp_path / "run"
    result = lwd("gmm", str(scenario), "-q", "-o", str(out))
    assert result.returncode == 0, result.stderr
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("replicate,round,frobenius")
    if topology in ("communities", "edge_list"):
        assert header.endswith(",between") and (out / "figures" / "communities.png").is_file()


@pytest.mark.parametrize(
    "args,extra",
    [
        (["run", "quick"], "llm"),
        (["resume", "."], None),  # not a run folder: said so, without importing the LLM stack
        (["tui", "quick"], "tui"),
        (["sweep", "sweeps/gmm-topologies", "--address", "auto"], "ray"),  # a cluster needs Ray
    ],
)
def test_what_needs_an_extra_says_which_one(args, extra, tmp_path):
    out = tmp_path / "out"
    result = lwd(*args, *(["-o", str(out)] if args[0] in ("run", "sweep") else []), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and not out.exists()
    if extra:
        assert f"pip install 'llm-web-dynamics[{extra}]'" in message
    else:
        assert "not an lwd run folder" in message


def test_a_sweep_runs_in_this_process_without_ray(tmp_path):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        'scenario = "paper-gmm-b2"\nseeds = 2\n[grid]\n"network.beta" = [0.2, 0.5]\n'
        '[overrides]\n"network.rounds" = 5\n'
    )
    result = lwd("sweep", str(sweep), "-o", str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "out" / "summary.csv").read_text().splitlines()) == 1 + 2 * 2
