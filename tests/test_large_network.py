"""A network past a dozen agents (issue 19): metric columns that describe themselves, per-agent quantities as a
tidy table with their summaries in metrics.csv, populations (`count`), pictures drawn by groups, and the agent
map in report.html. A small network's tables and records stay as they were."""

import json
import os
import re

import numpy as np
import pytest
from conftest import read_rows, write_scenario

from lwd.core.errors import ConfigError
from lwd.metrics import MetricContext, RoundData
from lwd.metrics import registry as reg
from lwd.metrics.registry import AGENT_SUMMARIES, Kind, Need, Scope, computable, described
from lwd.metrics.summary import classical_mds
from lwd.report import write_llm_report
from lwd.report.groups import MAX_GROUPS, agent_map, group_index, picture_groups
from lwd.run.llm import start_run
from lwd.run.records import AGENT_METRICS, READS
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario, parse_scenario


def scenario(n: int, rounds: int = 2, extra: str = "") -> str:
    return f"""
description = "{n} fake agents"
seed = 4
[network]
beta = 0.5
samples = 3
rounds = {rounds}
[embedder]
model = "hash"
[[agents]]
count = {n}
name = "a{{i}}"
backend = "fake"
copy_rate = 0.5
{extra}"""


# -- columns that say what they are ---------------------------------------------------------------------------


def test_columns_describe_their_scope_and_kind():
    small = {
        c.name: c for c in described(MetricContext(("x", "y", "z"), {"c0": (0, 1), "c1": (2,)}), reg.LLM)
    }
    assert small["frobenius"].scope is Scope.NETWORK and small["frobenius"].kind is Kind.DISTANCE
    assert small["energy_p"].kind is Kind.PVALUE and small["between_share"].kind is Kind.SHARE
    assert small["energy__x__y"].scope is Scope.PAIR
    assert small["within_c0"].scope is Scope.COMMUNITY and small["between"].scope is Scope.COMMUNITY
    assert small["spread_y"].scope is Scope.AGENT and small["spread_y"].agent == "y"
    assert small["distinct_z"].kind is Kind.SHARE and small["distinct_z"].family == "distinct"
    names = tuple(f"a{i}" for i in range(13))
    large = {c.name: c for c in described(MetricContext(names), reg.LLM)}
    assert not any(c.agent for c in large.values()) and not any(c.scope is Scope.PAIR for c in large.values())
    assert {f"spread_{s}" for s in AGENT_SUMMARIES} <= set(large)
    assert large["spread_median"].stat == "median" and large["duplicates_q90"].family == "duplicates"


def test_a_small_network_keeps_its_columns_in_their_order(tmp_path):
    """Three agents: a column per agent, agent by agent (distinct then duplicates), no agent_metrics.csv."""
    out = tmp_path / "run"
    start_run(load_scenario(write_scenario(tmp_path, scenario(3, rounds=1))), out)
    header = list(read_rows(out / "metrics.csv")[0])
    lexical = [c for c in header if c.startswith(("distinct_", "duplicates_"))]
    assert lexical == [f"{k}_a{i}" for i in range(3) for k in ("distinct", "duplicates")]
    assert [c for c in header if c.startswith("spread_")] == ["spread_a0", "spread_a1", "spread_a2"]
    assert not (out / AGENT_METRICS).exists()
    assert "per_agent" not in json.loads((out / "rounds" / "round-0001.json").read_text())


def test_a_large_network_writes_a_tidy_agent_table_and_its_summaries(tmp_path):
    out = tmp_path / "run"
    start_run(load_scenario(write_scenario(tmp_path, scenario(20))), out)
    metrics = read_rows(out / "metrics.csv")
    assert not any(re.match(r"(spread|distinct|duplicates)_a\d", c) for c in metrics[0])
    rows = read_rows(out / AGENT_METRICS)
    assert list(rows[0]) == ["round", "agent", "spread", "distinct", "duplicates", "change", "change_p"]
    assert len(rows) == 3 * 20 and [r["agent"] for r in rows[:20]] == [f"a{i}" for i in range(20)]
    for t in range(3):
        spread = np.array([float(r["spread"]) for r in rows if int(r["round"]) == t])
        line = metrics[t]
        assert float(line["spread_median"]) == pytest.approx(np.median(spread), rel=1e-12)
        assert float(line["spread_q10"]) == pytest.approx(np.percentile(spread, 10), rel=1e-12)
        assert float(line["spread_mean"]) == pytest.approx(spread.mean(), rel=1e-12)
    before = (out / AGENT_METRICS).read_bytes()
    RoundLog(out).write_tables()  # resume and `lwd report --rebuild` give the table the run appended
    assert (out / AGENT_METRICS).read_bytes() == before


def test_a_metric_of_your_own_may_give_a_value_per_agent():
    @reg.metric("loudness", needs={Need.MEANS}, per_agent=("loudness",), kind=Kind.STATISTIC)
    def loudness(data):
        return {"loudness": np.linalg.norm(data.means, axis=-1)}

    try:
        means = np.arange(14 * 2, dtype=float).reshape(14, 2)
        data = RoundData(names=tuple(f"a{i}" for i in range(14)), means=means)
        m = next(m for m in computable(reg.GMM) if m.name == "loudness")
        values = m.values(data)
        assert values["loudness_median"] == pytest.approx(np.median(np.linalg.norm(means, axis=1)))
        assert np.allclose(data.per_agent["loudness"], np.linalg.norm(means, axis=1))
        small = m.values(RoundData(names=("p", "q"), means=means[:2]))
        assert list(small) == ["loudness_p", "loudness_q"]
    finally:
        reg.REGISTRY.pop("loudness")

    @reg.metric("forgetful", needs={Need.MEANS}, per_agent=("a", "b"))
    def forgetful(data):
        return {"a": np.zeros(len(data.names))}

    try:
        m = next(m for m in computable(reg.GMM) if m.name == "forgetful")
        with pytest.raises(RuntimeError, match="returned the families"):
            m.values(RoundData(names=("p",), means=np.zeros((1, 2))))
    finally:
        reg.REGISTRY.pop("forgetful")


# -- populations ----------------------------------------------------------------------------------------------


def test_a_population_table_stands_for_many_agents():
    loaded = parse_scenario(scenario(5) + '\n[[agents]]\nname = "solo"\nbackend = "fake"\n')
    assert [a.name for a in loaded.scenario.agents] == ["a0", "a1", "a2", "a3", "a4", "solo"]
    assert loaded.scenario.network.n == 6 and {a.copy_rate for a in loaded.scenario.agents[:5]} == {0.5}


@pytest.mark.parametrize(
    ("count", "name", "said"),
    [
        ("0", '"a{i}"', "whole number of agents from 1"),
        ("true", '"a{i}"', "whole number"),
        ("2.5", '"a{i}"', "whole number"),
        ("3", '"agent"', "must hold `{i}`"),
    ],
)
def test_a_bad_population_is_refused_with_its_fix(count, name, said):
    text = f'description = "x"\n[network]\nbeta = 0.5\n[[agents]]\ncount = {count}\nname = {name}\nbackend = "fake"\n'
    with pytest.raises(ConfigError) as err:
        parse_scenario(text)
    assert said in str(err.value) and "Fix:" in str(err.value)


def test_a_population_whose_names_repeat_is_refused():
    text = scenario(2) + '\n[[agents]]\nname = "a1"\nbackend = "fake"\n'
    with pytest.raises(ConfigError, match="a1"):
        parse_scenario(text)


def test_the_shipped_large_network_runs_end_to_end(tmp_path):
    """scenarios/network-1000.toml, cut to 2 rounds of 2 answers: every agent answers, the tidy table and the
    report are written, and the report's colours are the four communities."""
    loaded = load_scenario(
        "scenarios/network-1000.toml", overrides={"network.rounds": 1, "network.samples": 2}
    )
    assert len(loaded.scenario.agents) == 1000 and loaded.scenario.agents[999].name == "thinker-499"
    out = tmp_path / "run"
    start_run(loaded, out)
    assert len(read_rows(out / AGENT_METRICS)) == 2 * 1000
    assert not any(float(r["failed"]) for r in read_rows(out / "metrics.csv"))
    write_llm_report(out)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert all(f"c{k} (250 agents)" in page for k in range(4))


# -- pictures by group, and the agent map ---------------------------------------------------------------------


def test_pictures_draw_each_agent_of_a_small_network_and_groups_of_a_large_one():
    assert [g.label for g in picture_groups(["x", "y"])] == ["x", "y"]
    names = [f"a{i}" for i in range(30)]
    (everyone,) = picture_groups(names, described=[{"backend": "fake", "model": "fake"}] * 30)
    assert everyone.label == "all (30 agents)" and everyone.members == tuple(range(30))
    models = [{"backend": "fake", "model": "m1" if i < 20 else "m2"} for i in range(30)]
    assert [g.label for g in picture_groups(names, described=models)] == [
        "fake: m1 (20 agents)",
        "fake: m2 (10 agents)",
    ]
    communities = {"c0": list(range(10)), "c1": list(range(10, 25))}
    groups = picture_groups(names, communities)
    assert [g.label for g in groups] == ["c1 (15 agents)", "c0 (10 agents)", "no community (5 agents)"]
    assert group_index(groups).tolist() == [1] * 10 + [0] * 15 + [2] * 5
    many = {f"c{k}": [2 * k, 2 * k + 1] for k in range(15)}
    folded = picture_groups(names, many)
    assert len(folded) == MAX_GROUPS and folded[-1].label == "other (12 agents)"


def test_the_agent_map_follows_the_agents_from_round_to_round():
    rng = np.random.default_rng(1)
    first = rng.normal(size=(40, 6))
    turned = first @ np.linalg.qr(rng.normal(size=(6, 6)))[0]  # the same agents, another basis
    turned[7] = np.nan  # an agent without answers this round
    (shown0, c0), (shown1, c1) = agent_map([first, turned])
    assert np.array_equal(shown0, np.arange(40)) and 7 not in shown1 and len(shown1) == 39
    assert np.allclose(c0, classical_mds(first))
    keep = np.delete(np.arange(40), 7)
    assert np.abs(c1 - c0[keep]).max() < 0.5 * np.abs(c0).max()  # aligned: not flipped or turned


def test_the_report_of_a_large_network_is_drawn_by_groups_with_an_agent_map(tmp_path):
    extra = '[topology]\nname = "communities"\ngroups = 3\np_in = 0.5\np_out = 0.05\n'
    out = tmp_path / "run"
    start_run(load_scenario(write_scenario(tmp_path, scenario(24, extra=extra))), out)
    write_llm_report(out)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<tr data-reads=" not in page  # no table of every answer: the map opens an agent's round
    data = json.loads(
        re.search(r'<script id="lwd-data" type="application/json">(.*?)</script>', page, re.S)[1]
    )
    record = RoundLog(out).record(2)
    agent = record.agents[5]
    key = f"2/{agent.agent}"
    assert data["agents"][5] == agent.agent and data["counts"][key] == len(agent.retrieved)
    assert data["reads"][key] == list(agent.retrieved[:20])
    said = [data["texts"][k] for _, _, k in data["answers"][key]]
    assert said == [r.clean for r in agent.responses]
    assert set(data["posts"]) == {i for ids in data["reads"].values() for i in ids}
    assert "The agent map" in page and page.count("(8 agents)") >= 3  # a legend entry per community


def test_a_large_network_writes_each_read_list_once(tmp_path):
    """Past 12 agents the ids an agent read are in reads.csv, once per agent and round, not on each of its
    answers' rows of responses.csv (a small network keeps them there, as before)."""
    out = tmp_path / "run"
    start_run(load_scenario(write_scenario(tmp_path, scenario(13, rounds=1))), out)
    reads = read_rows(out / READS)
    assert len(reads) == 2 * 13 and list(reads[0]) == ["round", "agent", "retrieved"]
    record = RoundLog(out).record(1)
    assert reads[13 + 4]["retrieved"].split() == list(record.agents[4].retrieved)
    assert all(r["retrieved"] == "" for r in read_rows(out / "responses.csv"))
    # the round's record writes a post's lineage as "read" (its author's retrieved) and reads it back whole
    written = json.loads((out / "rounds" / "round-0001.json").read_text())
    assert {p["lineage"] for p in written["posts"] if p["synthetic"]} == {"read"}
    lineage = {p.author: p.lineage for p in record.posts}
    assert all(lineage[a.agent] == a.retrieved and a.retrieved for a in record.agents)
    from lwd.internet.store import PostStore

    stored = {p.id: p for p in PostStore.open(out / "store").posts()}  # Chroma leaves the read lists out
    assert all(stored[p.id].lineage == () and stored[p.id].text == p.text for p in record.posts)
    assert (
        "lineage"
        not in PostStore.open(out / "store").collection.get(ids=[record.posts[0].id])["metadatas"][0]
    )
    before = (out / READS).read_bytes()
    RoundLog(out).write_tables()
    assert (out / READS).read_bytes() == before
    small = tmp_path / "small"
    start_run(load_scenario(write_scenario(tmp_path, scenario(3, rounds=1))), small)
    assert not (small / READS).exists() and all(r["retrieved"] for r in read_rows(small / "responses.csv"))
    kept = RoundLog(small).record(1).posts  # a small network's store keeps each post's lineage
    stored = {p.id: p for p in PostStore.open(small / "store").posts()}
    assert all(stored[p.id].lineage == p.lineage and p.lineage for p in kept if p.synthetic)


def test_a_large_network_resumes_exactly(tmp_path):
    """Stopped after round 0 and resumed: every table and the store are those of an uninterrupted run (the
    record's lineage written once, the pools shared by communities, the fit searched, all read back alike)."""
    from lwd.internet.store import PostStore
    from lwd.run.llm import resume_run

    text = scenario(14, rounds=2, extra='n_ctx = 300\n[topology]\nname = "communities"\ngroups = 2\n')
    path = write_scenario(tmp_path, text)
    whole, part = tmp_path / "whole", tmp_path / "part"
    start_run(load_scenario(path), whole)
    start_run(load_scenario(path), part, until=0)
    assert resume_run(part) == 1
    for table in ("metrics.csv", AGENT_METRICS, READS):
        assert (part / table).read_bytes() == (whole / table).read_bytes(), table
    drop = ("latency_s",)
    assert read_rows(part / "responses.csv", drop) == read_rows(whole / "responses.csv", drop)
    assert any(
        int(r["k_used"]) < int(r["k"]) for r in read_rows(whole / "responses.csv")
    )  # the window capped
    assert PostStore.open(part / "store").posts() == PostStore.open(whole / "store").posts()


def test_pure_python_agents_spread_over_worker_processes_answer_as_in_one_thread(tmp_path, monkeypatch):
    """Past SPREAD_AGENTS pure-Python agents (Linux) a round forks a worker per core: the run folder's tables are
    byte-identical to the same run in the scheduler's thread, the progress still comes agent by agent, and a
    window that caps still caps (the fit search runs in the workers)."""
    from lwd.run import spread
    from lwd.run.kinds import EventKind

    if not spread._forks():
        pytest.skip("fork is not available here (Linux only)")
    text = scenario(20, rounds=2, extra="n_ctx = 500\n")
    alone, spread_out = tmp_path / "alone", tmp_path / "spread"
    monkeypatch.setattr(spread, "SPREAD_AGENTS", 10**9)
    start_run(load_scenario(write_scenario(tmp_path, text)), alone)
    monkeypatch.setattr(spread, "SPREAD_AGENTS", 8)
    monkeypatch.setattr(spread, "_PART", 3)  # parts smaller than the network: several per worker
    monkeypatch.setattr(spread, "_cores", lambda: 2)  # two workers, however many cores this machine has
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setattr(spread, "_worker", _noting_pid(spread._worker, pids))  # runs in each worker
    done: list[str] = []

    def on_event(event):
        if event.kind is EventKind.AGENT_DONE:
            done.append(event.agent)

    start_run(load_scenario(write_scenario(tmp_path, text)), spread_out, on_event=on_event)
    assert done == [f"a{i}" for i in range(20)] * 3  # each round's agents in order
    for table in ("metrics.csv", AGENT_METRICS, READS):
        assert (spread_out / table).read_bytes() == (alone / table).read_bytes(), table
    strip = [{k: v for k, v in r.items() if k != "latency_s"} for r in read_rows(alone / "responses.csv")]
    assert strip == [
        {k: v for k, v in r.items() if k != "latency_s"} for r in read_rows(spread_out / "responses.csv")
    ]
    assert any(int(r["k_used"]) < int(r["k"]) for r in read_rows(alone / "responses.csv"))  # it capped
    workers = {int(p.name) for p in pids.iterdir()}
    assert len(workers) >= 2 and os.getpid() not in workers, "the parts ran in two worker processes"


def _noting_pid(function, folder):
    def wrapped(*args):  # a worker's initializer: inherited by the fork, never pickled
        (folder / str(os.getpid())).touch()
        function(*args)

    return wrapped


def test_each_metric_panel_of_report_html_has_its_own_legend():
    from lwd.metrics.registry import Column, Kind, Scope
    from lwd.report.html import _metrics_figure

    def column(name, metric):
        return Column(name, metric, Scope.NETWORK, Kind.DISTANCE, name)

    table = {c: np.arange(4.0) for c in ("a", "b", "c", "d", "e")}
    panels = [("first", [column("a", "m1"), column("b", "m1")]), ("second", [column(c, "m2") for c in "cde"])]
    fig = _metrics_figure(list(range(4)), table, panels)
    assert [t.legend or "legend" for t in fig.data] == ["legend"] * 2 + ["legend2"] * 3
    assert (
        fig.layout.legend2.x == fig.layout.xaxis2.domain[1]
        and fig.layout.legend.x == fig.layout.xaxis.domain[1]
    )
