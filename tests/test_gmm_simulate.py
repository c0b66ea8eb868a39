"""Algorithm 3: the fast simulation against the literal one, its bookkeeping, seeds and the paper's claim."""

import numpy as np
import pytest

from lwd.gmm import GMMConfig, simulate, simulate_reference
from lwd.gmm.config import HumanData, LineMeans

PAPER = GMMConfig()  # B = 2, μ = ±5, σ² = 1, Dir(1), α_t = 1/k_t, c = 1/(k_t B²), A⁽⁰⁾ empty
RICH = GMMConfig(
    components=4,
    dim=2,
    means=((-6.0, 0.0), (6.0, 0.0), (0.0, 6.0), (0.0, -6.0)),
    covariance=((1.5, 0.3), (0.3, 0.8)),
    dirichlet=(0.5, 1.0, 2.0, 0.7),
    human=HumanData(points=17, weights=(0.1, 0.2, 0.3, 0.4)),
)


@pytest.mark.parametrize("config", [PAPER, RICH], ids=["paper", "d2-human-data"])
def test_fast_simulation_matches_literal_algorithm_3(config):
    fast = simulate(config, n=3, beta=0.5, samples=3, rounds=15, replicates=2, seed=5)
    frob, weights = simulate_reference(config, n=3, beta=0.5, samples=3, rounds=15, replicates=2, seed=5)
    np.testing.assert_allclose(fast.weights, weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.frobenius, frob, rtol=0, atol=1e-12)


def test_fast_simulation_matches_literal_with_constant_coefficients_and_epsilon():
    config = GMMConfig(components=3, means=LineMeans(spacing=3.0), alpha=0.6, c=0.3, epsilon=0.02)
    fast = simulate(config, n=4, beta=0.3, samples=2, rounds=12, replicates=2, seed=9)
    _, weights = simulate_reference(config, n=4, beta=0.3, samples=2, rounds=12, replicates=2, seed=9)
    np.testing.assert_allclose(fast.weights, weights, rtol=0, atol=1e-12)


def test_bookkeeping_store_size_and_k():
    n, samples, beta, human = 4, 3, 0.3, 7
    config = GMMConfig(human=HumanData(points=human))
    run = simulate(config, n=n, beta=beta, samples=samples, rounds=20, replicates=1, seed=0)
    t = np.arange(21)
    np.testing.assert_array_equal(run.store_size, human + n * samples * t)  # |A_t| = |A_0| + n·L·t
    np.testing.assert_array_equal(run.visible, np.tile(run.store_size[:, None], (1, n)))  # complete network
    np.testing.assert_array_equal(run.k, (3 * run.visible) // 10)  # ⌊0.3·|A_t|⌋, exactly
    np.testing.assert_allclose(run.alpha, 1.0 / run.k)  # α_t = 1/k_t
    np.testing.assert_allclose(run.c, 1.0 / (run.k * 4))  # c = 1/(k_t·B²)


def test_no_update_while_nothing_can_be_read():
    """With A⁽⁰⁾ empty, k_0 = 0: round 0 changes nothing, so the weights entering round 1 are Π⁽⁰⁾."""
    run = simulate(PAPER, n=3, beta=0.5, samples=3, rounds=3, replicates=2, seed=1)
    assert (run.k[0] == 0).all() and np.isnan(run.alpha[0]).all()
    np.testing.assert_array_equal(run.weights[:, 1], run.weights[:, 0])
    assert not np.allclose(run.weights[:, 2], run.weights[:, 1])


def test_weights_stay_on_the_simplex_throughout():
    run = simulate(
        GMMConfig(components=11, means=LineMeans(spacing=5.0)),
        n=5,
        beta=0.5,
        samples=3,
        rounds=60,
        replicates=3,
        seed=2,
    )
    assert np.all(run.weights >= 0)
    np.testing.assert_allclose(run.weights.sum(axis=-1), 1.0, atol=1e-12)


def test_same_seed_same_run_and_replicates_do_not_depend_on_their_count():
    a = simulate(PAPER, n=3, beta=0.5, samples=3, rounds=30, replicates=2, seed=42)
    b = simulate(PAPER, n=3, beta=0.5, samples=3, rounds=30, replicates=4, seed=42)
    np.testing.assert_array_equal(a.weights, b.weights[:2])
    c = simulate(PAPER, n=3, beta=0.5, samples=3, rounds=30, replicates=2, seed=43)
    assert not np.allclose(a.weights, c.weights)
    assert not np.allclose(b.weights[0], b.weights[1])  # replicates are independent streams


def test_paper_claim_in_distribution():
    """Section 4.2: ‖D‖_F falls towards 0. Over 30 independent replicates (not one seed), the mean at
    t = T = 200 is far below the mean at t = 0, and most replicates fell by more than half."""
    run = simulate(PAPER, n=3, beta=0.5, samples=3, rounds=200, replicates=30, seed=2024)
    start, end = run.frobenius[:, 0], run.frobenius[:, -1]
    assert end.mean() < 0.2 * start.mean()
    assert np.mean(end < 0.5 * start) > 0.8


def test_progress_callback_sees_every_round():
    seen = []
    simulate(
        PAPER,
        n=3,
        beta=0.5,
        samples=3,
        rounds=6,
        replicates=2,
        seed=0,
        on_round=lambda t, frob, k, size: seen.append((t, frob.shape, k, size)),
    )
    assert [s[0] for s in seen] == list(range(7))
    assert seen[3] == (3, (2,), 13, 27)
