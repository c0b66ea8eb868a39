"""Networks of many agents (issue 19, first steps): every per-round quantity at a cost linear in the answers, and
the same values as the quadratic definitions they replace — ‖D‖_F without D, classical MDS as PCA, sums per
agent without a loop over agents, the energy matrix from every answer's distances, ‖E‖_F estimated from sampled
pairs past 1,000 agents, the k-sample test on a seeded sample of agents (its null and its power), topologies
built once, and a record that keeps D only for a small network."""

import itertools
import json

import dcor
import numpy as np
import pytest
from conftest import read_rows, write_scenario
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from lwd.internet import topologies
from lwd.metrics import MetricSettings, RoundData
from lwd.metrics.distance import community_norms, distance_matrix, frobenius_norm, pairwise_norm
from lwd.metrics.distribution import (
    agents_tested,
    energy,
    energy_matrix,
    energy_test,
    permutation_energy_test,
)
from lwd.metrics.summary import agent_means, classical_mds, spreads
from lwd.run.llm import start_run
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario, parse_scenario


def network(rng, n, samples=4, dim=8, shift=None):
    """n agents' answers: (embeddings, owners, means); ``shift`` (n,) moves each agent's answers."""
    owners = np.repeat(np.arange(n), samples)
    embeddings = rng.normal(size=(n * samples, dim))
    if shift is not None:
        embeddings += shift[owners, None]
    return embeddings, owners, agent_means(embeddings, owners, n)


def round_data(embeddings, owners, n, t=0, seed=0, **settings):
    return RoundData(
        names=tuple(f"a{i}" for i in range(n)),
        means=agent_means(embeddings, owners, n),
        round=t,
        seed=seed,
        settings=MetricSettings(**settings),
        embeddings=embeddings,
        owners=owners,
        texts=tuple("x" for _ in owners),
    )


# -- ‖D‖_F, communities, means, spreads, MDS: linear, and equal to their definitions ---------------------------


def test_the_norm_without_d_equals_the_norm_of_d_with_agents_missing():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 20))
        x = rng.normal(size=(n, 16)) * 10 ** rng.uniform(-5, 1) + rng.normal(size=16)
        x[rng.random(n) < 0.2] = np.nan
        d = distance_matrix(x)
        answered = ~np.isnan(x[:, 0])
        expected = frobenius_norm(d[np.ix_(answered, answered)]) if answered.sum() >= 2 else np.nan
        assert pairwise_norm(x) == pytest.approx(expected, rel=1e-12, nan_ok=True)
        labels = rng.integers(0, 3, n)
        groups = {f"c{g}": tuple(np.flatnonzero(labels == g)) for g in range(3) if (labels == g).any()}
        norms = community_norms(x, groups)
        both = answered[:, None] & answered[None, :]
        crossing = (labels[:, None] != labels[None, :]) & both
        if crossing.any():
            assert norms["between"] == pytest.approx(np.sqrt((d[crossing] ** 2).sum()), rel=1e-10)


def test_the_gmm_norm_batches_over_replicates():
    x = np.random.default_rng(1).random((5, 40, 11))
    np.testing.assert_allclose(pairwise_norm(x), frobenius_norm(distance_matrix(x)), rtol=1e-12)


def test_sums_per_agent_equal_a_loop_over_agents_bit_for_bit():
    rng = np.random.default_rng(2)
    owners = np.repeat(np.arange(30), 7)[rng.random(210) > 0.1]
    e = rng.normal(size=(len(owners), 24)).astype(np.float32)
    means = agent_means(e, owners, 31)  # agent 30 never answered
    for i in range(30):
        assert np.array_equal(means[i], e[owners == i].mean(axis=0))  # the dtype and the order of the sums
    assert np.isnan(means[30]).all()
    np.testing.assert_allclose(
        spreads(e, owners, means)[:30],
        [np.sqrt(((e[owners == i] - means[i]) ** 2).sum(axis=1).mean()) for i in range(30)],
        rtol=1e-12,
    )


def test_classical_mds_is_pca_of_the_centred_answers():
    rng = np.random.default_rng(3)
    for m, d in [(30, 384), (400, 16)]:  # fewer answers than dimensions, and more
        points = rng.normal(size=(m, d))
        b = -0.5 * (np.eye(m) - 1 / m) @ squareform(pdist(points, "sqeuclidean")) @ (np.eye(m) - 1 / m)
        values, vectors = np.linalg.eigh(b)
        top = np.argsort(values)[::-1][:2]
        torgerson = vectors[:, top] * np.sqrt(values[top])
        ours = classical_mds(points)
        for axis in range(2):  # the same axes, up to the sign each picks
            sign = np.sign(ours[:, axis] @ torgerson[:, axis])
            np.testing.assert_allclose(ours[:, axis], sign * torgerson[:, axis], atol=1e-9)


# -- energy distances: the matrix, the sampled estimate -----------------------------------------------------


def test_the_energy_matrix_equals_dcor_for_every_pair():
    rng = np.random.default_rng(4)
    e, owners, _ = network(rng, 15, samples=6, dim=12)
    e[owners == 3] = e[owners == 3][0]  # one agent repeats one answer
    keep = owners != 5  # one agent without answers
    e, owners = e[keep], owners[keep]
    matrix = energy_matrix(e, owners, 15)
    for i, j in itertools.combinations(range(15), 2):
        if 5 in (i, j):
            assert np.isnan(matrix[i, j])
            continue
        assert matrix[i, j] == pytest.approx(dcor.energy_distance(e[owners == i], e[owners == j]), abs=1e-10)
    values = energy(round_data(e, owners, 15))
    finite = np.nan_to_num(matrix)
    assert values == {"energy": pytest.approx(np.sqrt((finite**2).sum()))}  # 15 agents: no column per pair


def test_past_a_thousand_agents_the_energy_norm_is_an_unbiased_estimate_with_its_error():
    rng = np.random.default_rng(5)
    n = 1100
    e, owners, _ = network(rng, n, samples=3, dim=4, shift=rng.normal(size=n) * 0.3)
    data = round_data(e, owners, n, t=2, seed=7)
    exact = float(np.sqrt((np.nan_to_num(energy_matrix(e, owners, n)) ** 2).sum()))
    estimate = energy(data)
    assert set(estimate) == {"energy", "energy_se"} and 0 < estimate["energy_se"] < 0.05 * exact
    assert abs(estimate["energy"] - exact) <= 4 * estimate["energy_se"]
    assert energy(round_data(e, owners, n, t=2, seed=7)) == estimate  # seeded: the same pairs again


# -- the k-sample test at n = 100 and 1,000: its level and its power ----------------------------------------


def test_the_block_sum_test_is_dcors_test():
    """The same statistic to rounding, and the same p-value from the same permutations (but for the rare exact
    tie that rounding breaks the other way)."""
    rng = np.random.default_rng(10)
    same = 0
    for t in range(20):
        sets = [
            rng.normal(size=(int(rng.integers(2, 9)), 5)) + (i == 0) * 0.5
            for i in range(int(rng.integers(2, 8)))
        ]
        ours = permutation_energy_test(sets, 99, np.random.default_rng(t))
        theirs = dcor.homogeneity.energy_test(*sets, num_resamples=99, random_state=np.random.default_rng(t))
        assert ours[1] == pytest.approx(theirs.statistic, rel=1e-12)
        same += ours[0] == theirs.pvalue
    assert same >= 18


@pytest.mark.parametrize("n", [100, 1000])
def test_under_the_null_the_sampled_test_is_uniform(n):
    """Every agent answers from one distribution: the test on a seeded sample of 30 agents keeps its level."""
    rng = np.random.default_rng(n)
    pvalues = []
    for t in range(150):
        e, owners, _ = network(rng, n, samples=3, dim=4)
        pvalues.append(energy_test(round_data(e, owners, n, t=t, seed=3, permutations=99))["energy_p"])
    assert stats.kstest(pvalues, "uniform").pvalue > 0.01
    assert 0.01 <= np.mean(np.array(pvalues) <= 0.05) <= 0.10


def test_the_sampled_test_detects_a_network_whose_agents_differ():
    """Power: when a third of 1,000 agents answer from a distribution shifted by 1 (in every dimension), the
    test on 30 sampled agents rejects at α = 0.05 in nearly every round."""
    rng = np.random.default_rng(8)
    n = 1000
    shift = np.where(np.arange(n) % 3 == 0, 1.0, 0.0)
    rejected = 0
    for t in range(20):
        e, owners, _ = network(rng, n, samples=3, dim=4, shift=shift)
        rejected += energy_test(round_data(e, owners, n, t=t, permutations=99))["energy_p"] <= 0.05
    assert rejected >= 18


def test_the_sample_of_agents_is_seeded_and_a_small_network_is_tested_whole():
    e, owners, _ = network(np.random.default_rng(9), 100)
    first = agents_tested(round_data(e, owners, 100, t=3, seed=1))
    assert len(first) == 30 and np.array_equal(first, agents_tested(round_data(e, owners, 100, t=3, seed=1)))
    assert not np.array_equal(first, agents_tested(round_data(e, owners, 100, t=4, seed=1)))
    assert np.array_equal(agents_tested(round_data(e[:120], owners[:120], 30)), np.arange(30))


# -- a run of 14 agents: no pair columns, D from the arrays, E kept, the test described -----------------------


def scenario(n: int, rounds: int = 1) -> str:
    agents = "".join(f'\n[[agents]]\nname = "a{i}"\nbackend = "fake"\n' for i in range(n))
    return (
        f"""
description = "{n} fake agents"
seed = 2
[network]
beta = 0.5
samples = 3
rounds = {rounds}
[embedder]
model = "hash"
[metrics]
test_agents = 10
"""
        + agents
    )


def test_a_network_past_a_dozen_agents_keeps_matrices_in_its_arrays(tmp_path):
    from lwd.report import write_llm_report

    out = tmp_path / "run"
    start_run(load_scenario(write_scenario(tmp_path, scenario(14))), out)
    log = RoundLog(out)
    record, arrays = log.record(1), log.arrays(1)
    assert record.distance == ()  # D of 14 agents: rebuilt from the means kept in the arrays
    d = arrays.distance()
    assert d.shape == (14, 14) and record.frobenius == pytest.approx(frobenius_norm(d), rel=1e-12)
    assert arrays.extra["energy"].shape == (14, 14)
    assert record.metrics["energy"] == pytest.approx(np.sqrt((arrays.extra["energy"] ** 2).sum()))
    header = read_rows(out / "metrics.csv")[0]
    assert not any(c.startswith("energy__") for c in header)
    write_llm_report(out)
    summary = json.loads((out / "collapse.json").read_text())
    assert (
        summary["tested"].startswith("a sample of 10 of the 14 agents") and summary["energy_norm"] == "exact"
    )


def test_a_small_network_keeps_d_and_a_column_per_pair(tmp_path):
    out = tmp_path / "run"
    start_run(load_scenario(write_scenario(tmp_path, scenario(3))), out, until=0)
    record = RoundLog(out).record(0)
    assert len(record.distance) == 3 and "energy__a0__a1" in record.metrics


# -- topologies: built once, directly where a graph would be the slow part ----------------------------------


def test_a_run_builds_its_topology_once(tmp_path, monkeypatch):
    calls = []
    wire = topologies.Topology.wire

    def counted(self, ctx):
        calls.append(ctx.n)
        return wire(self, ctx)

    monkeypatch.setattr(topologies.Topology, "wire", counted)
    text = scenario(4, rounds=1) + '\n[topology]\nname = "ring"\n'
    start_run(load_scenario(write_scenario(tmp_path, text)), tmp_path / "run")
    assert calls == [4]  # validation built it; the run, its manifest and its metrics reused it


def test_the_complete_network_of_ten_thousand_is_built_without_a_graph():
    text = 'description = "big"\n[network]\nn = 10000\nbeta = 0.5\nsamples = 2\nrounds = 1\n'
    wiring = parse_scenario(text).scenario.wiring(".")
    assert wiring.reads.shape == (10_000, 10_000) and wiring.reads.all() and not wiring.reads.flags.writeable
    described = wiring.describe()
    assert "reads" not in described and described["reads_edges"] == 10_000**2
    assert len(described["reads_sha256"]) == 64
