"""Agents on real servers on 127.0.0.1: llama.cpp's OpenAI-compatible server (from the prebuilt wheel) and an
Ollama-API server in front of it (ollama-proxy-plus, or a real Ollama when OLLAMA_HOST names one), the
`lwd backends` commands, and the fault drills: a server down before the run, killed mid-round, frozen."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import read_rows, write_scenario
from servers import SERVED, free_port, llama_server, ollama_server, run_past_round_zero, start_llama_server
from typer.testing import CliRunner

from lwd.cli import app
from lwd.run.llm import start_run
from lwd.run.rounds import RoundLog
from lwd.run.scenario import AGENTS_OVERRIDE, load_scenario
from lwd.scenarios import available

pytestmark = pytest.mark.real
runner = CliRunner()
LWD = [sys.executable, "-m", "lwd"]


def scenario(*agents: str, rounds: int = 1, samples: int = 2) -> str:
    head = textwrap.dedent(f"""
        description = "backend test"
        seed = 1

        [network]
        beta = 0.5
        samples = {samples}
        rounds = {rounds}

        [embedder]
        model = "hash"
    """)
    return head + "".join(textwrap.dedent(a) for a in agents)


def openai_agent(name: str, url: str, model: str = SERVED, extra: str = "") -> str:
    return (
        f'\n[[agents]]\nname = "{name}"\nbackend = "openai"\nbase_url = "{url}"\nmodel = "{model}"\n{extra}\n'
    )


def ollama_agent(name: str, url: str, model: str, extra: str = "") -> str:
    return (
        f'\n[[agents]]\nname = "{name}"\nbackend = "ollama"\nbase_url = "{url}"\nmodel = "{model}"\n{extra}\n'
    )


FAKE = '\n[[agents]]\nname = "fake"\nbackend = "fake"\n'


@pytest.fixture(scope="module")
def openai_server():
    with llama_server() as server:
        yield server


@pytest.fixture(scope="module")
def ollama(openai_server):
    with ollama_server(openai_server) as server:
        yield server


def test_openai_backend_two_rounds(openai_server, tmp_path):
    text = scenario(
        openai_agent("native", openai_server.url),
        openai_agent("single", openai_server.url, extra="native_n = false\nconcurrency = 2"),
        FAKE,
    )
    start_run(load_scenario(write_scenario(tmp_path, text)), tmp_path / "run")
    rows = read_rows(tmp_path / "run" / "responses.csv")
    for name in ("native", "single"):
        mine = [r for r in rows if r["agent"] == name]
        assert len(mine) == 4 and sum(r["clean"] != "" for r in mine) >= 3
    native_seeds = {(r["round"], r["seed"]) for r in rows if r["agent"] == "native"}
    assert len(native_seeds) == 2  # one request per round: its seed is recorded on every sample
    single = [
        int(r["seed"]) for r in rows if r["agent"] == "single" and r["round"] == "0" and r["attempts"] == "1"
    ]
    assert single == sorted(single) and (len(single) < 2 or single[1] == single[0] + 1)  # seeds s + l
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    agent = manifest["agents"][0]
    assert agent["backend"] == "openai" and agent["served_model"]["id"] == SERVED  # pinned
    assert agent["base_url"] == openai_server.url and agent["samples"] == "one request with n = L"


def test_ollama_backend_two_rounds(ollama, tmp_path):
    text = scenario(ollama_agent("olla", ollama.url, ollama.model, "concurrency = 2"), FAKE)
    start_run(load_scenario(write_scenario(tmp_path, text)), tmp_path / "run")
    rows = [r for r in read_rows(tmp_path / "run" / "responses.csv") if r["agent"] == "olla"]
    assert len(rows) == 4 and sum(r["clean"] != "" for r in rows) >= 3
    assert sorted({int(r["seed"]) for r in rows if r["round"] == "0"}) == [
        int(rows[0]["seed"]),
        int(rows[0]["seed"]) + 1,
    ]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["agents"][0]["digest"].startswith("sha256:")  # pinned


def test_one_flag_moves_every_agent_to_a_server(openai_server, tmp_path):
    out = tmp_path / "moved"
    result = runner.invoke(
        app,
        [
            "run",
            "quick",
            "--backend",
            "openai",
            "--base-url",
            openai_server.url,
            "--model",
            SERVED,
            "-T",
            "1",
            "-L",
            "2",
            "-o",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert {a["backend"] for a in manifest["agents"]} == {"openai"}
    skeptic = manifest["agents"][1]  # common options survive the move
    assert skeptic["prompt"]["system"].startswith("You are a skeptical economist")
    assert skeptic["temperature"] == 1.0
    assert manifest["scenario"]["overrides"][AGENTS_OVERRIDE]["base_url"] == openai_server.url


def test_backends_lists_and_checks(openai_server, ollama, tmp_path):
    from lwd.agents.registry import check_agent

    listing = runner.invoke(app, ["backends"])
    assert listing.exit_code == 0
    for name in ("llamacpp", "hf", "ollama", "openai", "fake"):
        assert name in listing.output
    closed = f"http://127.0.0.1:{free_port()}/v1"
    text = scenario(
        openai_agent("good", openai_server.url),
        openai_agent("unserved", openai_server.url, "gpt-9"),
        openai_agent("nobody", closed),
        ollama_agent("olla", ollama.url, ollama.model),
        ollama_agent("unpulled", ollama.url, "llama3.1:8b"),
        '\n[[agents]]\nname = "file"\nmodel = "missing.gguf"\n',
        FAKE,
    )
    path = write_scenario(tmp_path, text)
    checks = {a.name: check_agent(a, tmp_path) for a in load_scenario(path).scenario.agents}
    good = checks["good"]
    assert good.ok and good.context == 8192 and good.pins["served_model"]["id"] == SERVED
    assert checks["unserved"].reachable and checks["unserved"].model_found is False
    assert SERVED in checks["unserved"].fix  # names what the server does serve
    assert not checks["nobody"].reachable and "start the server" in checks["nobody"].fix
    assert checks["olla"].ok and checks["olla"].pins["digest"]
    assert "ollama pull llama3.1:8b" in checks["unpulled"].fix
    assert checks["file"].model_found is False and checks["fake"].ok
    result = runner.invoke(app, ["backends", "check", str(path)])
    assert result.exit_code == 1  # some agents are not ready
    output = " ".join(result.output.split())
    for words in ("good", "unserved", "nobody", "found", "missing"):
        assert words in output


def test_server_down_before_the_run_is_refused_with_the_fix(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/v1"
    path = write_scenario(tmp_path, scenario(openai_agent("smol", closed)))
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(path), "-o", str(out)])
    assert result.exit_code == 2 and not out.exists()
    text = " ".join(result.output.split())
    assert "agent 'smol'" in text and closed in text and "start the server" in text


# Waits in these tests are for what the test needs to see, with limits generous enough for a machine whose
# other core is busy (CI shares its machines): a request's own timeout is never what decides a test.
PATIENT = "timeout = 600"


def test_server_killed_mid_round_then_resumed(tmp_path):
    server = start_llama_server()
    try:
        path = write_scenario(
            tmp_path,
            scenario(
                openai_agent("a", server.url, extra=f"attempts = 2\nbackoff = 0.2\n{PATIENT}"),
                openai_agent("b", server.url, extra=f"attempts = 2\nbackoff = 0.2\n{PATIENT}"),
                rounds=3,
            ),
        )
        out = tmp_path / "run"
        proc = run_past_round_zero(path, out)
        server.stop(signal.SIGKILL)  # during round 1
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 2, stderr  # a user error like any other: one message, no traceback
        message = " ".join(stderr.split())
        assert "failed 2 time(s)" in message and server.url in message and "lwd resume" in message
        assert "Traceback" not in stderr
        done = RoundLog(out).committed()
        assert done and done == list(range(len(done))) and len(done) < 4  # no half round, nothing lost
        server = start_llama_server(port=server.port)  # the server is back
        resumed = subprocess.run(
            [*LWD, "resume", str(out), "-q"], capture_output=True, text=True, timeout=1200
        )
        assert resumed.returncode == 0, resumed.stderr
        assert RoundLog(out).committed() == [0, 1, 2, 3]
        assert len(read_rows(out / "responses.csv")) == 4 * 2 * 2
        # lwd's own server is reproducible: the resumed run ends where an uninterrupted one does
        whole = subprocess.run(
            [*LWD, "run", str(path), "-o", str(tmp_path / "whole"), "-q"],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert whole.returncode == 0, whole.stderr
        drop = ("latency_s", "retries", "attempts")
        assert read_rows(out / "responses.csv", drop) == read_rows(tmp_path / "whole" / "responses.csv", drop)
    finally:
        server.stop()


def test_ten_agents_share_one_lwd_server_reproducibly(openai_server, tmp_path):
    """A load test of one lwd server: 10 agents, at most 4 requests in flight (the per-endpoint limit). lwd's own
    server takes generation requests one at a time, pinned: the same seeds give the same answers whatever ran
    before (this module's other tests) and however the requests interleave."""
    agents = [
        openai_agent(f"a{i}", openai_server.url, extra=f"concurrency = 4\n{PATIENT}") for i in range(10)
    ]
    path = write_scenario(tmp_path, scenario(*agents, rounds=1, samples=2))
    runs = []
    for name in ("first", "second"):
        done = subprocess.run(
            [*LWD, "run", str(path), "-o", str(tmp_path / name), "-q"],
            capture_output=True,
            text=True,
            timeout=3000,
        )
        assert done.returncode == 0, done.stderr
        runs.append(read_rows(tmp_path / name / "responses.csv", drop=("latency_s",)))
    assert len(runs[0]) == 10 * 2 * 2 and not any(r["failed"] == "True" for r in runs[0])
    assert all(r["retries"] == "0" for r in runs[0])
    assert [r["raw"] for r in runs[0]] == [r["raw"] for r in runs[1]]
    assert runs[0] == runs[1]


def _given_up(port: int) -> bool:
    """Whether a client has closed a connection to the server at ``port`` that the server has not: that end
    waits in CLOSE_WAIT. Looked up machine-wide: a stopped server has not even accepted the connection yet, so
    no file of its process holds it."""
    import psutil

    return any(
        c.status == psutil.CONN_CLOSE_WAIT and c.laddr and c.laddr.port == port
        for c in psutil.net_connections(kind="tcp")
    )


def test_frozen_server_is_retried_until_it_answers(tmp_path):
    """The server stops answering (SIGSTOP) when round 0 starts and wakes up only once the client has given up
    on it (its request timed out): the request is retried and answered. Event-driven: nothing here depends on
    how fast the machine is, only the request timeout decides when the client gives up."""
    server = start_llama_server()
    woken = threading.Event()
    try:
        path = write_scenario(
            tmp_path,
            scenario(
                openai_agent(
                    "a", server.url, extra="timeout = 20\nattempts = 6\nbackoff = 0.5\nmax_tokens = 16"
                )
            ),
        )

        def wake_when_given_up():
            deadline = time.monotonic() + 600
            while not _given_up(server.port) and time.monotonic() < deadline:
                time.sleep(0.1)
            os.kill(server.proc.pid, signal.SIGCONT)
            woken.set()

        def freeze(event):
            if event.kind == "round_start" and not woken.is_set() and event.round == 0:
                os.kill(server.proc.pid, signal.SIGSTOP)
                threading.Thread(target=wake_when_given_up, daemon=True).start()

        start_run(load_scenario(path), tmp_path / "run", on_event=freeze, until=0)
        rows = read_rows(tmp_path / "run" / "responses.csv")
        assert (
            woken.is_set() and len(rows) == 2 and int(rows[0]["retries"]) >= 1
        )  # timed out, retried, answered
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()


@pytest.mark.parametrize("name", sorted(n for n in available() if n.startswith("backends/")))
def test_every_backend_scenario_smoke_runs_one_round_on_local_servers(name, openai_server, ollama, tmp_path):
    """The shipped backend examples name servers and models that are not here: the same files, with every
    agent pointed at this machine's servers (same backend, local model), run one round."""
    from lwd.run.scenario import parse_scenario

    text = available()[name].read_text()
    backend = parse_scenario(text).scenario.agents[0].backend
    local = {
        "openai": {"base_url": openai_server.url, "model": SERVED},
        "ollama": {"base_url": ollama.url, "model": ollama.model},
        "hf": {"model": "smollm2-135m-instruct", "device": "cpu"},
        "llamacpp": {"model": "smollm2-135m-instruct"},
    }[backend]
    loaded = load_scenario(
        available()[name],
        overrides={
            "network.samples": 2,
            "embedder.model": "hash",
            AGENTS_OVERRIDE: {"backend": backend, **local},
        },
    )
    start_run(loaded, tmp_path / "run", until=0)
    assert RoundLog(tmp_path / "run").committed() == [0]
