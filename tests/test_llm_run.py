"""Algorithm 1 end to end on fake agents: the scheduler, a real Chroma store, the run folder, resume."""

import json
import threading
import time

import numpy as np
import pytest
from conftest import FAKE_SCENARIO, read_rows, write_scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from lwd.internet.store import PostStore
from lwd.run.folder import RunFolderError, folder_lock
from lwd.run.llm import resume_run, start_run
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario, parse_scenario
from lwd.run.scheduler import retrieve


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "fake"
    scenario = tmp_path_factory.mktemp("sc") / "fake.toml"
    scenario.write_text(FAKE_SCENARIO)
    events = []
    start_run(load_scenario(scenario), folder, on_event=events.append)
    return folder, events


def test_run_folder_layout(fake_run):
    folder, _ = fake_run
    for name in (
        "manifest.json",
        "scenario.toml",
        "responses.csv",
        "metrics.csv",
        "rounds/initial.json",
        "rounds/round-0003.json",
        "rounds/round-0003.npz",
        "store/chroma.sqlite3",
    ):
        assert (folder / name).exists(), name
    assert not list(folder.rglob(".*.tmp"))


def test_bookkeeping_follows_algorithm_1(fake_run):
    folder, _ = fake_run
    metrics = read_rows(folder / "metrics.csv")
    assert [int(m["round"]) for m in metrics] == [0, 1, 2, 3]
    sizes = [int(m["store_size"]) for m in metrics]
    assert sizes == [20 + 3 * t for t in range(4)]  # |A_{t+1}| = |A_t| + n
    assert [int(m["k"]) for m in metrics] == [s // 2 for s in sizes]  # k_t = ⌊0.5·|A_t|⌋
    assert [float(m["synthetic_fraction"]) for m in metrics] == [3 * t / (20 + 3 * t) for t in range(4)]
    assert list(metrics[0]) == [
        "round",
        "frobenius",
        "spread_ann",
        "spread_bob",
        "spread_cy",
        "between_share",
        "dispersion_within",
        "dispersion_between",
        "energy",
        "energy__ann__bob",
        "energy__ann__cy",
        "energy__bob__cy",
        "energy_p",
        "energy_stat",
        "distinct_ann",
        "duplicates_ann",
        "distinct_bob",
        "duplicates_bob",
        "distinct_cy",
        "duplicates_cy",
        "changed_share",
        "change_ann",
        "change_p_ann",
        "change_bob",
        "change_p_bob",
        "change_cy",
        "change_p_cy",
        "k",
        "k_used_min",
        "store_size",
        "synthetic_fraction",
        "failed",
        "regenerations",
    ]
    store = PostStore.open(folder / "store")
    assert store.count() == 20 + 3 * 4  # every round's first answers were posted, the last one's too


def test_a_round_larger_than_one_chroma_write_is_stored_in_parts(tmp_path):
    """Chroma takes at most ``get_max_batch_size()`` records a write (5,461 here): a round of 10,000 agents'
    posts went over it. The store writes in parts of that size."""
    from lwd.internet.store import Post

    store = PostStore.open(tmp_path / "store")
    assert store.batch > 1000
    store.batch = 3
    posts = [Post(f"r0000-a{i}", f"answer {i}", f"a{i}", 0, True, (), i) for i in range(8)]
    store.add(posts, np.arange(8 * 4, dtype=np.float32).reshape(8, 4))
    assert store.count() == 8
    got = store.collection.get(ids=["r0000-a7"], include=["embeddings", "documents"])
    assert got["documents"] == ["answer 7"] and list(got["embeddings"][0]) == [28, 29, 30, 31]


def test_responses_table_has_every_answer_and_what_was_read(fake_run):
    folder, _ = fake_run
    rows = read_rows(folder / "responses.csv")
    assert len(rows) == 4 * 3 * 4  # rounds × agents × L
    log = RoundLog(folder)
    posts, _ = log.expected_store()
    by_id = {p.id: p for p in posts}
    for rec in log.records():
        visible = [p.id for p in posts if p.round < rec.round]
        for agent in rec.agents:
            assert len(agent.retrieved) == rec.k and len(set(agent.retrieved)) == rec.k
            assert set(agent.retrieved) <= set(visible)  # read only what was on the Internet at round t
            assert agent.posted_sample == 0
        for post in rec.posts:  # each agent posts its first answer, with its lineage
            agent = next(a for a in rec.agents if a.agent == post.author)
            assert post.text == agent.responses[0].clean
            assert post.lineage == agent.retrieved and by_id[post.id].synthetic
    posted = [r for r in rows if r["posted"] == "True"]
    assert len(posted) == 4 * 3 and all(r["sample"] == "0" for r in posted)


def test_metric_is_the_frobenius_norm_of_the_mean_embeddings(fake_run):
    folder, _ = fake_run
    from lwd.testing import HashEmbedder

    rows = read_rows(folder / "responses.csv")
    for t in range(4):
        texts = {
            a: [r["clean"] for r in rows if r["round"] == str(t) and r["agent"] == a]
            for a in ("ann", "bob", "cy")
        }
        means = np.array([HashEmbedder().embed(v).mean(axis=0) for v in texts.values()])
        d = np.linalg.norm(means[:, None] - means[None], axis=-1)
        assert RoundLog(folder).record(t).frobenius == pytest.approx(np.sqrt((d**2).sum()), rel=1e-5)


def test_events_report_progress(fake_run):
    _, events = fake_run
    kinds = [(e.kind, e.round) for e in events]
    assert kinds.count(("round_start", 0)) == 1 and kinds.count(("round_done", 3)) == 1
    assert sum(1 for k, _ in kinds if k == "agent_done") == 3 * 4


def test_manifest_pins_the_run(fake_run):
    folder, _ = fake_run
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "llm" and manifest["seed"] == 3
    assert [a["name"] for a in manifest["agents"]] == ["ann", "bob", "cy"]
    assert manifest["agents"][0]["prompt"]["query"].startswith("Please provide EXACTLY one concise sentence")
    assert manifest["corpus"]["posts"] == 20 and len(manifest["corpus"]["sha256"]) == 64
    assert manifest["embedder"]["name"] == "hash-64"
    assert manifest["store"]["kind"] == "persistent"
    assert parse_scenario(manifest["scenario"]["text"]).scenario.network.rounds == 3


def test_same_seed_same_run_other_seed_other_run(fake_run, tmp_path, fake_scenario):
    folder, _ = fake_run
    again = tmp_path / "again"
    start_run(load_scenario(fake_scenario), again)
    assert read_rows(again / "responses.csv", ("latency_s",)) == read_rows(
        folder / "responses.csv", ("latency_s",)
    )
    assert (again / "metrics.csv").read_bytes() == (folder / "metrics.csv").read_bytes()
    other = tmp_path / "other"
    start_run(load_scenario(fake_scenario, overrides={"seed": 4}), other)
    assert read_rows(other / "responses.csv", ("latency_s",)) != read_rows(
        folder / "responses.csv", ("latency_s",)
    )


def test_resume_after_an_interruption_matches_the_uninterrupted_run(fake_run, tmp_path, fake_scenario):
    folder, _ = fake_run
    part = tmp_path / "part"
    start_run(load_scenario(fake_scenario), part, until=1)
    assert RoundLog(part).committed() == [0, 1]
    # a crash after round 2's posts reached the store but before its record was committed, and one that lost
    # a committed round's post: resume must remove the first and restore the second
    store = PostStore.open(part / "store")
    ghost = store.get(["h0000"])[0]
    store.add(
        [type(ghost)("r0002-ann", "never committed", "ann", 2, True, (), 26)], np.zeros((1, 64), np.float32)
    )
    store.collection.delete(ids=["r0001-bob"])
    assert resume_run(part) == 2
    assert (part / "metrics.csv").read_bytes() == (folder / "metrics.csv").read_bytes()
    assert read_rows(part / "responses.csv", ("latency_s",)) == read_rows(
        folder / "responses.csv", ("latency_s",)
    )


def test_retrieval_is_uniform_without_replacement():
    visible = [f"p{i}" for i in range(10)]
    counts = {v: 0 for v in visible}
    first = {v: 0 for v in visible}
    for t in range(3000):
        picked = retrieve(visible, 4, seed=1, t=t, agent=0)
        assert len(set(picked)) == 4
        for p in picked:
            counts[p] += 1
        first[picked[0]] += 1
    assert max(abs(c / 3000 - 0.4) for c in counts.values()) < 0.04
    assert max(abs(c / 3000 - 0.1) for c in first.values()) < 0.03
    assert retrieve(visible, 4, 1, 7, 2) == retrieve(visible, 4, 1, 7, 2) != retrieve(visible, 4, 1, 7, 1)


def test_agents_that_wait_run_concurrently_and_pure_python_ones_in_the_schedulers_thread(
    tmp_path, fake_scenario, monkeypatch
):
    """Agents whose requests wait (here a fake's ``delay``) overlap on the scheduler's threads; fakes without
    a delay are pure Python, which threads only slow down: they run one after another in the calling thread."""
    from lwd.testing import FakeChatModel

    spans, lock = [], threading.Lock()
    original = FakeChatModel._generate

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        result = original(self, *args, **kwargs)
        with lock:
            spans.append((start, time.perf_counter(), threading.current_thread() is threading.main_thread()))
        return result

    monkeypatch.setattr(FakeChatModel, "_generate", timed)
    slow = fake_scenario.with_name("slow.toml")
    slow.write_text(fake_scenario.read_text().replace('backend = "fake"', 'backend = "fake"\ndelay = 0.05'))
    start_run(load_scenario(slow, overrides={"network.rounds": 1}), tmp_path / "conc", until=0)
    spans.sort()
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)), "agents never overlapped"
    assert not any(main for _, _, main in spans)
    spans.clear()
    start_run(load_scenario(fake_scenario, overrides={"network.rounds": 1}), tmp_path / "inline", until=0)
    assert spans and all(main for _, _, main in spans)
    assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:], strict=False))


def test_context_cap_is_recorded_not_silent(tmp_path):
    path = write_scenario(tmp_path, FAKE_SCENARIO.replace("copy_rate = 0.2", "copy_rate = 0.2\nn_ctx = 420"))
    start_run(load_scenario(path), tmp_path / "cap")
    rows = read_rows(tmp_path / "cap" / "responses.csv")
    capped = [r for r in rows if r["agent"] == "cy" and int(r["k_used"]) < int(r["k"])]
    assert capped, "the small context never capped"
    assert all(int(r["k_used"]) == int(r["k"]) for r in rows if r["agent"] != "cy")
    metrics = read_rows(tmp_path / "cap" / "metrics.csv")
    assert any(int(m["k_used_min"]) < int(m["k"]) for m in metrics)
    # the record keeps what each agent read (the first k_used drawn), and its post's lineage is that
    for t in RoundLog(tmp_path / "cap").committed():
        record = RoundLog(tmp_path / "cap").record(t)
        lineage = {p.author: p.lineage for p in record.posts}
        for agent in record.agents:
            assert len(agent.retrieved) == agent.k_used <= agent.k
            assert lineage[agent.agent] == agent.retrieved


def test_an_agent_reads_only_as_far_as_its_context_holds():
    """The prefix that fits is the longest that fits (as a search over every prefix finds), and finding it
    reads about twice the posts that fit, not all k drawn."""
    from lwd.agents.agent import Agent
    from lwd.agents.fake import FakeChatModel
    from lwd.agents.prompt import PromptSpec

    class Counted(list):
        touched = 0

        def __getitem__(self, index):
            out = super().__getitem__(index)
            Counted.touched = max(Counted.touched, len(out) if isinstance(index, slice) else index + 1)
            return out

    posts = [f"post {i} says " + "word " * (i % 7) for i in range(1500)]
    for n_ctx, k in [(2000, 1500), (2000, 3), (2000, 0), (900, 200), (600, 64), (600, 65), (100_000, 1500)]:
        agent = Agent("a", FakeChatModel(persona="a", n_ctx=n_ctx), PromptSpec())
        Counted.touched = 0
        used = agent.fit(Counted(posts[:k]), 8)
        model, budget = agent.model, agent.model.prompt_budget(8)
        longest = max(
            m for m in range(k + 1) if model.count_prompt_tokens(agent.prompt.messages(posts[:m])) <= budget
        )
        assert used == posts[:longest], (n_ctx, k)
        assert Counted.touched <= max(2 * longest + 2, 64), (n_ctx, k, Counted.touched)


def test_the_longest_prefix_search_agrees_with_trying_every_prefix():
    """Random growing token counts (posts of varied and zero length, jumps, a costly template), random
    budgets: the search finds what trying every prefix finds, counting few prompts when counts are near linear."""
    from lwd.agents.agent import longest_prefix

    rng = np.random.default_rng(0)
    probes = []
    for case in range(400):
        k = int(rng.integers(0, 3000))
        steps = rng.integers(0, 40 if case % 3 else 400, size=k) * (rng.random(k) < 0.9)
        counts = rng.integers(0, 500) + np.concatenate([[0], np.cumsum(steps)])
        budget = int(rng.integers(0, counts[-1] + 200))
        asked: list[int] = []

        def tokens(m, counts=counts, asked=asked):
            asked.append(m)
            return int(counts[m])

        want = max((m for m in range(k + 1) if counts[m] <= budget), default=-1)
        assert longest_prefix(tokens, k, budget) == want, (case, k, budget)
        probes.append(len(set(asked)))
    assert np.median(probes) <= 7 and max(probes) <= 40  # a binary search over 3,000 posts counts ~12


def test_context_error_policy_stops_with_the_numbers(tmp_path):
    from lwd.core.errors import ConfigError

    # 480 words leave 224 for the prompt after 4 answers of 64: round 0's 10 posts fit (219), later ones do not
    text = (
        FAKE_SCENARIO.replace("copy_rate = 0.2", "copy_rate = 0.2\nn_ctx = 480")
        + '\n[context]\npolicy = "error"\n'
    )
    with pytest.raises(ConfigError, match=r"agent 'cy'.*tokens.*Fix"):
        start_run(load_scenario(write_scenario(tmp_path, text)), tmp_path / "err")
    assert RoundLog(tmp_path / "err").committed() == [0]  # the round before the overflow is kept


def test_empty_answers_are_regenerated_then_recorded_as_failures(tmp_path):
    text = FAKE_SCENARIO.replace("copy_rate = 0.2", "copy_rate = 0.2\nempty_rate = 0.5\nmax_retries = 1")
    start_run(load_scenario(write_scenario(tmp_path, text)), tmp_path / "empty")
    rows = [r for r in read_rows(tmp_path / "empty" / "responses.csv") if r["agent"] == "cy"]
    assert any(r["attempts"] == "2" and r["failed"] == "False" for r in rows)  # regenerated, then fine
    failed = [r for r in rows if r["failed"] == "True"]
    assert failed and all(r["clean"] == "" and r["attempts"] == "2" for r in failed)
    for rec in RoundLog(tmp_path / "empty").records():  # the posted answer is the first valid one
        cy = next(a for a in rec.agents if a.agent == "cy")
        if cy.posted_sample is not None:
            assert not cy.responses[cy.posted_sample].failed
            assert all(r.failed for r in cy.responses[: cy.posted_sample])
    metrics = read_rows(tmp_path / "empty" / "metrics.csv")
    assert sum(int(m["regenerations"]) for m in metrics) > 0


def test_a_busy_run_folder_is_refused(tmp_path, fake_scenario):
    part = tmp_path / "busy"
    start_run(load_scenario(fake_scenario), part, until=0)
    with folder_lock(part), pytest.raises(RunFolderError, match="in use"):
        resume_run(part)


def test_existing_folder_is_refused_before_any_work(tmp_path, fake_scenario):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="lwd resume"):
        start_run(load_scenario(fake_scenario), out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["- ", "\n", "\n- ", "'", '"', "\\", "\r", "\x85", "\u2028", "é", "\x00", "😀", "a.", " "]
        )
    )
)
def test_the_fakes_text_work_is_what_repr_and_splitlines_give(pieces):
    """The fake hashes a prompt's repr and copies a listed post: both are put together line by line (cached per
    post), so each must equal what ``repr`` and ``splitlines`` give, whatever quotes and breaks the text holds."""
    from lwd.agents.fake import _listed_posts, _quoted, _words

    text = "".join(pieces)
    lines = text.split("\n")
    assert _quoted(text, lines) == repr(text)
    assert _listed_posts(text, lines) == [line[2:] for line in text.splitlines() if line.startswith("- ")]
    assert _words(text) == len(text.split())
