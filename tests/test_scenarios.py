"""Scenario files: every shipped one loads and runs; bad ones are refused with the file, key, expectation,
what was got and a fix."""

import textwrap

import numpy as np
import pytest

from lwd.core.errors import ConfigError
from lwd.run.gmm import simulate_scenario
from lwd.run.scenario import load_scenario, parse_scenario
from lwd.scenarios import available, resolve

GOOD = textwrap.dedent("""
    description = "test network"
    seed = 1
    replicates = 2

    [network]
    n = 3
    beta = 0.5
    samples = 3
    rounds = 10

    [gmm]
    components = 2
    means = [-5.0, 5.0]
""")


def test_shipped_scenarios_are_the_ones_the_issue_names():
    assert {"paper-gmm-b2", "paper-gmm-b11", "bench-gmm-n100-b11"} <= set(available())


@pytest.mark.parametrize("name", sorted(available()))
def test_every_shipped_scenario_loads_and_smoke_runs(name):
    loaded = load_scenario(available()[name], overrides={"network.rounds": 3, "replicates": 2})
    assert loaded.scenario.description
    run = simulate_scenario(loaded)
    assert run.frobenius.shape == (2, 4)
    assert np.all(np.isfinite(run.frobenius))


def test_paper_scenarios_hold_the_papers_settings():
    b2 = load_scenario(available()["paper-gmm-b2"]).scenario
    assert (b2.network.n, b2.network.beta, b2.network.samples, b2.network.rounds, b2.replicates) == (
        3,
        0.5,
        3,
        200,
        5,
    )
    np.testing.assert_array_equal(b2.gmm.means_array(), [[-5.0], [5.0]])
    np.testing.assert_array_equal(b2.gmm.covariance_matrix(), [[1.0]])
    assert b2.gmm.alpha_at(8) == 1 / 8 and b2.gmm.c_at(8) == 1 / 32 and b2.gmm.human.points == 0
    b11 = load_scenario(available()["paper-gmm-b11"]).scenario
    assert b11.gmm.means_array().shape == (11, 1)
    bench = load_scenario(available()["bench-gmm-n100-b11"]).scenario
    assert (bench.network.n, bench.gmm.components, bench.network.rounds, bench.replicates) == (
        100,
        11,
        200,
        1,
    )


def test_resolve_accepts_names_paths_and_the_repo_prefix(tmp_path):
    assert resolve("paper-gmm-b2") == available()["paper-gmm-b2"]
    assert resolve("scenarios/paper-gmm-b2.toml").name == "paper-gmm-b2.toml"
    own = tmp_path / "mine.toml"
    own.write_text(GOOD)
    assert resolve(own) == own
    with pytest.raises(ConfigError, match="paper-gmm-b2") as info:
        resolve("paper-gmm-b3")
    assert "lwd scenarios" in str(info.value)


def test_means_rules_and_matrix_forms():
    line = parse_scenario(GOOD.replace("means = [-5.0, 5.0]", 'means = { rule = "line", spacing = 4 }'))
    np.testing.assert_array_equal(line.scenario.gmm.means_array(), [[-2.0], [2.0]])
    rnd = parse_scenario(
        GOOD.replace("means = [-5.0, 5.0]", 'means = { rule = "random", scale = 3, seed = 4 }')
    )
    again = parse_scenario(
        GOOD.replace("means = [-5.0, 5.0]", 'means = { rule = "random", scale = 3, seed = 4 }')
    )
    np.testing.assert_array_equal(rnd.scenario.gmm.means_array(), again.scenario.gmm.means_array())
    two_d = parse_scenario(
        GOOD.replace(
            "means = [-5.0, 5.0]", "dim = 2\nmeans = [[0, 1], [2, 3]]\ncovariance = [[2, 0.5], [0.5, 1]]"
        )
    )
    assert two_d.scenario.gmm.covariance_matrix().tolist() == [[2.0, 0.5], [0.5, 1.0]]
    diag = parse_scenario(
        GOOD.replace("means = [-5.0, 5.0]", "dim = 2\nmeans = [[0, 1], [2, 3]]\ncovariance = [2, 3]")
    )
    assert diag.scenario.gmm.covariance_matrix().tolist() == [[2.0, 0.0], [0.0, 3.0]]


BAD = {
    "unknown key with a suggestion": (
        GOOD.replace("beta = 0.5", "bta = 0.5"),
        ["`network.bta`", "unknown key", "did you mean `beta`"],
    ),
    "beta above 1": (
        GOOD.replace("beta = 0.5", "beta = 1.5"),
        ["`network.beta`", "expected a number ≤ 1", "got 1.5", "under [network]"],
    ),
    "beta negative": (
        GOOD.replace("beta = 0.5", "beta = -0.1"),
        ["`network.beta`", "expected a number ≥ 0", "got -0.1"],
    ),
    "L below 1": (
        GOOD.replace("samples = 3", "samples = 0"),
        ["`network.samples`", "expected an integer ≥ 1", "got 0"],
    ),
    "T below 1": (GOOD.replace("rounds = 10", "rounds = 0"), ["`network.rounds`", "got 0"]),
    "wrong type": (
        GOOD.replace("n = 3", 'n = "three"'),
        ["`network.n`", "expected an integer", "got 'three'"],
    ),
    "missing table": (
        GOOD.replace("[network]", "[netwrk]"),
        ["`network`", "missing", "`netwrk`", "unknown key"],
    ),
    "missing key": (
        GOOD.replace("rounds = 10", ""),
        ["`network.rounds`", "missing", "add `rounds = ...` under [network]"],
    ),
    "means count": (
        GOOD.replace("means = [-5.0, 5.0]", "means = [-5.0, 0.0, 5.0]"),
        ["`gmm.means`", "expected 2 means", "got 3"],
    ),
    "means rule": (
        GOOD.replace("means = [-5.0, 5.0]", 'means = { rule = "grid" }'),
        ["`gmm.means`", '"line", "random"', "got 'grid'"],
    ),
    "covariance not positive definite": (
        GOOD.replace("means = [-5.0, 5.0]", "covariance = -1.0"),
        ["`gmm.covariance`", "positive definite"],
    ),
    "dirichlet": (
        GOOD.replace("means = [-5.0, 5.0]", "dirichlet = [1.0, -2.0]"),
        ["`gmm.dirichlet`", "every concentration > 0"],
    ),
    "c too large": (GOOD.replace("means = [-5.0, 5.0]", "c = 0.5"), ["`gmm.c`", "[0, 1/B)", "got 0.5"]),
    "alpha": (GOOD.replace("means = [-5.0, 5.0]", 'alpha = "1/t"'), ["`gmm.alpha`", '"1/k"', "got '1/t'"]),
    "human weights": (
        GOOD + "\n[gmm.human]\npoints = 5\nweights = [0.5, 0.2]\n",
        ["`gmm.human`", "summing to 1", "sum 0.7"],
    ),
    "one component": (
        GOOD.replace("components = 2", "components = 1"),
        ["`gmm.components`", "an integer ≥ 2"],
    ),
    "malformed TOML": (GOOD.replace("beta = 0.5", "beta = "), ["malformed TOML", "line"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_scenarios_name_file_key_expectation_and_value(case, tmp_path):
    text, needles = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message, f"{needle!r} not in:\n{message}"


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("beta = 0.5", "beta = 2").replace("samples = 3", "samples = -1"))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert len(info.value.problems) == 2


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_scenario(tmp_path / "nope.toml")


def test_overrides_are_validated_and_named():
    with pytest.raises(ConfigError, match="from the command line"):
        parse_scenario(GOOD, overrides={"network.rounds": 0})
    loaded = parse_scenario(GOOD, overrides={"network.rounds": 4, "seed": 9})
    assert loaded.scenario.network.rounds == 4 and loaded.scenario.seed == 9


def test_scenarios_are_frozen():
    loaded = parse_scenario(GOOD)
    with pytest.raises(Exception, match="frozen"):
        loaded.scenario.network.beta = 0.9
