"""Pools of servers: requests spread over a list of endpoints, each endpoint's limit shared by all agents, an
endpoint that fails set aside and its requests retried on the others — with two real lwd servers on 127.0.0.1,
one killed mid-run, and the answers those of an undisturbed run."""

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import read_rows, write_scenario
from servers import SERVED, run_past_round_zero, start_llama_server

from lwd.core.endpoints import EndpointPool
from lwd.core.errors import ConfigError
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario

LWD = [sys.executable, "-m", "lwd"]


def test_requests_go_to_the_least_busy_endpoint_within_its_limit():
    pool = EndpointPool(["a", "b"], limit=2)
    assert [pool.take(set()) for _ in range(4)] == [0, 1, 0, 1]
    taken = []
    waiter = threading.Thread(target=lambda: taken.append(pool.take(set())))
    waiter.start()
    time.sleep(0.2)
    assert taken == []  # every endpoint at its limit: the request waits
    pool.done(1, True)
    waiter.join(timeout=5)
    assert taken == [1] and pool.served == [0, 1]


def test_a_failed_endpoint_is_passed_over_then_probed_when_all_failed():
    pool = EndpointPool(["a", "b"], limit=4, cooldown=60)
    first = pool.take(set())
    pool.done(first, False, ConnectionError("refused"))
    assert [pool.take(set()) for _ in range(3)] == [1, 1, 1]  # a is set aside while b answers
    assert pool.take({1}) == 0  # but a request b failed may still try a
    pool.done(0, False, ConnectionError("refused"))
    assert pool.take({0, 1}) is None  # this request failed on every endpoint: the agent's retries take over
    for _ in range(3):
        pool.done(
            1, False, ConnectionError("refused")
        )  # both set aside now: the one set aside first is probed
    assert pool.take(set()) == 0
    pool.done(0, True)
    assert pool.aside_until[0] == 0.0 and pool.take(set()) == 0  # it answered: live again


def test_base_url_takes_a_list_and_refuses_bad_ones(tmp_path):
    head = 'description = "d"\n[network]\nbeta = 0.5\nsamples = 2\nrounds = 1\n[[agents]]\nname = "a"\nbackend = "openai"\nmodel = "m"\n'
    ok = load_scenario(
        write_scenario(tmp_path, head + 'base_url = ["http://h1:8000/v1", "http://h2:8000/v1/"]\n', "ok.toml")
    )
    assert ok.scenario.agents[0].endpoints == ("http://h1:8000/v1", "http://h2:8000/v1")
    for bad, said in [
        ("[]", "empty list"),
        ('["http://h1/v1", "ftp://h2"]', "'ftp://h2'"),
        ('["http://h1/v1", "http://h1/v1"]', "twice"),
    ]:
        with pytest.raises(ConfigError, match=said):
            load_scenario(write_scenario(tmp_path, head + f"base_url = {bad}\n", "bad.toml"))


def _pooled(urls: list[str], rounds: int) -> str:
    listed = ", ".join(f'"{u}"' for u in urls)
    agents = "".join(
        f'\n[[agents]]\nname = "a{i}"\nbackend = "openai"\nmodel = "{SERVED}"\nbase_url = [{listed}]\n'
        "max_tokens = 24\nconcurrency = 1\ntimeout = 600\nattempts = 2\nbackoff = 0.2\n"
        for i in range(2)
    )
    return f'description = "a pool"\nseed = 4\n[network]\nbeta = 0.5\nsamples = 2\nrounds = {rounds}\n[embedder]\nmodel = "hash"\n{agents}'


@pytest.mark.real
def test_a_server_of_the_pool_killed_mid_run_loses_nothing(tmp_path):
    first, second = start_llama_server(), start_llama_server()
    try:
        path = write_scenario(tmp_path, _pooled([first.url, second.url], rounds=3))
        out = tmp_path / "run"
        proc = run_past_round_zero(path, out)
        second.stop(signal.SIGKILL)  # during round 1
        _, stderr = proc.communicate(timeout=1200)
        assert proc.returncode == 0, stderr
        assert RoundLog(out).committed() == [0, 1, 2, 3]
        rows = read_rows(out / "responses.csv")
        assert len(rows) == 4 * 2 * 2 and not any(r["failed"] == "True" for r in rows)
        served = {r["endpoint"] for r in rows if r["round"] == "0"}
        assert served == {first.url, second.url}  # round 0: the two agents' requests on the two servers
        assert {r["endpoint"] for r in rows if r["round"] in ("2", "3")} == {
            first.url
        }  # then on the one left
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["agents"][0]["base_url"] == [first.url, second.url]
        assert set(manifest["agents"][0]["pool"]) == {first.url, second.url}
        # the same answers as an undisturbed run on one server: a request's answers depend on its seed alone
        alone = write_scenario(tmp_path, _pooled([first.url], rounds=3), "alone.toml")
        whole = subprocess.run(
            [*LWD, "run", str(alone), "-o", str(tmp_path / "whole"), "-q"],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert whole.returncode == 0, whole.stderr
        drop = ("latency_s", "retries", "attempts", "endpoint")
        assert read_rows(out / "responses.csv", drop) == read_rows(tmp_path / "whole" / "responses.csv", drop)
    finally:
        first.stop()
        second.stop()
