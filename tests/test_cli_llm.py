"""`lwd run`, `lwd resume`, `lwd report` as a user types them (fake agents), and every refusal."""

import re

import pytest
from conftest import FAKE_SCENARIO, read_rows, write_scenario
from PIL import Image
from typer.testing import CliRunner

from lwd.cli import app

runner = CliRunner()


def test_run_then_report_then_resume_a_finished_run(tmp_path, fake_scenario):
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", str(fake_scenario), "--rounds", "2", "--samples", "3", "--seed", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Run folder" in result.output
    assert (out / "figures" / "frobenius.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "figures" / "mds.png").read_bytes()[:4] == b"\x89PNG"
    with Image.open(out / "figures" / "mds.gif") as gif:  # the MDS of every round, animated
        assert gif.format == "GIF" and gif.n_frames == 3
    page = (out / "report.html").read_text(encoding="utf-8")  # one self-contained page
    assert (
        not re.search(r"<(script|link|img)[^>]*\s(src|href)=", page) and "Plotly.newPlot" in page
    )  # nothing fetched
    # metrics, MDS with its slider, agent map, D per round, the perspective space, the control chart
    assert page.count('class="plotly-graph-div"') == 6
    assert page.count("<tr data-reads=") == 3 * 3 * 3  # every answer, with the posts its author read
    assert len(read_rows(out / "responses.csv")) == 3 * 3 * 3
    (out / "figures" / "mds.png").unlink()
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0 and (out / "figures" / "mds.png").exists()
    again = runner.invoke(app, ["resume", str(out), "-q"])  # nothing left to do: a no-op, not an error
    assert again.exit_code == 0, again.output
    assert len(read_rows(out / "metrics.csv")) == 3


def test_seed_corpus_replaces_the_human_posts(tmp_path, fake_scenario):
    corpus = tmp_path / "posts.csv"
    corpus.write_text("text\n" + "\n".join(f"Human post number {i} about coins." for i in range(8)) + "\n")
    out = tmp_path / "own"
    result = runner.invoke(
        app, ["run", str(fake_scenario), "-T", "1", "--seed-corpus", str(corpus), "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    metrics = read_rows(out / "metrics.csv")
    assert metrics[0]["store_size"] == "8" and metrics[0]["k"] == "4"


def _refused(args, out):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert not out.exists(), "a refused run left a folder behind"
    return result.output


BAD = {
    "unknown backend": (
        FAKE_SCENARIO.replace('backend = "fake"\nsystem_prompt', 'backend = "olama"\nsystem_prompt'),
        ["agents[1].backend", "llamacpp, hf, ollama, openai, fake", "olama"],
    ),
    "missing model file": (
        FAKE_SCENARIO.replace(
            'name = "cy"\nbackend = "fake"\ncopy_rate = 0.2',
            'name = "cy"\nbackend = "llamacpp"\nmodel = "weights/nope.gguf"',
        ),
        ["nope.gguf", "not found", "packaged model"],
    ),
    "beta outside (0, 1]": (
        FAKE_SCENARIO.replace("beta = 0.5", "beta = 1.5"),
        ["network.beta", "≤ 1", "1.5"],
    ),
    "beta negative": (FAKE_SCENARIO.replace("beta = 0.5", "beta = -0.5"), ["network.beta", "≥ 0"]),
    "L below 1": (FAKE_SCENARIO.replace("samples = 4", "samples = 0"), ["network.samples", "≥ 1"]),
    "T below 1": (FAKE_SCENARIO.replace("rounds = 3", "rounds = 0"), ["network.rounds", "≥ 1"]),
    "malformed TOML": (FAKE_SCENARIO.replace("beta = 0.5", "beta = = 0.5"), ["malformed TOML", "line"]),
    "unreachable Chroma server": (
        FAKE_SCENARIO + '\n[store]\nurl = "http://127.0.0.1:9"\n',
        ["Chroma server at http://127.0.0.1:9", "chroma run"],
    ),
    "GMM scenario": (
        FAKE_SCENARIO.split("[[agents]]")[0].replace("[network]", "[network]\nn = 3"),
        ["no [[agents]]", "lwd gmm"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_inputs_are_refused_with_a_clear_error_and_no_folder(case, tmp_path):
    text, needles = BAD[case]
    path = write_scenario(tmp_path, text)
    out = tmp_path / "out"
    output = " ".join(_refused(["run", str(path), "--out", str(out)], out).split())
    for needle in needles:
        assert needle in output, f"{needle!r} not in {output!r}"


def test_empty_corpus_is_refused(tmp_path, fake_scenario):
    empty = tmp_path / "empty.csv"
    empty.write_text("text\n\n")
    out = tmp_path / "out"
    output = _refused(["run", str(fake_scenario), "--seed-corpus", str(empty), "-o", str(out)], out)
    assert "has no posts" in output and "at least one non-empty" in output and "Fix:" in output


def test_command_line_values_out_of_range_are_refused(tmp_path, fake_scenario):
    out = tmp_path / "out"
    for flag in ("--samples", "--rounds"):
        assert "Invalid value" in _refused(["run", str(fake_scenario), flag, "0", "-o", str(out)], out)


def test_resume_refuses_what_is_not_a_run_folder(tmp_path):
    result = runner.invoke(app, ["resume", str(tmp_path)])
    assert result.exit_code == 2 and "not an lwd run folder (no manifest.json)" in result.output
    gmm = tmp_path / "gmm"
    assert runner.invoke(app, ["gmm", "paper-gmm-b2", "-T", "2", "-o", str(gmm), "-q"]).exit_code == 0
    result = runner.invoke(app, ["resume", str(gmm)])
    assert result.exit_code == 2 and "holds a gmm run" in result.output and "lwd gmm" in result.output


def test_help_documents_the_llm_commands():
    for command, words in {
        "run": ["--rounds", "--samples", "--seed-corpus", "lwd resume", "Algorithm 1"],
        "resume": ["committed", "sha256"],
        "report": ["Fig. 2", "Fig. 3"],
    }.items():
        result = runner.invoke(app, [command, "--help"])
        text = " ".join(result.output.split())
        for word in words:
            assert word in text, (command, word)
