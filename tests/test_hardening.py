"""An adversarial user's drill (issue 11): malformed scenario and sweep files, tampered and damaged run folders,
setups killed part-way. Every case ends in one message naming the file (and key), exit code 2, no traceback, and
nothing created or lost. Fast: the fake backend and the hash embedder, except where the model file is the point."""

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import FAKE_SCENARIO, read_rows, write_scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lwd.cli import app
from lwd.run.folder import SETUP_DONE

runner = CliRunner()

# -- malformed files, generated --------------------------------------------------------------------------------

GMM_BASE = {
    "description": "drill",
    "seed": 1,
    "replicates": 2,
    "network": {"n": 3, "beta": 0.5, "samples": 3, "rounds": 4},
    "gmm": {"components": 2, "means": [-5.0, 5.0]},
}
LLM_BASE = {
    "description": "drill",
    "seed": 1,
    "network": {"beta": 0.5, "samples": 2, "rounds": 1},
    "embedder": {"model": "hash"},
    "agents": [{"name": "ann", "backend": "fake"}, {"name": "bob", "backend": "fake"}],
}
SWEEP_BASE = {
    "scenario": "paper-gmm-b2",
    "description": "drill",
    "seeds": 1,
    "grid": {"network.beta": [0.2, 0.5]},
    "overrides": {"network.rounds": 3},
}

NAN, INF = math.nan, math.inf
# (path of the key, values that must each be refused): every one is invalid whatever else the file holds
COMMON = {
    ("network", "beta"): [NAN, INF, -0.5, 1.5, "half", "0.5"],
    ("network", "samples"): [0, -3, 2.5, "ten"],
    ("network", "rounds"): [0, 10**9, NAN, "x"],
    ("seed",): [-1, "abc", 1.5],
    ("network", "betta"): [0.5],  # unknown keys
    ("colour",): [1],
}
BAD = {
    "gmm": {**COMMON, ("gmm", "components"): [0, -1, "two"], ("replicates",): [0, -2, NAN]},
    "llm": {
        **COMMON,
        ("agents", 0, "backend"): ["nope"],
        ("agents", 1, "temperature"): [NAN, -1.0, INF],
        ("agents", 0, "copy_rate"): [2.0, NAN],
    },
    "sweep": {
        ("seeds",): [0, -1, [1, 1], "x"],
        ("threshold",): [NAN, -1.0, 0.0],
        ("grid", "network.beta"): [[NAN], [1.5], [0.2, INF]],
        ("grid", "network.rounds"): [[0], [10**9]],
        ("grid", "network.bogus"): [[1]],
        ("overrides", "network.samples"): [0, NAN],
        ("ray", "num_cpus"): [0, NAN, -1],
        ("scenario",): ["no-such-scenario"],
    },
}
BASES = {"gmm": GMM_BASE, "llm": LLM_BASE, "sweep": SWEEP_BASE}
COMMANDS = {"gmm": "gmm", "llm": "run", "sweep": "sweep"}


def toml(data: dict, table: str = "") -> str:
    """Just enough of a TOML writer for these files (nan and inf included)."""

    def value(v):
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v == INF else "-inf" if v == -INF else repr(v))
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    lines = [f"{json.dumps(k) if '.' in k else k} = {value(v)}" for k, v in data.items() if not _is_table(v)]
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", f"[{table}{k}]", toml(v, f"{table}{k}.")]
        elif _is_table(v):
            for item in v:
                lines += ["", f"[[{table}{k}]]", toml(item, f"{table}{k}.")]
    return "\n".join(lines)


def _is_table(v) -> bool:
    return isinstance(v, dict) or (isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v))


def mutated(kind: str, picks: list[tuple[tuple, object]]) -> dict:
    data = json.loads(json.dumps(BASES[kind]))
    for path, bad in picks:
        here = data
        for step in path[:-1]:
            here = here.setdefault(step, {}) if isinstance(step, str) else here[step]
        here[path[-1]] = bad
    return data


@st.composite
def malformed(draw):
    kind = draw(st.sampled_from(sorted(BAD)))
    keys = draw(st.lists(st.sampled_from(sorted(BAD[kind], key=str)), min_size=1, max_size=2, unique=True))
    return kind, [(key, draw(st.sampled_from(BAD[kind][key]))) for key in keys]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed())
def test_malformed_files_are_refused_in_one_line_naming_file_and_key(case):
    kind, picks = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"bad-{kind}.toml"
        path.write_text(toml(mutated(kind, picks)), encoding="utf-8")
        out = Path(tmp) / "out"
        result = runner.invoke(app, [COMMANDS[kind], str(path), "-o", str(out), "-q"])
        said = result.output
        assert result.exit_code == 2, (toml(mutated(kind, picks)), said)
        assert "Traceback" not in said and said.startswith("error: ")
        assert path.name in said
        named = [key for key, _ in picks if str(key[-1]) in said or key[0] in said]
        assert named, (picks, said)
        assert not out.exists()


def test_the_generator_writes_the_valid_bases_that_it_breaks(tmp_path):
    """The mutations above are the only thing wrong: each base file runs."""
    for kind in ("gmm", "llm"):
        path = tmp_path / f"{kind}.toml"
        path.write_text(toml(BASES[kind]))
        result = runner.invoke(app, [COMMANDS[kind], str(path), "-o", str(tmp_path / kind), "-q"])
        assert result.exit_code == 0, result.output


# -- run folders: tampered, damaged, killed during setup --------------------------------------------------------


@pytest.fixture
def done(tmp_path_factory) -> Path:
    """A finished 3-round fake run whose last round is removed, so that it has something to resume."""
    tmp = tmp_path_factory.mktemp("done")
    path = tmp / "fake.toml"
    path.write_text(FAKE_SCENARIO)
    out = tmp / "run"
    assert runner.invoke(app, ["run", str(path), "-o", str(out), "-q"]).exit_code == 0
    for last in (out / "rounds").glob("round-0003.*"):
        last.unlink()
    return out


def edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def refused(folder: Path, *words: str) -> str:
    result = runner.invoke(app, ["resume", str(folder), "-q"])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in said, said
    return said


def test_resume_refuses_an_edited_scenario_text(done):
    def hotter(m):
        m["scenario"]["text"] = m["scenario"]["text"].replace("copy_rate = 0.2", "copy_rate = 0.9")

    edit_manifest(done, hotter)
    before = sorted(p.name for p in (done / "rounds").iterdir())
    refused(done, "manifest.json", "scenario text: sha256", "the resolved scenario differs at", "restore")
    assert sorted(p.name for p in (done / "rounds").iterdir()) == before  # nothing written, nothing lost


def test_resume_refuses_a_forged_sha256(done):
    edit_manifest(done, lambda m: m["scenario"].update(sha256="0" * 64))
    refused(done, "sha256 000000000000… recorded")


def test_resume_refuses_a_scenario_toml_that_differs(done):
    (done / "scenario.toml").write_text(FAKE_SCENARIO.replace("seed = 3", "seed = 4"))
    refused(done, "scenario.toml differs from the scenario text in manifest.json")


def test_resume_refuses_resolved_values_that_the_text_does_not_give(done):
    edit_manifest(done, lambda m: m["scenario"]["resolved"]["network"].update(samples=9))
    refused(done, "the resolved scenario differs at `network.samples`")


def test_an_untouched_folder_still_resumes(done):
    result = runner.invoke(app, ["resume", str(done), "-q"])
    assert result.exit_code == 0, result.output
    assert len(read_rows(done / "responses.csv")) == 4 * 3 * 4


@pytest.mark.parametrize("name", ["round-0001.json", "round-0002.npz", "initial.json", "initial.npz"])
def test_a_damaged_round_file_is_named_with_the_fix(done, name):
    path = done / "rounds" / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    refused(done, str(path), "cannot be read", "restore the file")


def test_setup_killed_at_each_step_is_restartable(tmp_path):
    """What a setup killed after each of its steps leaves (the lock first, A⁽⁰⁾'s json last): resume says so,
    and `lwd run` into the same folder starts over and gives the run an untouched folder gives."""
    path = write_scenario(tmp_path, FAKE_SCENARIO, "fake.toml")
    fresh = tmp_path / "fresh"
    assert runner.invoke(app, ["run", str(path), "-o", str(fresh), "-q", "-T", "1"]).exit_code == 0
    expected = read_rows(fresh / "responses.csv", drop=("latency_s",))
    steps = [".lock", "store", "scenario.toml", "manifest.json", "rounds/initial.npz"]
    for i in range(1, len(steps) + 1):
        killed = tmp_path / f"killed-{i}"
        killed.mkdir()
        for step in steps[:i]:
            source = fresh / step
            if source.is_dir():
                shutil.copytree(source, killed / step)
            else:
                (killed / step).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, killed / step)
        assert not (killed / SETUP_DONE).exists()
        refused(killed, "interrupted before round 0", f"lwd run SCENARIO --out {killed}")
        again = runner.invoke(app, ["run", str(path), "-o", str(killed), "-q", "-T", "1"])
        assert again.exit_code == 0, again.output
        assert read_rows(killed / "responses.csv", drop=("latency_s",)) == expected


def test_a_folder_with_results_is_never_taken_for_a_killed_setup(done):
    (done / ".lock").touch()
    result = runner.invoke(app, ["run", str(done / "scenario.toml"), "-o", str(done), "-q"])
    assert result.exit_code == 2 and "already exists and is not empty" in result.output
    assert (done / SETUP_DONE).exists()


@pytest.mark.parametrize("where", ["file", "under-file", "unwritable"])
def test_an_out_that_cannot_be_created_is_one_line(tmp_path, fake_scenario, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    out = {"file": blocker, "under-file": blocker / "run", "unwritable": locked / "run"}[where]
    if where == "unwritable" and os.geteuid() == 0:
        pytest.skip("root writes anywhere: no unwritable folder to try")
    result = runner.invoke(app, ["run", str(fake_scenario), "-o", str(out), "-q"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert str(out) in result.output or str(blocker) in result.output
    assert blocker.read_text() == "not a folder" and not (locked / "run").exists()


def test_resume_of_a_sweep_folder_says_how_a_sweep_continues(tmp_path):
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"kind": "sweep", "sweep_file": "/x/s.toml"}))
    said = refused(folder, "holds a sweep run", f"lwd sweep /x/s.toml --out {folder}")
    assert "lwd gmm" not in said


def test_a_long_corpus_post_loads_and_the_run_goes_on(tmp_path):
    (tmp_path / "long.csv").write_text("text\n" + '"' + "Bitcoin " * 650_000 + '"\nA short post.\n')
    path = write_scenario(tmp_path, FAKE_SCENARIO + '\n[corpus]\nfile = "long.csv"\n', "long.toml")
    result = runner.invoke(app, ["run", str(path), "-o", str(tmp_path / "run"), "-q", "-T", "1"])
    assert result.exit_code == 0, result.output
    posts = json.loads((tmp_path / "run" / "rounds" / "initial.json").read_text())["posts"]
    assert len(posts) == 2 and len(posts[0]["text"]) > 5_000_000 - 1000


def test_a_scenario_that_is_not_utf8_is_one_line_and_listed_as_unreadable(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b'description = "caf\xe9"\n')
    result = runner.invoke(app, ["run", str(path), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2 and "not UTF-8" in result.output and "latin.toml" in result.output
    assert not (tmp_path / "out").exists()
    from lwd.tui.screens import scenario_choices  # the TUI's picker lists the folder's files

    listed = {label: about for label, _, about in scenario_choices(tmp_path)}
    assert "unreadable" in listed["latin.toml"]
