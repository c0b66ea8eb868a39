"""Data regimes: invariants of the ledger per regime, and the same regime objects driving both modes."""

import csv
import textwrap

import numpy as np
import pytest
from conftest import FAKE_SCENARIO, read_rows, write_scenario

from lwd.core.errors import ConfigError
from lwd.gmm.config import GMMConfig, HumanData
from lwd.gmm.reference import simulate_reference
from lwd.gmm.simulate import simulate
from lwd.internet.regimes import HUMAN, InternetConfig, Ledger, reader_groups
from lwd.run.llm import resume_run, start_run
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario, parse_scenario

N, H = 3, 5  # agents, initial human posts


def run_ledger(config: InternetConfig, rounds: int = 8, seed: int = 0, fresh: int = 0):
    """Drive a ledger as both modes do: N posts per round (one per agent), then ``fresh`` human posts."""
    ledger = Ledger(config, seed, H)
    seen = []
    for t in range(rounds):
        live = ledger.live()
        seen.append((len(live), set(ledger.rounds[live].tolist()), ledger.synthetic_live()))
        ledger.add([*range(N), *[HUMAN] * fresh], t)
        ledger.advance()
    return ledger, seen


def test_accumulate_keeps_everything():
    _, seen = run_ledger(InternetConfig())
    assert [size for size, _, _ in seen] == [H + N * t for t in range(8)]
    assert seen[5][1] == {-1, 0, 1, 2, 3, 4}


def test_replace_keeps_humans_and_only_the_last_round():
    _, seen = run_ledger(InternetConfig(regime="replace"))
    assert [size for size, _, _ in seen] == [H] + [H + N] * 7
    for t, (_, rounds, synthetic) in enumerate(seen[1:], start=1):
        assert rounds == {-1, t - 1} and synthetic == N


@pytest.mark.parametrize("w", [1, 2, 3])
def test_window_keeps_the_last_w_rounds(w):
    _, seen = run_ledger(InternetConfig(regime="window", window=w))
    for t, (size, rounds, _) in enumerate(seen):
        assert size == H + N * min(t, w)
        assert rounds == {-1} | set(range(max(0, t - w), t))


def test_fresh_human_posts_join_every_round_and_never_expire():
    ledger, seen = run_ledger(InternetConfig(regime="replace", fresh_per_round=2), fresh=2)
    assert [size for size, _, _ in seen] == [H] + [H + 2 * t + N for t in range(1, 8)]
    assert (ledger.authors == HUMAN).sum() == H + 2 * 8


@pytest.mark.parametrize("evict", ["oldest", "oldest_synthetic", "random"])
def test_a_capped_store_never_holds_more_than_cap(evict):
    ledger, seen = run_ledger(InternetConfig(cap=10, evict=evict), rounds=12)
    assert all(size <= 10 for size, _, _ in seen) and seen[-1][0] == 10
    live = ledger.live()
    if evict == "oldest":
        assert live.tolist() == list(range(len(ledger) - 10, len(ledger)))  # the newest 10
    if evict == "oldest_synthetic":
        assert (ledger.authors[live] == HUMAN).sum() == H  # humans outlast every synthetic post


def test_random_eviction_is_seeded_and_replay_reproduces_the_ledger():
    config = InternetConfig(regime="window", window=4, cap=9, evict="random")
    a, _ = run_ledger(config, seed=3)
    b, _ = run_ledger(config, seed=3)
    c, _ = run_ledger(config, seed=4)
    assert a.live().tolist() == b.live().tolist() != c.live().tolist()
    again = Ledger.replay(config, 3, a.authors, a.rounds, 8)  # what a resumed run rebuilds
    assert again.live().tolist() == a.live().tolist()


def test_visible_combines_topology_and_humans():
    ledger, _ = run_ledger(InternetConfig(), rounds=2)
    reads = np.eye(N, dtype=bool)  # each agent reads only itself
    pools = ledger.visible(reads, humans=True)
    assert [ledger.authors[p].tolist() for p in pools][1] == [HUMAN] * H + [1, 1]
    assert ledger.authors[ledger.visible(reads, humans=False)[2]].tolist() == [2, 2]


def test_agents_who_read_the_same_authors_share_one_pool():
    """Communities: agents with one row of who-reads-whom share one array (a pool per agent of 10,000 would
    hold n × |A_t| indices), each the posts of the authors its row names, as a pool per agent would be."""
    ledger, _ = run_ledger(InternetConfig(), rounds=2)
    reads = np.zeros((N, N), dtype=bool)
    reads[:2, :2] = True  # agents 0 and 1 read each other; agent 2 reads 1 and itself
    reads[2, 1:] = True
    for humans in (True, False):
        pools = ledger.visible(reads, humans)
        assert pools[0] is pools[1] and pools[0] is not pools[2]
        authors = ledger.authors
        for i, pool in enumerate(pools):
            want = [j for j in ledger.live() if (humans if authors[j] == HUMAN else reads[i, authors[j]])]
            assert pool.tolist() == want
        assert ledger.visible(reads, humans, reader_groups(reads))[2].tolist() == pools[2].tolist()


def test_window_needs_its_width():
    with pytest.raises(ValueError, match="window = 3"):
        InternetConfig(regime="window")
    with pytest.raises(ValueError, match="only used with"):
        InternetConfig(regime="replace", window=2)


# -- the GMM mode ----------------------------------------------------------------------------------------------


def test_gmm_defaults_are_algorithm_3_exactly():
    config = GMMConfig(components=3, human=HumanData(points=4))
    fast = simulate(
        config, n=3, beta=0.4, samples=2, rounds=10, replicates=2, seed=5, internet=InternetConfig()
    )
    _, weights = simulate_reference(config, n=3, beta=0.4, samples=2, rounds=10, replicates=2, seed=5)
    np.testing.assert_allclose(fast.weights, weights, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("internet", "sizes"),
    [
        (InternetConfig(regime="replace"), [4] + [4 + 6] * 5),
        (InternetConfig(regime="window", window=2), [4 + 6 * min(t, 2) for t in range(6)]),
        (InternetConfig(fresh_per_round=3), [4 + 9 * t for t in range(6)]),
        (InternetConfig(cap=15), [min(4 + 6 * t, 15) for t in range(6)]),
    ],
)
def test_gmm_store_size_follows_the_regime(internet, sizes):
    run = simulate(
        GMMConfig(human=HumanData(points=4)), n=3, beta=0.5, samples=2, rounds=5, seed=0, internet=internet
    )
    assert run.store_size.tolist() == sizes
    assert (run.k == np.array(sizes)[:, None] // 2).all()


def test_gmm_per_model_beta_and_a_model_that_reads_nothing_stays_put():
    run = simulate(
        GMMConfig(human=HumanData(points=10)),
        n=3,
        beta=[0.5, 0.2, 0.05],
        samples=3,
        rounds=4,
        seed=0,
        reads=np.eye(3, dtype=bool),
        humans_visible=False,
    )
    assert run.k[0].tolist() == [0, 0, 0]  # nobody reads the humans, and nothing synthetic exists yet
    assert run.k[2].tolist() == [3, 1, 0]  # 6 own points each: ⌊0.5·6⌋, ⌊0.2·6⌋, ⌊0.05·6⌋
    np.testing.assert_array_equal(run.weights[0, :, 2], np.repeat(run.weights[0, :1, 2], 5, axis=0))


def test_gmm_scenario_with_a_regime_and_a_beta_list(tmp_path):
    path = write_scenario(
        tmp_path,
        """
        description = "regime"
        [network]
        n = 2
        beta = [0.5, 1.0]
        samples = 2
        rounds = 3
        [internet]
        regime = "window"
        window = 1
        fresh_per_round = 1
        [gmm.human]
        points = 2
        """,
    )
    from lwd.run.gmm import simulate_scenario

    run = simulate_scenario(load_scenario(path))
    assert run.store_size.tolist() == [2, 2 + 1 + 4, 2 + 2 + 4, 2 + 3 + 4]
    assert run.k[1].tolist() == [3, 7]


def test_beta_list_must_have_one_per_model():
    with pytest.raises(ConfigError, match="one β per model: 3 numbers"):
        parse_scenario("description = 'x'\n[network]\nn = 3\nbeta = [0.5, 0.5]\nsamples = 1\nrounds = 1\n")


# -- the LLM mode ----------------------------------------------------------------------------------------------

FRESH = "text\n" + "\n".join(f"fresh human post number {i} about bitcoin" for i in range(40)) + "\n"


def llm_scenario(tmp_path, extra: str, rounds: int = 3):
    (tmp_path / "fresh.csv").write_text(FRESH)
    return write_scenario(
        tmp_path, FAKE_SCENARIO.replace("rounds = 3", f"rounds = {rounds}") + textwrap.dedent(extra)
    )


@pytest.fixture(scope="module")
def regime_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("regime")
    path = llm_scenario(
        tmp,
        """
        [topology]
        name = "ring"
        directed = true

        [internet]
        regime = "window"
        window = 1
        fresh_per_round = 2
        fresh_file = "fresh.csv"
        """,
    )
    start_run(load_scenario(path), tmp / "run")
    return tmp, path


def test_llm_agents_read_only_what_topology_and_regime_let_them(regime_run):
    tmp, _ = regime_run
    log = RoundLog(tmp / "run")
    names = ["ann", "bob", "cy"]
    posts = {p.id: p for p in log.expected_store()[0]}
    for record in log.records():
        t = record.round
        assert record.store_size == 20 + 2 * t + (3 if t else 0)  # humans + fresh + last round's 3 posts
        for i, agent in enumerate(record.agents):
            read = [posts[pid] for pid in agent.retrieved]
            for post in read:
                assert post.author in ("human", names[i], names[(i - 1) % 3])  # itself and the agent before
                assert post.author == "human" or post.round == t - 1  # window of one round
            assert agent.k == agent.visible // 2 == len(agent.retrieved)
        fresh = [p for p in record.posts if not p.synthetic]
        assert [p.text for p in fresh] == [
            f"fresh human post number {2 * t + j} about bitcoin" for j in range(2)
        ]


def test_llm_regime_run_resumes_to_the_same_result(regime_run, tmp_path):
    tmp, path = regime_run
    part = tmp_path / "part"
    start_run(load_scenario(path), part, until=1)
    resume_run(part)
    assert (part / "metrics.csv").read_bytes() == (tmp / "run" / "metrics.csv").read_bytes()
    assert read_rows(part / "responses.csv", ("latency_s",)) == read_rows(
        tmp / "run" / "responses.csv", ("latency_s",)
    )


def test_llm_communities_get_their_own_columns_and_figure(tmp_path):
    path = llm_scenario(tmp_path, '\n[topology]\nname = "communities"\nsizes = [2, 1]\n', rounds=1)
    start_run(load_scenario(path), tmp_path / "run")
    from lwd.report import write_llm_report as write_report

    written = write_report(tmp_path / "run")
    assert tmp_path / "run" / "figures" / "communities.png" in written
    with open(tmp_path / "run" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    d = RoundLog(tmp_path / "run").record(1).distance
    assert float(rows[1]["within_c0"]) == pytest.approx(np.sqrt(2) * d[0][1])  # ann-bob, both ways
    assert float(rows[1]["within_c1"]) == 0.0
    assert float(rows[1]["between"]) == pytest.approx(np.sqrt(2 * (d[0][2] ** 2 + d[1][2] ** 2)))


def test_llm_fresh_posts_need_a_file_and_enough_posts(tmp_path):
    with pytest.raises(ConfigError, match="needs `fresh_file`"):
        load_scenario(llm_scenario(tmp_path, "\n[internet]\nfresh_per_round = 1\n"))
    from lwd.core.errors import SetupError

    path = llm_scenario(tmp_path, '\n[internet]\nfresh_per_round = 11\nfresh_file = "fresh.csv"\n')
    with pytest.raises(SetupError, match="has 40 posts; fresh_per_round = 11 for rounds 0..3 needs 44"):
        start_run(load_scenario(path), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_readme_network_example_is_a_valid_scenario(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n[network]\nbeta = [0.5, 0.5, 0.2]")[1].split("```")[0]
    (tmp_path / "fresh.csv").write_text(FRESH)
    network = "[network]\nbeta = 0.5\nsamples = 4\nrounds = 3\n"
    assert network in FAKE_SCENARIO
    text = FAKE_SCENARIO.replace(
        network, "[network]\nsamples = 4\nrounds = 3\nbeta = [0.5, 0.5, 0.2]" + block
    )
    loaded = load_scenario(write_scenario(tmp_path, text))
    s = loaded.scenario
    assert s.network.betas == (0.5, 0.5, 0.2) and s.internet.cap == 200 and s.topology.name == "communities"
    assert s.wiring(tmp_path).communities == {"c0": (0, 1), "c1": (2,)}
