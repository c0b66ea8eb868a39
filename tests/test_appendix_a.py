"""Appendix A computed beside the simulation (lwd.gmm.expectation): the paper's recursion of the expected
weights, and its second-order version with the noise of the k_t draws, against many simulated replicates."""

import numpy as np
import pytest
from typer.testing import CliRunner

from lwd.cli import app
from lwd.gmm.config import GMMConfig
from lwd.gmm.expectation import contraction_factor, expectation
from lwd.gmm.simulate import simulate
from lwd.run.gmm import EXPECTATION


@pytest.fixture(scope="module")
def network():
    """The paper's B = 2 network (n = 3, β = 0.5, L = 3), 200 replicates, 40 rounds, ε = 0 and ε = 0.01."""
    runs = {}
    for epsilon in (0.0, 0.01):
        config = GMMConfig(epsilon=epsilon)
        run = simulate(config, n=3, beta=0.5, samples=3, rounds=40, replicates=200, seed=1)
        runs[epsilon] = config, run, expectation(run, config, samples=3)
    return runs


def test_every_difference_shrinks_by_the_proofs_factor_and_weights_stay_weights(network):
    config = GMMConfig(c=0.0)  # c < π̄ always: the proof's condition, no correction needed
    run = simulate(config, n=3, beta=0.5, samples=3, rounds=40, replicates=20, seed=1)
    expected = expectation(run, config, samples=3)
    factor = contraction_factor(run)
    assert factor[0] == 1.0  # round 0: the Internet is empty, nobody reads
    np.testing.assert_allclose(factor[1], (1 - 1 / 4) ** 4)  # k_1 = ⌊0.5 · 9⌋ = 4, α = 1/k
    np.testing.assert_allclose(
        expected.frobenius[:, 1:], expected.frobenius[:, :-1] * factor[None, :-1], rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(expected.weights.sum(axis=-1), 1.0)  # 1 − ᾱ^k, not the printed 1 − ᾱ^(k+1)
    np.testing.assert_array_equal(expected.weights[:, 0], run.weights[:, 0])  # each replicate's own Π⁽⁰⁾


def test_the_expected_weights_are_the_mean_of_the_simulated_ones(network):
    _, run, expected = network[0.0]
    gap = np.abs(run.weights[:, :6].mean(axis=0) - expected.weights[:, :6].mean(axis=0))
    assert gap.max() < 0.04  # 200 replicates: the mean's standard error is ~0.007


def test_with_the_draws_noise_the_expectation_is_the_simulated_rms_norm(network):
    """ε = 0.01: within 10% on average over rounds 5–40, 25% at any one (an RMS over 200 replicates is itself
    ±5%). ε = 0: the same among replicates where no model lost a component (a weight that reaches 0 stays 0,
    which the proof's Eq. 9 cannot see), and far above it where one did."""
    _, run, expected = network[0.01]
    rms = np.sqrt((run.frobenius**2).mean(axis=0))[5:]
    theory = np.sqrt((expected.frobenius_noise**2).mean(axis=0))[5:]
    assert _close(rms, theory)
    _, run, expected = network[0.0]
    lost = (run.weights[:, -1] <= 1e-12).any(axis=(-1, -2))
    assert 0 < lost.mean() < 0.5
    kept = np.sqrt((run.frobenius[~lost] ** 2).mean(axis=0))[5:]
    assert _close(kept, np.sqrt((expected.frobenius_noise[~lost] ** 2).mean(axis=0))[5:])
    assert run.frobenius[lost, -1].mean() > 2 * expected.frobenius_noise[lost, -1].mean()
    assert np.all(expected.frobenius[:, -1] < 1e-10 * expected.frobenius[:, 0])  # the mean alone: e^-40


def _close(simulated: np.ndarray, theory: np.ndarray) -> bool:
    gap = np.abs(simulated / theory - 1)
    return bool(gap.mean() < 0.1 and gap.max() < 0.25)


def test_a_folder_without_expectation_csv_still_gets_its_report(tmp_path):
    out = tmp_path / "b2"
    runner = CliRunner()
    done = runner.invoke(
        app, ["gmm", "paper-gmm-b2", "--rounds", "3", "--replicates", "2", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    (out / EXPECTATION).unlink()  # as lwd 0.2 wrote it
    (out / "figures" / "appendix-a.png").unlink()
    again = runner.invoke(app, ["report", str(out)])
    assert again.exit_code == 0, again.output
    assert (out / "figures" / "frobenius.png").is_file() and not (out / "figures" / "appendix-a.png").exists()
