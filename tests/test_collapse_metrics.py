"""The metrics that tell collapse apart from noise: the between/within split, energy distances, the k-sample
energy test (its null and its power), lexical diversity and the collapse onset."""

import dcor
import numpy as np
import pytest
from scipy import stats

from lwd.metrics import LLM, MetricSettings, RoundData, collapse_onset, describe_onset
from lwd.metrics.lexical import distinct_n, duplicate_share
from lwd.metrics.registry import evaluate

NAMES = ("a", "b", "c")


def round_of(sets: list[np.ndarray], t: int = 0, seed: int = 0, texts=None, **settings) -> dict:
    """Every LLM metric of one round whose agents answered with these embeddings."""
    embeddings = np.concatenate(sets)
    owners = np.concatenate([np.full(len(s), i) for i, s in enumerate(sets)])
    means = np.array([s.mean(axis=0) for s in sets])
    texts = texts or tuple(f"answer {i}" for i in range(len(embeddings)))
    data = RoundData(
        names=NAMES[: len(sets)],
        means=means,
        round=t,
        seed=seed,
        settings=MetricSettings(**settings),
        embeddings=embeddings,
        owners=owners,
        texts=tuple(texts),
    )
    return evaluate(data, LLM)


def same_distribution(rng, samples=10, dim=16):
    return [rng.normal(size=(samples, dim)) for _ in NAMES]


def test_under_the_null_the_p_values_are_uniform_and_the_onset_is_round_0_or_1():
    """Every agent draws from one distribution: p-values roughly uniform, about α of the rounds rejected, and
    the onset (3 rounds in a row without rejection) at round 0 or 1 in almost every run."""
    rng = np.random.default_rng(11)
    pvalues = [round_of(same_distribution(rng), t=t, seed=5, permutations=99)["energy_p"] for t in range(300)]
    assert stats.kstest(pvalues, "uniform").pvalue > 0.01
    assert 0.01 <= np.mean(np.array(pvalues) <= 0.05) <= 0.10
    runs = np.array(pvalues).reshape(30, 10)  # 30 runs of 10 rounds
    onsets = [collapse_onset(run, alpha=0.05, consecutive=3) for run in runs]
    assert sum(o in (0, 1) for o in onsets) >= 25 and None not in onsets


def test_agents_that_answer_from_clearly_different_distributions_are_told_apart():
    rng = np.random.default_rng(3)
    pvalues = []
    for t in range(20):
        sets = same_distribution(rng)
        sets[2] = sets[2] + 1.0  # one agent's answers sit elsewhere
        pvalues.append(round_of(sets, t=t, permutations=99)["energy_p"])
    assert max(pvalues) <= 0.05
    assert collapse_onset(pvalues, alpha=0.05, consecutive=3) is None


def test_the_test_is_reproducible_from_the_run_seed_and_the_round():
    sets = same_distribution(np.random.default_rng(0))
    first = round_of(sets, t=4, seed=9)
    assert round_of(sets, t=4, seed=9)["energy_p"] == first["energy_p"]
    others = {round_of(sets, t=t, seed=s)["energy_p"] for t, s in [(5, 9), (4, 10), (6, 11)]}
    assert len(others | {first["energy_p"]}) > 1  # other rounds and seeds permute otherwise
    assert first["energy_p"] >= 1 / 200  # 199 permutations by default


def test_between_share_separates_converged_agents_from_distinct_ones():
    rng = np.random.default_rng(1)
    alike = [rng.normal(size=(40, 8))] * 3  # the very same answers
    values = round_of(alike)
    assert values["between_share"] == pytest.approx(0.0, abs=1e-12)
    apart = [rng.normal(size=(40, 8)) * 0.01 + 10 * i for i in range(3)]
    values = round_of(apart)
    assert values["between_share"] > 0.99
    total = np.mean(((np.concatenate(apart) - np.concatenate(apart).mean(0)) ** 2).sum(1))
    assert values["dispersion_within"] + values["dispersion_between"] == pytest.approx(total)


def test_energy_distances_are_dcors_for_every_pair_and_their_matrix_norm():
    rng = np.random.default_rng(2)
    sets = [rng.normal(size=(12, 5)) + i for i in range(3)]
    values = round_of(sets)
    pairs = {("a", "b"): (0, 1), ("a", "c"): (0, 2), ("b", "c"): (1, 2)}
    for (x, y), (i, j) in pairs.items():
        assert values[f"energy__{x}__{y}"] == pytest.approx(float(dcor.energy_distance(sets[i], sets[j])))
    expected = np.sqrt(2 * sum(values[f"energy__{x}__{y}"] ** 2 for x, y in pairs))
    assert values["energy"] == pytest.approx(expected)
    assert round_of([sets[0]] * 3)["energy"] == pytest.approx(0.0, abs=1e-12)


def test_an_agent_without_answers_leaves_the_test_undefined_not_wrong():
    rng = np.random.default_rng(4)
    sets = [rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=(1, 4))]
    values = round_of(sets)
    assert np.isnan(values["energy_p"]) and np.isfinite(values["energy"])


def test_lexical_diversity():
    assert distinct_n(["the coin rises", "the coin falls"], 2) == pytest.approx(3 / 4)
    assert distinct_n(["Up.", "Up."], 1) == pytest.approx(1 / 2)
    assert np.isnan(distinct_n(["one"], 2))
    assert duplicate_share(["x", "x", "y", "x"]) == pytest.approx(1 - 2 / 4)
    sets = [np.zeros((2, 3)), np.ones((2, 3)), np.full((2, 3), 2.0)]
    texts = ["Bitcoin will rise.", "Bitcoin will rise.", "A b.", "C d.", "e f", "e f"]
    values = round_of(sets, texts=texts, ngram=1)
    assert values["duplicates_a"] == 0.5 and values["duplicates_b"] == 0.0 and values["distinct_c"] == 0.5


@pytest.mark.parametrize(
    "pvalues,onset",
    [
        ([0.01, 0.2, 0.3, 0.5, 0.01], 1),
        ([0.2, 0.3, 0.4], 0),
        ([0.01, 0.2, 0.3, 0.01, 0.2], None),
        ([0.2, float("nan"), 0.3, 0.4, 0.6], 2),  # a round without a test breaks a run
        ([0.05, 0.06, 0.07, 0.08], 1),  # p = α rejects
        ([], None),
    ],
)
def test_collapse_onset(pvalues, onset):
    assert collapse_onset(pvalues, alpha=0.05, consecutive=3) == onset


def test_the_onset_in_words():
    assert "collapse onset: round 1 (no rejection in rounds 1–3)" in describe_onset(
        [0.01, 0.3, 0.2, 0.5], 0.05, 3
    )
    assert "told apart in 1 of 4 rounds" in describe_onset([0.01, 0.3, 0.2, 0.5], 0.05, 3)
    assert "not collapsed" in describe_onset([0.01, 0.02], 0.05, 3)
    assert "the last rejection: round 2" in describe_onset([0.01, 0.3, 0.02, 0.5, 0.4], 0.05, 3)
