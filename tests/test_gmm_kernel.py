"""Algorithm 2: the compiled batched kernel against the readable reference, and the simplex property."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwd.gmm import update_weights, update_weights_fast
from lwd.gmm.draws import sample_positions
from lwd.gmm.kernel import fill_from_pools


def random_case(rng: np.random.Generator, n_models: int, k: int, hit_correction: bool):
    """Random mixture, weights, points (some far from every mean) and coefficients."""
    n_comp, dim = int(rng.integers(2, 12)), int(rng.integers(1, 4))
    means = rng.normal(0, 6, size=(n_comp, dim))
    root = rng.normal(size=(dim, dim))
    cov = root @ root.T + 0.3 * np.eye(dim)
    weights = rng.dirichlet(np.full(n_comp, 0.3), size=n_comp and n_models)
    comps = rng.integers(0, n_comp, size=(n_models, k))
    points = means[comps] + rng.normal(size=(n_models, k, dim)) @ np.linalg.cholesky(cov).T
    far = rng.random((n_models, k)) < 0.1
    points[far] += rng.normal(0, 60, size=(int(far.sum()), dim))  # far from every mean: log space needed
    if hit_correction:  # large steps and c close to 1/B make (o - c)/(1 - Bc) strongly negative
        alpha, c = rng.uniform(0.5, 1.0), rng.uniform(0.5, 0.95) / n_comp
    else:
        alpha, c = 1.0 / k, 1.0 / (k * n_comp**2)
    return weights, points, means, cov, alpha, c


def corrections_hit(weights, points, means, cov, alpha, c) -> bool:
    """Whether the first point's linear update (lines 4-6) already goes ≤ 0 for some component."""
    from lwd.gmm.draws import component_log_density

    log_n = component_log_density(points[:1], means, cov)[0]
    with np.errstate(divide="ignore"):
        s = np.log(weights) + log_n
    own = np.exp(s - np.logaddexp.reduce(s))
    step = (1 - alpha) * weights + alpha * (own - c) / (1 - len(weights) * c)
    return bool((step <= 0).any())


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("eps,renormalize", [(0.0, True), (0.0, False), (0.01, True), (0.2, False)])
def test_fast_kernel_matches_reference(seed, eps, renormalize):
    rng = np.random.default_rng(seed)
    hit = seed % 2 == 0
    weights, points, means, cov, alpha, c = random_case(
        rng, n_models=4, k=int(rng.integers(1, 60)), hit_correction=hit
    )
    fast = update_weights_fast(weights, points, means, cov, alpha, c, eps, renormalize=renormalize)
    for m in range(len(weights)):
        ref = update_weights(weights[m], points[m], means, cov, alpha, c, eps, renormalize=renormalize)
        np.testing.assert_allclose(fast[m], ref, rtol=0, atol=1e-12)


def test_the_random_cases_do_hit_the_correction():
    """Half the exactness cases are built to exercise lines 7-14; check that they really do."""
    hits = 0
    for seed in range(0, 40, 2):
        rng = np.random.default_rng(seed)
        weights, points, means, cov, alpha, c = random_case(rng, 4, int(rng.integers(1, 60)), True)
        hits += sum(corrections_hit(weights[m], points[m], means, cov, alpha, c) for m in range(4))
    assert hits >= 20


def test_far_points_do_not_underflow():
    """A point thousands of σ from every mean: densities underflow to 0, ownerships must not become 0/0."""
    means, cov = np.array([[-5.0], [5.0], [40.0]]), np.eye(1)
    weights = np.array([0.2, 0.3, 0.5])
    points = np.array([[3000.0], [-2500.0], [0.0]])
    ref = update_weights(weights, points, means, cov, 0.3, 0.01, 0.0)
    fast = update_weights_fast(weights[None], points[None], means, cov, 0.3, 0.01, 0.0)[0]
    assert np.all(np.isfinite(ref)) and np.isclose(ref.sum(), 1.0)
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    one = update_weights(weights, points[:1], means, cov, 0.3, 0.01, 0.0)
    assert one[2] > weights[2]  # the point at 3000 is owned by the nearest mean (40), not split evenly


def test_dead_nearest_component_uses_log_space():
    """Weight 0 on the component nearest to the point (ε = 0 killed it): the fast path's scaled densities of
    the live components underflow, and it must fall back to log space like the reference."""
    means, cov = np.array([[0.0], [100.0], [-100.0]]), np.eye(1)
    weights = np.array([0.0, 0.7, 0.3])
    points = np.array([[0.0], [1.0], [-2.0]])
    ref = update_weights(weights, points, means, cov, 0.2, 0.0, 0.0)
    fast = update_weights_fast(weights[None], points[None], means, cov, 0.2, 0.0, 0.0)[0]
    assert np.all(np.isfinite(fast))
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    assert ref[0] == 0.0  # a dead component owns nothing


def test_correction_follows_the_paper_to_the_letter():
    """Lines 7-14 with ε > 0 and no renormalisation: other weights divided by 1 + ε − π_b, π_b set to ε."""
    means, cov = np.array([[-5.0], [5.0]]), np.eye(1)
    weights, point = np.array([0.5, 0.5]), np.array([[5.0]])
    alpha, c, eps = 0.9, 0.4, 0.05
    own = np.array([0.0, 1.0])  # the point sits on component 1; N(5; -5, 1) is ~e^-50
    step = (1 - alpha) * weights + alpha * (own - c) / (1 - 2 * c)
    assert step[0] < 0
    expected = np.array([eps, step[1] / (1 + eps - step[0])])
    got = update_weights(weights, point, means, cov, alpha, c, eps, renormalize=False)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert got.sum() > 1  # the paper's rule leaves the sum above 1 when ε > 0 ...
    renormalized = update_weights(weights, point, means, cov, alpha, c, eps, renormalize=True)
    np.testing.assert_allclose(renormalized, expected / expected.sum(), rtol=1e-12)  # ... which lwd corrects


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 80),
    eps=st.sampled_from([0.0, 1e-6, 0.01, 0.3]),
    hit=st.booleans(),
)
def test_weights_stay_a_probability_vector(seed, k, eps, hit):
    rng = np.random.default_rng(seed)
    weights, points, means, cov, alpha, c = random_case(rng, 3, k, hit)
    for new in (
        update_weights_fast(weights, points, means, cov, alpha, c, eps),
        [update_weights(w, p, means, cov, alpha, c, eps) for w, p in zip(weights, points, strict=True)],
    ):
        new = np.asarray(new)
        assert np.all(np.isfinite(new))
        assert np.all(new >= 0)
        np.testing.assert_allclose(new.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_sample_positions_without_replacement_and_uniform():
    rng = np.random.default_rng(3)
    size, k, trials = 12, 5, 6000
    counts = np.zeros(size)
    firsts = np.zeros(size)
    for _ in range(trials):
        picked = sample_positions(rng.random(k), size)
        assert len(set(picked.tolist())) == k and picked.min() >= 0 and picked.max() < size
        counts[picked] += 1
        firsts[picked[0]] += 1
    # each position is picked with probability k/size, and is first with probability 1/size (random order)
    assert np.abs(counts / trials - k / size).max() < 0.03
    assert np.abs(firsts / trials - 1 / size).max() < 0.02


def test_compiled_positions_match_readable_ones():
    rng = np.random.default_rng(11)
    u = rng.random((7, 40))
    out = np.zeros((7, 40), dtype=np.int64)
    everything = np.arange(97)  # the complete network: every model draws from A = 0..96
    fill_from_pools(u, everything, np.zeros(7, np.int64), np.full(7, 97), np.full(7, 40), out)
    for row, expected in zip(out, (sample_positions(r, 97) for r in u), strict=True):
        np.testing.assert_array_equal(row, expected)


def test_positions_come_from_each_models_own_pool():
    """Model m draws counts[m] distinct points of its pool, in the order the readable draw gives."""
    rng = np.random.default_rng(12)
    pools = [np.arange(0, 50, 2), np.arange(100, 130), np.arange(5)]
    values = np.concatenate(pools)
    start = np.array([0, 25, 55])
    lengths = np.array([len(p) for p in pools])
    counts = np.array([10, 30, 0])
    u = rng.random((3, 30))
    out = np.zeros((3, 30), dtype=np.int64)
    fill_from_pools(u, values, start, lengths, counts, out)
    for m, pool in enumerate(pools):
        expected = pool[sample_positions(u[m, : counts[m]], len(pool))]
        np.testing.assert_array_equal(out[m, : counts[m]], expected)
    assert len(set(out[1].tolist())) == 30 and (out[2] == 0).all()


def test_serial_and_parallel_kernels_agree_bit_for_bit(monkeypatch):
    """A call runs serial below PARALLEL_WORK and parallel above it: the same simulation either way."""
    from lwd.gmm import GMMConfig, simulate
    from lwd.gmm import kernel as compiled

    args = dict(n=4, beta=0.5, samples=3, rounds=30, replicates=3, seed=2)
    monkeypatch.setattr(compiled, "PARALLEL_WORK", 10**12)
    serial = simulate(GMMConfig(), **args)
    monkeypatch.setattr(compiled, "PARALLEL_WORK", 0)
    parallel = simulate(GMMConfig(), **args)
    assert np.array_equal(serial.weights, parallel.weights) and np.array_equal(
        serial.frobenius, parallel.frobenius
    )
