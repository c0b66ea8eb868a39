"""The second drill (issue 18): what a careful user and a hostile server do, each case reproduced first.

Servers that misbehave are small scripted HTTP servers on 127.0.0.1 (tests/servers.py: ``Scripted``); damaged
files are written by hand; a full disk is a real tmpfs where this machine lets the tests mount one, and an
injected ENOSPC everywhere. Every case ends in one message (exit 2, no traceback) or in a recorded result, and
nothing already written is lost: the folder resumes to the tables an uninterrupted run writes."""

import errno
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
from conftest import FAKE_SCENARIO, read_rows, write_scenario
from servers import HTML, Scripted, completion
from typer.testing import CliRunner

from lwd.cli import app
from lwd.core.files import durable
from lwd.run.rounds import RoundLog

runner = CliRunner()
LWD = [sys.executable, "-m", "lwd"]


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def refused(result, *needles: str) -> str:
    """One message, exit 2, no traceback; returns the output with its white space folded."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    output = " ".join(result.output.split())
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in output, f"{needle!r} not in {output!r}"
    return output


def server_scenario(url: str, backend: str = "openai", extra: str = "", samples: int = 3) -> str:
    base = f"{url}/v1" if backend == "openai" else url
    return textwrap.dedent(f"""
        description = "a scripted server"
        seed = 1

        [network]
        beta = 0.5
        samples = {samples}
        rounds = 1

        [embedder]
        model = "hash"

        [[agents]]
        name = "served"
        backend = "{backend}"
        base_url = "{base}"
        model = "scripted"
        attempts = 1
        {extra}

        [[agents]]
        name = "fake"
        backend = "fake"
    """)


def strict_json(path):
    """The file parsed as RFC 8259 JSON: NaN or Infinity in it fail the test."""

    def refuse(name):
        raise AssertionError(f"{path.name} holds {name}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


# -- 1: a server that returns the wrong number of answers ----------------------------------------------------


def test_a_server_returning_fewer_answers_than_asked_has_them_drawn_again(tmp_path):
    with Scripted(lambda path, request: completion(1)) as server:  # ignores n
        path = write_scenario(tmp_path, server_scenario(server.url))
        result = run("run", path, "-o", tmp_path / "run", "-q")
        assert result.exit_code == 0, result.output
        asked = [r.get("n", 1) for r in server.requests]
    rows = [r for r in read_rows(tmp_path / "run" / "responses.csv") if r["agent"] == "served"]
    assert len(rows) == 2 * 3  # L = 3 answers in each of rounds 0 and 1, never more
    for t in ("0", "1"):
        mine = [r for r in rows if r["round"] == t]
        assert [r["missing"] for r in mine] == ["2"] * 3 and mine[0]["surplus"] == "0"
        assert [r["attempts"] for r in mine] == ["1", "2", "2"]  # samples 1 and 2 were drawn again
        assert not any(r["failed"] == "True" for r in mine)
    assert asked == [3, 1, 1] * 2  # one request for L, then one per missing answer


def test_missing_answers_without_regenerations_are_recorded_failures(tmp_path):
    with Scripted(lambda path, request: completion(1)) as server:
        path = write_scenario(tmp_path, server_scenario(server.url, extra="max_retries = 0"))
        assert run("run", path, "-o", tmp_path / "run", "-q").exit_code == 0
    rows = [r for r in read_rows(tmp_path / "run" / "responses.csv") if r["agent"] == "served"]
    failed = [r for r in rows if r["failed"] == "True"]
    assert len(failed) == 4 and {r["finish_reason"] for r in failed} == {"missing"}
    assert "asked for 3 answers in one request, the backend returned 1" in failed[0]["error"]
    metrics = read_rows(tmp_path / "run" / "metrics.csv")
    assert [m["failed"] for m in metrics] == ["2", "2"]


def test_answers_beyond_those_asked_for_are_never_used(tmp_path):
    with Scripted(lambda path, request: completion(request.get("n", 1) + 2)) as server:
        path = write_scenario(tmp_path, server_scenario(server.url))
        assert run("run", path, "-o", tmp_path / "run", "-q").exit_code == 0
    rows = [r for r in read_rows(tmp_path / "run" / "responses.csv") if r["agent"] == "served"]
    assert len(rows) == 6 and {r["surplus"] for r in rows} == {"2"} and {r["missing"] for r in rows} == {"0"}
    assert [r["clean"] for r in rows[:3]] == [
        f"Bitcoin is answer number {i} of this request." for i in range(3)
    ]


# -- 9: a server that answers the chat endpoint with a web page ---------------------------------------------


@pytest.mark.parametrize(
    "backend,extra,answer",
    [
        ("openai", "", HTML),
        ("openai", "native_n = false", HTML),
        ("openai", "", (200, "application/json", b"{}")),
        ("openai", "", (200, "application/json", b'{"error": "model overloaded"}')),
        ("ollama", "", HTML),
    ],
    ids=["openai-html", "openai-requests-html", "openai-empty-object", "openai-error-object", "ollama-html"],
)
def test_a_server_answering_something_else_stops_the_run_naming_it(tmp_path, backend, extra, answer):
    with Scripted(lambda path, request: answer) as server:
        path = write_scenario(tmp_path, server_scenario(server.url, backend, extra))
        out = tmp_path / "run"
        output = refused(
            run("run", path, "-o", out),
            "agent 'served'",
            server.url,
            "answered, but not with its API",
            "base_url",
        )
    assert "lwd resume" in output and RoundLog(out).committed() == []  # round 0 was not written


# -- 2: an agent whose every answer failed -------------------------------------------------------------------

SILENT = FAKE_SCENARIO.replace(
    'name = "bob"\nbackend = "fake"', 'name = "bob"\nbackend = "fake"\nempty_rate = 1.0'
)


def test_an_agent_without_answers_is_left_out_of_the_metric_and_json_stays_strict(tmp_path):
    path = write_scenario(tmp_path, SILENT.replace("rounds = 3", "rounds = 1"))
    out = tmp_path / "run"
    assert run("run", path, "-o", out, "-q").exit_code == 0
    log = RoundLog(out)
    for t in (0, 1):
        record, arrays = log.record(t), log.arrays(t)
        assert all(r.failed for r in record.agents[1].responses)  # bob: every answer empty
        assert all(math.isnan(v) for v in record.distance[1])  # bob's row of D
        means = arrays.means[[0, 2]]  # ann and cy
        expected = math.sqrt(2) * np.linalg.norm(means[0] - means[1])  # D_ac and D_ca
        assert math.isclose(record.frobenius, expected, rel_tol=1e-12)
        data = strict_json(out / "rounds" / f"round-{t:04d}.json")
        assert data["distance"][1] == [None, None, None]
    strict_json(out / "collapse.json")
    strict_json(out / "manifest.json")


def test_fewer_than_two_agents_answering_is_nan_not_zero(tmp_path):
    two = SILENT.replace('[[agents]]\nname = "cy"\nbackend = "fake"\ncopy_rate = 0.2', "")
    path = write_scenario(tmp_path, two.replace("rounds = 3", "rounds = 1"))
    out = tmp_path / "run"
    assert run("run", path, "-o", out, "-q").exit_code == 0
    metrics = read_rows(out / "metrics.csv")
    assert {m["frobenius"] for m in metrics} == {"nan"} and {m["energy"] for m in metrics} == {"nan"}
    summary = strict_json(out / "collapse.json")
    assert summary["initial"]["frobenius"] is None and summary["ratios"]["frobenius"] is None
    assert summary["p_values"] == [None, None]
    again = RoundLog(out)  # NaN survives the strict JSON of the record: the rebuilt table is the same
    before = (out / "metrics.csv").read_bytes()
    again.write_tables()
    assert (out / "metrics.csv").read_bytes() == before


# -- 3: damaged round files ----------------------------------------------------------------------------------


def _damage_json(path, text):
    path.write_text(text)


def _npz_without(path, key):
    with np.load(path) as data:
        kept = {k: data[k] for k in data.files if k != key}
    np.savez(path, **kept)


def _npz_bad_crc(path):
    """Flip a byte inside the first array's data: the zip still opens, its CRC check fails on reading."""
    with zipfile.ZipFile(path) as z:
        info = z.infolist()[0]
    raw = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    raw[start] ^= 0xFF
    path.write_bytes(bytes(raw))


DAMAGE = {
    "json {}": lambda rounds: _damage_json(rounds / "round-0001.json", "{}"),
    "json []": lambda rounds: _damage_json(rounds / "round-0001.json", "[]"),
    "json version 1": lambda rounds: _damage_json(rounds / "round-0001.json", '{"version": 1}'),
    "json wrong round": lambda rounds: (rounds / "round-0001.json").write_text(
        (rounds / "round-0000.json").read_text()
    ),
    "npz without means": lambda rounds: _npz_without(rounds / "round-0001.npz", "means"),
    "npz failing its CRC": lambda rounds: _npz_bad_crc(rounds / "round-0001.npz"),
    "initial.json {}": lambda rounds: _damage_json(rounds / "initial.json", "{}"),
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("finished")
    path = write_scenario(tmp, FAKE_SCENARIO)
    assert run("run", path, "-o", tmp / "run", "-q", "--rounds", "2").exit_code == 0
    return tmp / "run"


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_round_file_is_named_by_resume_and_report(case, finished_run, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    rounds = folder / "rounds"
    shutil.rmtree(folder / "store")  # resume rebuilds it, and reaches the damaged file as it does
    (rounds / "round-0002.json").unlink()  # an unfinished run, so resume has work to do
    DAMAGE[case](rounds)
    damaged = "initial" if case.startswith("initial") else "round-0001"
    for command in (["resume", folder], ["report", folder]):
        output = refused(run(*command), "cannot be read", damaged, "Fix: restore the file from a copy")
        assert "Traceback" not in output


# -- 4, 5, 6 and the smaller refusals: validation, before any folder exists ----------------------------------


@pytest.mark.parametrize("name", ["../../escape", "a/b", "..", ".hidden", "runs\\\\x", ""])
def test_a_scenario_name_that_is_not_a_plain_file_name_is_refused(name, tmp_path):
    path = write_scenario(tmp_path, f'name = "{name}"\n' + FAKE_SCENARIO)
    workdir = tmp_path / "deep" / "work"
    workdir.mkdir(parents=True)
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        result = run("run", path, "-q")
    finally:
        os.chdir(cwd)
    refused(result, "`name`")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_dir()) == ["deep", "work"]  # nothing written


@pytest.mark.parametrize(
    "change,needles",
    [
        (("samples = 4", "samples = 1000000000"), ["network.samples", "≤ 10000"]),
        (("samples = 4", "samples = true"), ["network.samples", "not true or false"]),
        (('name = "ann"', f'name = "ann"\nmax_tokens = {2**63 - 1}'), ["max_tokens", "≤"]),
        (('name = "ann"', 'name = "ann"\nmax_tokens = 5000\nn_ctx = 4000'), ["max_tokens", "n_ctx"]),
        (("seed = 3", 'seed = 3\nquery = "   "'), ["`query`", "white space"]),
        (('"three fake agents on a real Chroma store"', '"   "'), ["`description`", "white space"]),
    ],
    ids=[
        "samples-huge",
        "samples-true",
        "max-tokens-huge",
        "max-tokens-over-n_ctx",
        "query-spaces",
        "blank-description",
    ],
)
def test_absurd_values_are_refused_by_validation(change, needles, tmp_path):
    text = FAKE_SCENARIO.replace(*change)
    assert text != FAKE_SCENARIO
    path = write_scenario(tmp_path, text)
    out = tmp_path / "out"
    refused(run("run", path, "-o", out), *needles)
    assert not out.exists()


def test_samples_that_leave_no_room_for_a_prompt_are_refused_before_the_folder(tmp_path):
    text = FAKE_SCENARIO.replace('name = "ann"', 'name = "ann"\nn_ctx = 1000')  # 1000 words, 64 per answer
    path = write_scenario(tmp_path, text)
    out = tmp_path / "out"
    refused(run("run", path, "-o", out, "--samples", "20"), "agent 'ann'", "budget", "Fix:")
    assert not out.exists()


GMM_HUGE = """
description = "a typo"
[network]
n = 1000000000
beta = 0.5
samples = 3
rounds = 4
[gmm]
components = 2
means = [-5.0, 5.0]
"""


def test_a_gmm_network_of_a_billion_models_is_refused_at_once(tmp_path):
    path = write_scenario(tmp_path, GMM_HUGE)
    out = tmp_path / "out"
    refused(run("gmm", path, "-o", out), "network.n", "≤ 10000")
    refused(run("run", path, "-o", out), "network.n")
    assert not out.exists()


def test_a_gmm_run_larger_than_memory_is_refused_with_an_estimate(tmp_path):
    path = write_scenario(
        tmp_path, GMM_HUGE.replace("n = 1000000000", "n = 5000").replace("samples = 3", "samples = 10000")
    )
    out = tmp_path / "out"
    output = refused(
        run("gmm", path, "-o", out, "--rounds", "100"), "needs about", "GiB of memory", "available"
    )
    assert "Fix: lower network.n" in output and not out.exists()


def test_a_sweep_with_a_cell_larger_than_memory_is_refused_before_it_starts(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        textwrap.dedent("""
        scenario = "paper-gmm-b2"
        description = "one cell too large"
        seeds = 1
        [grid]
        "network.n" = [3, 5000]
        [overrides]
        "network.samples" = 10000
        "network.rounds" = 100
    """)
    )
    out = tmp_path / "out"
    refused(run("sweep", path, "--out", out), "Invalid sweep", "needs about", "[cell network.n=5000]")
    assert not out.exists()


def test_lwd_run_of_a_gmm_file_says_so_first(tmp_path):
    path = write_scenario(tmp_path, GMM_HUGE.replace("n = 1000000000", "n = 3"))
    refused(run("run", path, "-o", tmp_path / "out"), "it is a GMM scenario", "lwd gmm")


# -- 7: the disk fills up ------------------------------------------------------------------------------------


def _no_space(path):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _tmp_files(folder):
    return [p.name for p in folder.rglob(".*tmp*")]


def test_a_disk_that_fills_during_a_round_stops_with_one_line_and_resumes(tmp_path, monkeypatch):
    import lwd.run.rounds as rounds_module

    real = rounds_module.write_text

    def half_then_full(path, text):
        if path.name == "round-0002.json":
            with durable(path) as fh:  # half the record reaches the disk, then there is no room
                fh.write(text[: len(text) // 2])
                raise _no_space(path)
        real(path, text)

    path = write_scenario(tmp_path, FAKE_SCENARIO)
    out = tmp_path / "run"
    monkeypatch.setattr(rounds_module, "write_text", half_then_full)
    output = refused(run("run", path, "-o", out, "-q"), "is full", "round-0002.json", f"lwd resume {out}")
    assert "every file already written is whole" in output
    assert RoundLog(out).committed() == [0, 1] and _tmp_files(out) == []
    monkeypatch.setattr(rounds_module, "write_text", real)
    assert run("resume", out, "-q").exit_code == 0
    whole = tmp_path / "whole"
    assert run("run", path, "-o", whole, "-q").exit_code == 0
    for table in ("metrics.csv", "responses.csv"):
        drop = ("latency_s",)
        assert read_rows(out / table, drop) == read_rows(whole / table, drop)


def test_a_disk_that_fills_while_the_report_is_written_leaves_no_half_page(tmp_path, monkeypatch):
    import lwd.report.html as html_module

    real = html_module.write_text

    def full(path, text):
        with durable(path) as fh:
            fh.write(text[:1000])
            raise _no_space(path)

    path = write_scenario(tmp_path, FAKE_SCENARIO.replace("rounds = 3", "rounds = 1"))
    out = tmp_path / "run"
    monkeypatch.setattr(html_module, "write_text", full)
    refused(run("run", path, "-o", out, "-q"), "is full", "report.html", f"lwd report {out}")
    assert not (out / "report.html").exists() and _tmp_files(out) == []
    monkeypatch.setattr(html_module, "write_text", real)
    assert run("report", out).exit_code == 0 and (out / "report.html").stat().st_size > 100_000


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only, where the machine lets a test mount one), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip() or 'not root'})")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_real_full_disk_stops_the_run_and_a_larger_one_resumes_it_exactly(small_disk, tmp_path):
    path = write_scenario(tmp_path, FAKE_SCENARIO.replace("rounds = 3", "rounds = 40"))
    out = small_disk / "run"
    full = subprocess.run(
        [*LWD, "run", str(path), "-o", str(out), "-q"], capture_output=True, text=True, timeout=900
    )
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr and "full" in full.stderr and f"lwd resume {out}" in full.stderr
    done = RoundLog(out).committed()
    assert done == list(range(len(done))) and len(done) < 41 and _tmp_files(out) == []
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # room again
    resumed = subprocess.run([*LWD, "resume", str(out), "-q"], capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole"
    assert run("run", path, "-o", whole, "-q").exit_code == 0
    assert (out / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()


# -- 8: interrupted during setup; SIGTERM mid-round ----------------------------------------------------------


def test_ctrl_c_during_setup_says_nothing_was_kept(tmp_path, monkeypatch):
    import lwd.run.rounds as rounds_module

    def interrupted(self, posts, embeddings):
        raise KeyboardInterrupt

    monkeypatch.setattr(rounds_module.RoundLog, "write_initial", interrupted)
    path = write_scenario(tmp_path, FAKE_SCENARIO)
    out = tmp_path / "run"
    result = run("run", path, "-o", out)
    assert result.exit_code == 130 and not out.exists()
    output = " ".join(result.output.split())
    assert "nothing was kept" in output and "run the same command again" in output
    assert "lwd resume" not in output


def test_sigterm_mid_round_says_how_to_continue(tmp_path):
    slow = FAKE_SCENARIO.replace("copy_rate = 0.2", "copy_rate = 0.2\ndelay = 0.5")
    path = write_scenario(tmp_path, slow.replace("rounds = 3", "rounds = 20"))
    out = tmp_path / "run"
    proc = subprocess.Popen([*LWD, "run", str(path), "-o", str(out), "-q"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not (
        out / "rounds" / "round-0000.json"
    ).exists():  # wait for what the test needs: a committed round
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 143, stderr
    assert "stopped (SIGTERM)" in stderr and f"lwd resume {out}" in " ".join(stderr.split())
    done = RoundLog(out).committed()
    assert done == list(range(len(done))) and len(done) < 21


# -- the smaller items: corpus files, a damaged store ------------------------------------------------------


@pytest.mark.parametrize(
    "name,content,needles",
    [
        ("binary.csv", b"text\n\x00\x01\x02\xff", ["binary file", "Fix:"]),
        ("latin.csv", "text\nBitcoin \u00e9tait\n".encode("latin-1"), ["not UTF-8", "iconv", "Fix:"]),
        ("empty.csv", b"", ["is empty", "Fix:"]),
        ("missing.csv", None, ["no such file", "Fix:"]),
        ("folder.csv", "dir", ["a folder", "Fix:"]),
    ],
)
def test_corpus_files_that_cannot_be_read_say_why_and_the_fix(name, content, needles, tmp_path):
    corpus = tmp_path / name
    if content == "dir":
        corpus.mkdir()
    elif content is not None:
        corpus.write_bytes(content)
    path = write_scenario(tmp_path, FAKE_SCENARIO + f'\n[corpus]\nfile = "{name}"\n')
    out = tmp_path / "out"
    refused(run("run", path, "-o", out), name, *needles)
    assert not out.exists()


def test_a_corrupt_store_says_resume_rebuilds_it(finished_run, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    (folder / "rounds" / "round-0002.json").unlink()
    (folder / "store" / "chroma.sqlite3").write_bytes(os.urandom(5000))
    output = refused(run("resume", folder), "cannot open the Chroma store", "damaged", "rebuilds the store")
    assert "writable" not in output
    shutil.rmtree(folder / "store")  # what the message says to do
    assert run("resume", folder, "-q").exit_code == 0 and RoundLog(folder).committed() == [0, 1, 2]
