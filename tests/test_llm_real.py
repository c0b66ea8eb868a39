"""The real parts: the packaged models on embedded llama.cpp, the packaged embedder, a Chroma server, and a
run killed with SIGKILL and resumed. Tiny scenarios (2-3 rounds, 2-3 samples) keep this to a few minutes."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FAKE_SCENARIO, read_rows, write_scenario
from langchain_core.messages import HumanMessage

from lwd.agents.models import resolve_model, sha256_file
from lwd.run.scenario import load_scenario
from lwd.scenarios import available

pytestmark = pytest.mark.real

LWD = [sys.executable, "-m", "lwd"]
QUESTION = "Please provide EXACTLY one concise sentence about the future prospects of Bitcoin."


def lwd(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*LWD, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def smollm2():
    from lwd.agents.llamacpp import ChatLlamaCpp

    chat = ChatLlamaCpp(
        model_path=str(resolve_model("smollm2-135m-instruct").path), n_parallel=4, n_ctx=2048, max_tokens=40
    )
    yield chat
    chat.close()


def prompt(posts: list[str]) -> list:
    return [
        HumanMessage(
            "Here are some posts from the Internet:\n"
            + "\n".join(f"- {p}" for p in posts)
            + "\n\n"
            + QUESTION
        )
    ]


def test_l_samples_share_one_prompt_evaluation_and_have_their_own_seeds(smollm2):
    messages = prompt(["Bitcoin ETFs drew record inflows.", "Regulators are drafting new rules."])
    result = smollm2.generate([messages], n=4, seed=100)
    gens = result.generations[0]
    assert [g.generation_info["seed"] for g in gens] == [100, 101, 102, 103]
    assert len({g.text for g in gens}) > 1  # four draws, not one copied
    timings = result.llm_output["timings"]
    assert (
        len(timings) == 1 and timings[0]["prompt_n"] == result.llm_output["prompt_tokens"]
    )  # evaluated once
    assert result.llm_output["prompt_tokens"] == smollm2.count_prompt_tokens(messages)  # exact count
    single = smollm2.generate([messages], n=1, seed=102).generations[0][0]
    assert single.text == gens[2].text  # sample l is the draw with seed + l, reproducible alone


def test_results_do_not_depend_on_earlier_requests(smollm2):
    """A resumed run starts a fresh engine; what it samples must equal what a long-running engine samples."""
    from lwd.agents.llamacpp import ChatLlamaCpp

    late = prompt([f"Post {i}: Bitcoin adoption grows while regulation looms." for i in range(12)])
    smollm2.generate([prompt(["short"])], n=4, seed=1)
    smollm2.generate([prompt([f"post {i} about mining" for i in range(25)])], n=3, seed=2)
    used = [g.text for g in smollm2.generate([late], n=4, seed=7).generations[0]]
    fresh_model = ChatLlamaCpp(
        **smollm2.model_dump(
            exclude={
                "callbacks",
                "tags",
                "metadata",
                "cache",
                "verbose",
                "callback_manager",
                "rate_limiter",
                "disable_streaming",
                "output_version",
                "custom_get_token_ids",
            }
        )
    )
    fresh = [g.text for g in fresh_model.generate([late], n=4, seed=7).generations[0]]
    fresh_model.close()
    assert used == fresh


def test_base_model_answers_completion_style():
    from lwd.agents.config import ContextPolicy, LlamaCppAgentConfig
    from lwd.agents.llamacpp import build_llamacpp

    agent = build_llamacpp(
        LlamaCppAgentConfig(name="gemma3", model="gemma-3-270m", answer_prefix="Bitcoin"),
        query=QUESTION,
        samples=4,
        base=None,
        policy=ContextPolicy.CAP,
    )
    reply = agent.reply(
        ["Bitcoin ETFs drew record inflows this week.", "Mining uses a lot of energy."], 4, 11
    )
    agent.model.close()
    assert agent.prompt.style == "completion"
    assert all(r.raw.startswith("Bitcoin") for r in reply.responses)
    assert sum(not r.failed for r in reply.responses) >= 3
    assert all("\n" not in r.clean for r in reply.responses)


def test_agents_of_one_model_share_one_engine_and_answer_as_if_alone():
    """Three personas of SmolLM2 load it once; an agent's answers do not depend on who asked the engine
    before (the same as on an engine of its own), and the last agent to close frees it."""
    from lwd.agents.config import ContextPolicy, LlamaCppAgentConfig
    from lwd.agents.llamacpp import ENGINES, build_llamacpp

    def build(name: str, prompt: str):
        config = LlamaCppAgentConfig(
            name=name, model="smollm2-135m-instruct", system_prompt=prompt, n_ctx=1024, max_tokens=16
        )
        return build_llamacpp(config, query=QUESTION, samples=2, base=None, policy=ContextPolicy.CAP)

    posts = ["Bitcoin ETFs drew record inflows this week."]
    alone = build("alone", "You are a skeptic.")
    key = alone.model.engine_key  # (other tests' engines, of other settings, may be loaded)
    expected = [r.raw for r in alone.reply(posts, 2, 5).responses]
    assert ENGINES.holders(key) == 1
    alone.model.close()
    assert ENGINES.holders(key) == 0
    agents = [
        build(f"p{i}", p) for i, p in enumerate(["You are an optimist.", "You are a skeptic.", "Be brief."])
    ]
    for agent in agents:
        agent.model.load()
    assert ENGINES.holders(key) == 3
    assert agents[0].model.engine is agents[2].model.engine
    agents[0].reply(posts, 2, 9)  # another agent's request first
    assert [r.raw for r in agents[1].reply(posts, 2, 5).responses] == expected
    for agent in agents:
        agent.model.close()
    assert ENGINES.holders(key) == 0


def test_packaged_embedder_is_offline_and_semantic():
    from lwd.metrics.embedders import load_embedder

    embedder = load_embedder("all-MiniLM-L6-v2")
    vectors = embedder.embed(
        [
            "Bitcoin will keep rising as institutions buy it.",
            "Institutional buying should push Bitcoin higher.",
            "My cat sleeps on the warm windowsill all afternoon.",
        ]
    )
    assert vectors.shape == (3, 384) and embedder.dim == 384
    d = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    assert d[0, 1] < d[0, 2] and d[0, 1] < d[1, 2]
    assert len(next(iter(embedder.describe()["weights_sha256"].values()))) == 64


def test_quick_scenario_end_to_end_on_the_packaged_models(tmp_path):
    out = tmp_path / "quick"
    proc = lwd("run", "quick", "--rounds", "2", "--samples", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    metrics = read_rows(out / "metrics.csv")
    assert [m["round"] for m in metrics] == ["0", "1", "2"]
    assert all(np.isfinite(float(m["frobenius"])) and float(m["frobenius"]) > 0 for m in metrics)
    responses = read_rows(out / "responses.csv")
    assert len(responses) == 3 * 3 * 2
    assert sum(r["clean"] != "" for r in responses) >= 16
    assert all(int(r["prompt_tokens"]) > 50 and r["tokens"] for r in responses)
    manifest = json.loads((out / "manifest.json").read_text())
    for agent in manifest["agents"]:
        assert agent["sha256"] == sha256_file(Path(agent["path"]))
    assert [a["style"] for a in manifest["agents"]] == ["chat"] * 3 and manifest["embedder"]["dim"] == 384
    assert manifest["agents"][1]["temperature"] == 1.0  # the skeptic's own sampling
    assert manifest["versions"]["xllamacpp"] != "not installed"
    assert (out / "figures" / "frobenius.png").exists() and (out / "figures" / "mds.png").exists()


def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    args = ["quick", "--rounds", "3", "--samples", "2", "-q"]
    full = tmp_path / "full"
    assert lwd("run", *args, "--out", str(full)).returncode == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*LWD, "run", *args, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 1200
    while not (killed / "rounds" / "round-0001.json").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    time.sleep(1.0)  # into round 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "rounds" / "round-0003.json").exists()
    resumed = lwd("resume", str(killed), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert (killed / "metrics.csv").read_bytes() == (full / "metrics.csv").read_bytes()
    assert read_rows(killed / "responses.csv", ("latency_s",)) == read_rows(
        full / "responses.csv", ("latency_s",)
    )


def test_resume_refuses_a_model_file_that_changed(tmp_path):
    """The manifest pins the model file's sha256: resuming with other weights under the same path is refused."""
    model = tmp_path / "smol.gguf"
    model.write_bytes(resolve_model("smollm2-135m-instruct").path.read_bytes())
    path = write_scenario(
        tmp_path,
        """
        description = "one agent on a copied model file"
        seed = 2
        [network]
        beta = 0.5
        samples = 2
        rounds = 2
        [embedder]
        model = "hash"
        [[agents]]
        name = "smol"
        model = "smol.gguf"
        """,
    )
    out = tmp_path / "run"
    assert lwd("run", str(path), "--out", str(out), "-q").returncode == 0
    for last in (out / "rounds").glob("round-0002.*"):
        last.unlink()
    with open(model, "ab") as fh:
        fh.write(b"\0" * 64)  # still loads: only the pin tells
    resumed = lwd("resume", str(out), "-q")
    said = " ".join(resumed.stderr.split())
    assert resumed.returncode == 2 and "Traceback" not in resumed.stderr, resumed.stderr
    assert "agent 'smol': model file" in said and str(model) in said and "recorded" in said
    assert not (out / "rounds" / "round-0002.json").exists()


@pytest.mark.parametrize(
    "name",
    [
        n
        for n, p in available().items()  # backends/*: test_backends.py
        if load_scenario(p).scenario.kind == "llm" and not n.startswith("backends/")
    ],
)
def test_every_llm_scenario_smoke_runs_one_round(name, tmp_path):
    """Round 0 of each shipped LLM scenario, L = 2; a population of real models runs two of its members (its
    personas, models and topology as shipped: the whole of network-100 is a benchmark, bench_agents.py)."""
    from lwd.run.llm import start_run
    from lwd.run.rounds import RoundLog
    from lwd.run.scenario import parse_scenario

    loaded = load_scenario(available()[name], overrides={"network.samples": 2})
    if any(a.backend != "fake" for a in loaded.scenario.agents) and len(loaded.scenario.agents) > 12:
        text = re.sub(r"(?m)^count = \d+$", "count = 2", loaded.text)
        loaded = parse_scenario(text, available()[name], overrides={"network.samples": 2})
        assert len(loaded.scenario.agents) < 12
    start_run(loaded, tmp_path / name, until=0)
    assert RoundLog(tmp_path / name).committed() == [0]


@pytest.fixture
def chroma_server(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chroma = Path(sys.executable).parent / "chroma"
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert server.poll() is None and time.time() < deadline, "chroma server did not start"
            time.sleep(0.2)
    yield url
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def test_store_on_a_chroma_server_with_resume(chroma_server, tmp_path):
    import chromadb
    from chromadb.config import Settings

    from lwd.run.llm import resume_run, start_run

    path = write_scenario(tmp_path, FAKE_SCENARIO + f'\n[store]\nurl = "{chroma_server}"\n')
    out = tmp_path / "remote"
    start_run(load_scenario(path), out, until=1)
    assert not (out / "store").exists()  # the posts live on the server
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["store"]["kind"] == "http" and manifest["store"]["collection"].startswith("internet-")
    resume_run(out)
    host, port = chroma_server.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port), settings=Settings(anonymized_telemetry=False))
    assert client.get_collection(manifest["store"]["collection"]).count() == 20 + 3 * 4
    assert len(read_rows(out / "metrics.csv")) == 4


def test_nothing_is_downloaded(monkeypatch, tmp_path):
    """The run above uses only installed files; with every network route refused, setup still works."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "no_proxy": "",
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    proc = subprocess.run(
        [*LWD, "run", "quick", "--rounds", "1", "--samples", "1", "-q", "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr


def _hf_agent(device: str, samples: int = 3):
    from lwd.agents.config import HFAgentConfig
    from lwd.agents.registry import build_agent

    return build_agent(
        HFAgentConfig(name="hf", model="smollm2-135m-instruct", device=device),
        query=QUESTION,
        samples=samples,
        base=None,
    )


def _check_hf(device: str) -> None:
    agent = _hf_agent(device)
    posts = ["Bitcoin ETFs drew record inflows this week.", "Mining uses as much power as a small country."]
    first, again = agent.reply(posts, 3, 9), agent.reply(posts, 3, 9)
    assert [r.raw for r in first.responses] == [r.raw for r in again.responses]  # seeded, reproducible
    assert sum(not r.failed for r in first.responses) >= 2
    assert first.prompt_tokens == agent.model.count_prompt_tokens(agent.prompt.messages(posts))
    assert agent.describe["device"].startswith(device) and len(agent.describe["sha256"]) == 64
    agent.model.close()


def test_hf_backend_on_cpu_with_the_packaged_gguf():
    _check_hf("cpu")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(
    not _cuda(), reason="no CUDA GPU on this machine: the HF backend's CUDA path runs where one is"
)
def test_hf_backend_on_cuda():
    _check_hf("cuda")


def test_hf_agent_in_a_run(tmp_path):
    from lwd.run.llm import start_run

    text = FAKE_SCENARIO.replace(
        'name = "cy"\nbackend = "fake"\ncopy_rate = 0.2',
        'name = "cy"\nbackend = "hf"\nmodel = "smollm2-135m-instruct"\ndevice = "cpu"',
    )
    start_run(
        load_scenario(write_scenario(tmp_path, text), overrides={"network.samples": 2}),
        tmp_path / "hf",
        until=1,
    )
    rows = [r for r in read_rows(tmp_path / "hf" / "responses.csv") if r["agent"] == "cy"]
    assert len(rows) == 4 and sum(r["clean"] != "" for r in rows) >= 3
