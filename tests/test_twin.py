"""The matched GMM twin: same network as the LLM run, overlaid in the report, each curve ÷ its round-0 value."""

import numpy as np
from conftest import FAKE_SCENARIO, write_scenario
from typer.testing import CliRunner

from lwd.cli import app
from lwd.gmm.simulate import simulate
from lwd.report import normalised
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario
from lwd.run.twin import read_twin, twin_of


def test_lwd_run_gmm_twin_writes_the_twin_and_the_overlay(tmp_path):
    text = FAKE_SCENARIO + '\n[topology]\nname = "ring"\ndirected = true\n\n[internet]\nregime = "replace"\n'
    path = write_scenario(tmp_path, text)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "--gmm-twin", "-q"])
    assert result.exit_code == 0, result.output
    twin = read_twin(tmp_path / "run")["frobenius"]
    assert twin.shape == (1, 4)  # one replicate, rounds 0..3 like the LLM run
    assert (tmp_path / "run" / "figures" / "twin.png").read_bytes()[:4] == b"\x89PNG"
    # the same network: 3 models, the scenario's β, L, T and seed, the directed ring, replace, |A⁽⁰⁾| = 20 posts
    ring = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1]], dtype=bool)
    loaded = load_scenario(path)
    expected = simulate(
        loaded.scenario.gmm.model_copy(
            update={"human": loaded.scenario.gmm.human.model_copy(update={"points": 20})}
        ),
        n=3,
        beta=0.5,
        samples=4,
        rounds=3,
        seed=3,
        reads=ring,
        internet=loaded.scenario.internet,
    )
    np.testing.assert_array_equal(twin, expected.frobenius)
    np.testing.assert_array_equal(twin_of(loaded, 20).frobenius, expected.frobenius)


def test_report_gmm_twin_adds_a_twin_to_an_existing_run(tmp_path):
    path = write_scenario(tmp_path, FAKE_SCENARIO.replace("rounds = 3", "rounds = 1"))
    assert CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "-q"]).exit_code == 0
    assert read_twin(tmp_path / "run") is None
    result = CliRunner().invoke(app, ["report", str(tmp_path / "run"), "--gmm-twin"])
    assert result.exit_code == 0, result.output
    assert "twin.png" in result.output and read_twin(tmp_path / "run")["frobenius"].shape == (1, 2)
    assert RoundLog(tmp_path / "run").next_round() == 2


def test_normalised_divides_by_round_0():
    np.testing.assert_allclose(normalised([[2.0, 1.0, 0.5], [4.0, 4.0, 8.0]]), [[1, 0.5, 0.25], [1, 1, 2]])
    assert np.isnan(normalised([0.0, 1.0])).all()
