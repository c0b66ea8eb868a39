"""The third drill (issue 29): the shared-inference features tried as a new user would, each case reproduced
first. Orphaned workers after ``kill -9``, the run folder's lock, pool members that answer badly, lwd's own
server under a queue, the control run where nobody reads, numbers in quotes, one server named twice, and a
one-agent run's stderr."""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from conftest import FAKE_SCENARIO, read_rows, write_scenario
from servers import HTML, SERVED, Scripted, completion, free_port, start_llama_server, wait_until
from test_drills import refused
from typer.testing import CliRunner

from lwd.cli import app
from lwd.core.endpoints import EndpointPool
from lwd.core.errors import RunFolderError
from lwd.run.folder import folder_lock
from lwd.run.rounds import RoundLog

runner = CliRunner()
LWD = [sys.executable, "-m", "lwd"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


# -- 4a: a run of pure-Python agents killed with SIGKILL while its workers answer --------------------------

BIG = textwrap.dedent("""
    description = "256 fake agents in communities: a round forks its workers"
    seed = 0
    [network]
    beta = 0.5
    samples = 4
    rounds = 4
    [embedder]
    model = "hash"
    [topology]
    name = "communities"
    groups = 4
    p_in = 0.04
    p_out = 0.0004
    [[agents]]
    count = 256
    name = "a-{i}"
    backend = "fake"
    copy_rate = 0.5
""")


def test_workers_die_with_a_killed_run_and_it_resumes_at_once_exactly(tmp_path):
    path = write_scenario(tmp_path, BIG)
    out = tmp_path / "killed"
    proc = subprocess.Popen([*LWD, "run", str(path), "-o", str(out), "-q"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not (out / "rounds" / "round-0001.json").exists():  # then round 2 runs: wait for its workers
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.02)
    parent = psutil.Process(proc.pid)
    while not (workers := parent.children()):
        assert proc.poll() is None and time.monotonic() < deadline, "round 2 forked no worker"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive, f"workers outlived their parent: {[p.pid for p in alive]}"
    assert RoundLog(out).committed()[:2] == [0, 1]
    resumed = subprocess.run([*LWD, "resume", str(out), "-q"], capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr  # at once: nothing to kill by hand
    whole = tmp_path / "whole"
    assert run("run", path, "-o", whole, "-q").exit_code == 0
    for table in ("metrics.csv", "agent_metrics.csv", "reads.csv"):
        assert (out / table).read_bytes() == (whole / table).read_bytes(), table
    drop = ("latency_s",)
    assert read_rows(out / "responses.csv", drop) == read_rows(whole / "responses.csv", drop)


HOLD = textwrap.dedent("""
    import os, sys, time
    from lwd.run.folder import folder_lock
    with folder_lock(sys.argv[1]):
        child = os.fork() if sys.argv[2] == "orphan" else None
        if child == 0:
            time.sleep(120)  # a child that inherited the lock's file and outlives its parent
            os._exit(0)
        print("locked", child or "", flush=True)
        if child:
            os._exit(0)  # the parent dies without unlocking
        time.sleep(120)
""")


@pytest.mark.parametrize("case", ["running", "orphan", "killed"])
def test_the_lock_names_its_holder_and_whether_it_runs_and_is_free_when_it_is_gone(case, tmp_path):
    script = tmp_path / "hold.py"
    script.write_text(HOLD)
    mode = "orphan" if case == "orphan" else "hold"
    holder = subprocess.Popen([sys.executable, str(script), str(tmp_path), mode], stdout=subprocess.PIPE)
    said = holder.stdout.readline().split()
    assert said[0] == b"locked"
    left = [psutil.Process(int(said[1]))] if case == "orphan" else []
    try:
        if case == "killed":
            holder.send_signal(signal.SIGKILL)
            holder.wait()
            with folder_lock(tmp_path):  # taken over at once
                assert (tmp_path / ".lock").read_text() == f"pid {os.getpid()}"
            return
        if case == "orphan":
            holder.wait()
        with pytest.raises(RunFolderError) as refusal, folder_lock(tmp_path):
            pass
        said = str(refusal.value)
        if case == "running":
            assert f"pid {holder.pid}" in said and "which is running" in said and "hold.py" in said
        else:
            orphan = left[0].pid
            assert (
                f"pid {orphan}" in said and f"left behind by pid {holder.pid}, which no longer runs" in said
            )
            assert f"kill {orphan}" in refusal.value.fix
    finally:
        holder.kill()
        for proc in left:
            proc.kill()
        holder.wait()


# -- 3b, 3c, 3e: one bad member in a pool beside a good lwd server ------------------------------------------


@pytest.fixture(scope="module")
def good_server():
    server = start_llama_server()
    yield server
    server.stop()


def _pool_scenario(bad: str, good: str, rounds: int) -> str:
    return textwrap.dedent(f"""
        description = "a pool with one bad member"
        seed = 2
        [network]
        beta = 0.5
        samples = 3
        rounds = {rounds}
        [embedder]
        model = "hash"
        [[agents]]
        name = "served"
        backend = "openai"
        base_url = ["{bad}/v1", "{good}"]
        model = "{SERVED}"
        max_tokens = 16
        concurrency = 1
        attempts = 2
        backoff = 0.1
        timeout = 600
        [[agents]]
        name = "fake"
        backend = "fake"
    """)


@pytest.mark.real
@pytest.mark.parametrize(
    "answer,said",
    [
        (HTML, "sent text/html, not JSON"),
        ((200, "application/json", b'{"choices": [ broken'), "sent a body that is not JSON"),
    ],
    ids=["html", "broken-json"],
)
def test_a_pool_member_answering_something_else_is_set_aside_and_the_run_completes(
    answer, said, good_server, tmp_path, caplog
):
    with Scripted(lambda path, request: answer, model=SERVED) as bad:
        path = write_scenario(tmp_path, _pool_scenario(bad.url, good_server.url, rounds=1))
        result = run("run", path, "-o", tmp_path / "run", "-q")
        assert result.exit_code == 0, result.output
        assert len(bad.requests) >= 1  # it was asked, answered badly, and was passed over
    output = " ".join(caplog.text.split())  # the warnings
    assert f"endpoint {bad.url}/v1 failed" in output and said in output and "set aside" in output
    rows = [r for r in read_rows(tmp_path / "run" / "responses.csv") if r["agent"] == "served"]
    assert len(rows) == 2 * 3 and not any(r["failed"] == "True" for r in rows)
    assert {r["endpoint"] for r in rows} == {good_server.url}


@pytest.mark.real
def test_a_pool_member_that_keeps_returning_fewer_answers_is_named_and_set_aside(
    good_server, tmp_path, caplog
):
    with Scripted(lambda path, request: completion(1, SERVED), model=SERVED) as short:
        path = write_scenario(tmp_path, _pool_scenario(short.url, good_server.url, rounds=4))
        result = run("run", path, "-o", tmp_path / "run", "-q")
        assert result.exit_code == 0, result.output
        asked_for_all = [r for r in short.requests if r.get("n", 1) == 3]
    output = " ".join(caplog.text.split())
    assert f"the backend returned 1 ({short.url}/v1)" in output  # the warning names the endpoint
    assert (
        f"endpoint {short.url}/v1 set aside" in output
        and "fewer answers than asked 3 times in a row" in output
    )
    assert len(asked_for_all) == 3  # set aside after its third short answer: rounds 3 and 4 on the good one
    rows = [r for r in read_rows(tmp_path / "run" / "responses.csv") if r["agent"] == "served"]
    assert len(rows) == 5 * 3 and not any(r["failed"] == "True" for r in rows)
    assert {r["endpoint"] for r in rows if r["round"] in ("3", "4")} == {good_server.url}


# -- 1b: lwd's own server under a queue longer than a client's patience ------------------------------------


def test_a_busy_endpoint_is_waited_for_not_failed():
    class Busy(Exception):
        status_code = 503

        class response:  # noqa: N801 - an HTTP response's shape
            status_code = 503
            headers = {"retry-after": "0.2"}

    pool, calls = EndpointPool(["a"], limit=1), []

    def call(index):
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise Busy()
        return "answer"

    assert pool.first_answer(call, lambda exc: True) == ("answer", 0)
    assert pool.failed == [0] and pool.served == [1] and pool.aside_until == [0.0]
    assert calls[2] - calls[0] >= 0.35  # it waited the Retry-After each time


@pytest.mark.real
def test_lwd_server_answers_busy_past_its_queue_wait_and_the_pool_waits(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, "lwd.core.endpoints")
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [*LWD[:2], "lwd.agents.serve", "--port", str(port), "--queue-wait", "0.2", "--parallel", "4"],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until(f"{base}/models", lambda data: bool(data.get("data")), proc)
        agents = "".join(
            f'[[agents]]\nname = "a{i}"\nbackend = "openai"\nbase_url = "{base}"\nmodel = "smollm2-135m-instruct"\n'
            "max_tokens = 24\nconcurrency = 4\nnative_n = false\ntimeout = 30\nattempts = 1\n"
            for i in range(3)
        )
        text = (
            'description = "three agents, one server"\nseed = 5\n[network]\nbeta = 0.5\nsamples = 4\n'
            f'rounds = 1\n[embedder]\nmodel = "hash"\n{agents}'
        )
        path = write_scenario(tmp_path, text)
        result = run("run", path, "-o", tmp_path / "run", "-q")
        assert result.exit_code == 0, result.output
        rows = read_rows(tmp_path / "run" / "responses.csv")
        assert len(rows) == 2 * 3 * 4 and not any(r["failed"] == "True" for r in rows)
        assert {r["retries"] for r in rows} == {"0"}  # busy is not a failure: nothing was retried
        assert f"endpoint {base} is busy" in caplog.text  # 12 requests in flight, a 0.2 s queue: it was
        hung_up = subprocess.run(  # a client that gives up before its answer
            [sys.executable, "-c", _HANG_UP, base], capture_output=True, text=True, timeout=120
        )
        assert hung_up.returncode == 0, hung_up.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    served = log.read_text()
    assert "Traceback" not in served and "BrokenPipe" not in served, served


_HANG_UP = textwrap.dedent("""
    import json, socket, sys, time, urllib.parse
    url = urllib.parse.urlsplit(sys.argv[1])
    body = json.dumps({"model": "smollm2-135m-instruct", "max_tokens": 64, "n": 4,
                       "messages": [{"role": "user", "content": "Tell me about Bitcoin."}]}).encode()
    head = (f"POST {url.path}/chat/completions HTTP/1.1\\r\\nHost: {url.netloc}\\r\\n"
            f"Content-Type: application/json\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n").encode()
    for _ in range(3):
        with socket.create_connection((url.hostname, url.port)) as sock:
            sock.sendall(head + body)
            time.sleep(0.3)  # while its answer is generated
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00")
""")


# -- 6e: the control run the report's help names: nobody reads ------------------------------------------------


def test_the_documented_control_run_where_nobody_reads_runs_and_calibrates_the_chart(tmp_path):
    text = FAKE_SCENARIO.replace("rounds = 3", "rounds = 5")
    control = write_scenario(tmp_path, text.replace("beta = 0.5", "beta = 0"), "control.toml")
    readers = write_scenario(tmp_path, text, "readers.toml")
    assert run("run", control, "-o", tmp_path / "control", "-q").exit_code == 0
    assert {r["k"] for r in read_rows(tmp_path / "control" / "responses.csv")} == {"0"}  # nobody read
    assert run("run", readers, "-o", tmp_path / "readers", "-q").exit_code == 0
    report = run("report", tmp_path / "readers", "--control-run", tmp_path / "control")
    assert report.exit_code == 0, report.output
    summary = json.loads((tmp_path / "readers" / "collapse.json").read_text())
    assert str(tmp_path / "control") in json.dumps(summary["change"])
    help_text = " ".join(run("report", "--help").output.split())
    assert "beta = 0" in help_text
    gmm = write_scenario(
        tmp_path,
        "description = 'nobody reads'\n[network]\nn = 3\nbeta = 0\nsamples = 3\nrounds = 5\n[gmm]\ncomponents = 2\nmeans = [-5.0, 5.0]\n",
        "gmm.toml",
    )
    assert run("gmm", gmm, "-o", tmp_path / "gmm", "-q").exit_code == 0  # the proxy's null: nothing moves
    frobenius = {r["frobenius"] for r in read_rows(tmp_path / "gmm" / "metrics.csv")}
    assert len(frobenius) == 1


# -- 6b: numbers in quotes, one rule for the whole file -----------------------------------------------------


@pytest.mark.parametrize(
    "old,new,key",
    [
        ("seed = 3", 'seed = "0"', "seed"),
        ("samples = 4", 'samples = "2"', "network.samples"),
        ("rounds = 3", 'rounds = "3"', "network.rounds"),
        ("beta = 0.5", 'beta = "0.5"', "network.beta"),
        ('name = "ann"', 'name = "ann"\ntemperature = "0.7"', "agents[0].temperature"),
        ("[embedder]", '[metrics]\nreference = "0"\n[embedder]', "metrics.reference"),
        ("[embedder]", '[metrics]\nalpha = "0.05"\n[embedder]', "metrics.alpha"),
        ('name = "ann"', 'name = "ann-{i}"\ncount = "10"', "count"),
    ],
)
def test_a_number_in_quotes_is_refused_everywhere_with_the_fix(old, new, key, tmp_path):
    path = write_scenario(tmp_path, FAKE_SCENARIO.replace(old, new, 1))
    bare = re.search(r'"([0-9.]+)"', new).group(1)
    refused(run("run", path, "-o", tmp_path / "run"), key, "expected a number", "without quotes", bare)
    assert not (tmp_path / "run").exists()


# -- 1c: one server named twice -------------------------------------------------------------------------------


def test_the_same_server_twice_in_a_pool_is_refused(tmp_path):
    text = FAKE_SCENARIO.replace(
        'name = "ann"\nbackend = "fake"',
        'name = "ann"\nbackend = "openai"\nmodel = "m"\n'
        'base_url = ["http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/"]',
    )
    path = write_scenario(tmp_path, text)
    refused(run("run", path, "-o", tmp_path / "run"), "agents[0].base_url", "the same server twice", "once")
    assert not (tmp_path / "run").exists()


# -- 9: a one-agent run's stderr ---------------------------------------------------------------------------


def test_a_one_agent_run_prints_nothing_on_stderr(tmp_path):
    one = FAKE_SCENARIO.split('[[agents]]\nname = "bob"')[0].replace("rounds = 3", "rounds = 2")
    path = write_scenario(tmp_path, one)
    done = subprocess.run(
        [*LWD, "run", str(path), "-o", str(tmp_path / "run"), "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
