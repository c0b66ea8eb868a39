"""The matched GMM twin: same network as the LLM run, overlaid in the report, each curve ÷ its round-0 value."""

import json

import numpy as np
from conftest import FAKE_SCENARIO, offline_page, write_scenario
from typer.testing import CliRunner

from lwd.cli import app
from lwd.gmm.simulate import simulate
from lwd.report import normalised
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario
from lwd.run.twin import read_twin, twin_fit, twin_of


def test_lwd_run_gmm_twin_writes_the_twin_and_the_overlay(tmp_path):
    """With its own [gmm] table the scenario's mixture is the twin's (the paper's B = 2 proxy here)."""
    text = (
        FAKE_SCENARIO
        + '\n[topology]\nname = "ring"\ndirected = true\n\n[internet]\nregime = "replace"\n\n[gmm]\ncomponents = 2\n'
    )
    path = write_scenario(tmp_path, text)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "--gmm-twin", "-q"])
    assert result.exit_code == 0, result.output
    twin = read_twin(tmp_path / "run")["frobenius"]
    assert twin.shape == (1, 4)  # one replicate, rounds 0..3 like the LLM run
    assert (tmp_path / "run" / "figures" / "twin.png").read_bytes()[:4] == b"\x89PNG"
    page = offline_page(
        tmp_path / "run" / "report.html", charts=7
    )  # metrics, MDS, agent map, D, perspective, control, twin
    assert "The LLM network and its GMM twin" in page
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
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["twin"]["kind"] == "scenario"


def test_the_twin_is_fitted_to_the_runs_round_0_answers(tmp_path):
    """Without a [gmm] table: a mixture fitted to round 0 (B by BIC), each agent starting from the mean
    responsibilities of its answers, the human data from the human posts'; recorded in the manifest."""
    path = write_scenario(tmp_path, FAKE_SCENARIO)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "--gmm-twin", "-q"])
    assert result.exit_code == 0, result.output
    fit = json.loads((tmp_path / "run" / "manifest.json").read_text())["twin"]
    assert fit["kind"] == "fitted" and fit["components"] == int(min(fit["bic"], key=lambda b: fit["bic"][b]))
    assert (
        list(fit["bic"]) == ["2"] and fit["dims"] == 2 and fit["answers"] == 3 * 4
    )  # 12 answers: B = 2 only
    assert np.allclose(np.sum(fit["weights"], axis=1), 1) and len(fit["weights"]) == 3
    assert np.isfinite(fit["log_likelihood"]) and np.isclose(sum(fit["human_weights"]), 1)
    loaded = load_scenario(path)
    again = twin_fit(tmp_path / "run", loaded)  # the fit is seeded from the run seed: the same again
    assert again.describe() == {**fit, "bic": {str(b): v for b, v in again.bic.items()}}
    expected = twin_of(loaded, 20, again)
    np.testing.assert_array_equal(expected.weights[:, 0], np.repeat([again.weights], 1, axis=0))
    np.testing.assert_array_equal(read_twin(tmp_path / "run")["frobenius"], expected.frobenius)


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


def test_the_fit_finds_the_components_and_each_agents_share_of_them():
    from lwd.gmm.fit import fit_mixture

    rng = np.random.default_rng(0)
    left, right = np.eye(8)[0], -np.eye(8)[0]
    cloud = lambda centre, m: centre + 0.05 * rng.normal(size=(m, 8))  # noqa: E731
    answers = np.concatenate([cloud(left, 60), cloud(left, 30), cloud(right, 30), cloud(right, 60)])
    owners = np.repeat([0, 1, 1, 2], [60, 30, 30, 60])
    fit = fit_mixture(answers, owners, 3, humans=cloud(left, 20), seed=1)
    assert fit.components == 2
    weights = np.array(fit.weights)
    on_left = int(np.argmax(weights[0]))
    assert weights[0, on_left] > 0.99 and weights[2, on_left] < 0.01  # each agent in its own component
    assert abs(weights[1, on_left] - 0.5) < 0.02  # half and half
    assert fit.human_weights[on_left] > 0.99 and fit.explained_variance[0] > 0.9
