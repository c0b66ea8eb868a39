"""The metric extension point: one registered function appears in metrics.csv, the round record, the GMM mode,
the matched twin, the TUI's metric list, sweep results and summaries, and the report — touching no other file."""

import json

import numpy as np
import pytest
from conftest import FAKE_SCENARIO, read_rows, write_scenario

from lwd.metrics import GMM, LLM, MetricContext, Need, RoundData, metric
from lwd.metrics import registry as metric_registry
from lwd.metrics.registry import columns, evaluate
from lwd.report import write_report
from lwd.report.sweep import write_sweep_report
from lwd.run.gmm import metric_table, run_gmm, simulate_scenario
from lwd.run.llm import start_run
from lwd.run.records import RoundRecord
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario
from lwd.run.sweep import run_cell
from lwd.run.twin import twin_metrics
from lwd.scenarios import available
from lwd.tui.sessions import GMMSession, LLMSession


@pytest.fixture
def registered():
    """Two metrics of a user's own: one from the answers' texts (LLM only), one from the models' summaries."""
    before = metric_registry.REGISTRY.load_all()

    @metric("words", needs={Need.TEXTS}, label="mean words per answer", summary=True)
    def words(data: RoundData) -> float:
        """Mean number of words of the round's answers."""
        return float(np.mean([len(t.split()) for t in data.texts]))

    @metric(
        "max_gap",
        needs={Need.DISTANCE},
        columns=lambda ctx: ["max_gap", "mean_gap"],
        label="gaps between models",
    )
    def gaps(data: RoundData) -> dict:
        d = np.nan_to_num(data.distance)
        return {"max_gap": d.max(axis=(-2, -1)), "mean_gap": d.mean(axis=(-2, -1))}

    yield
    for name in set(metric_registry.REGISTRY.load_all()) - set(before):
        metric_registry.REGISTRY.pop(name)


def test_a_registered_metric_reaches_every_table_and_figure_of_an_llm_run(registered, tmp_path):
    path = write_scenario(tmp_path, FAKE_SCENARIO)
    folder = start_run(load_scenario(path), tmp_path / "run")
    rows = read_rows(folder / "metrics.csv")
    header = list(rows[0])
    assert header[:2] == [
        "round",
        "frobenius",
    ]  # the paper's metric first, then the others in registration order
    assert header[header.index("k") - 3 : header.index("k")] == ["words", "max_gap", "mean_gap"]
    answers = read_rows(folder / "responses.csv")
    for row in rows:  # the value is what the function computes from that round's answers
        texts = [a["clean"] for a in answers if a["round"] == row["round"] and a["failed"] == "False"]
        assert float(row["words"]) == pytest.approx(np.mean([len(t.split()) for t in texts]))
    record = json.loads((folder / "rounds" / "round-0001.json").read_text())
    assert {"frobenius", "words", "max_gap", "mean_gap"} <= set(record["metrics"])
    written = write_report(folder)
    assert folder / "figures" / "metrics.png" in written


def test_a_metric_of_means_reaches_the_gmm_mode_and_the_twin_but_one_of_texts_does_not(registered, tmp_path):
    loaded = load_scenario(available()["paper-gmm-b2"], {"network.rounds": 5, "replicates": 2})
    run, folder = run_gmm(loaded, tmp_path / "gmm", finish=write_report)
    header = (folder / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == ["replicate", "round", "frobenius", "max_gap", "mean_gap"]  # no texts in the GMM mode
    table = metric_table(run, loaded.scenario, loaded.base)
    np.testing.assert_array_equal(table["max_gap"], np.nan_to_num(_gmm_distances(run)).max(axis=(-2, -1)))
    np.testing.assert_array_equal(
        table["frobenius"], run.frobenius
    )  # the same numbers the simulation records
    llm = load_scenario(write_scenario(tmp_path, FAKE_SCENARIO))
    assert {"frobenius", "max_gap", "mean_gap"} == set(twin_metrics(llm, 20))


def test_a_registered_metric_is_in_the_tui_list_and_sweep_tables(registered, tmp_path):
    llm = LLMSession(load_scenario(write_scenario(tmp_path, FAKE_SCENARIO)), tmp_path / "tui")
    assert llm.metric_columns[0] == "frobenius" and llm.metric_columns[-3:] == [
        "words",
        "max_gap",
        "mean_gap",
    ]
    gmm = GMMSession(load_scenario(available()["paper-gmm-b2"]))
    assert gmm.metric_columns == ["frobenius", "max_gap", "mean_gap"]
    result = run_cell(str(available()["paper-gmm-b2"]), {"network.rounds": 4}, 0, str(tmp_path / "cell"))
    assert result["status"] == "ok" and set(result["rows"][0]) == {
        "round",
        "frobenius",
        "max_gap",
        "mean_gap",
        *("appendix_a", "with_draw_noise", "factor"),  # Appendix A beside every GMM cell
    }
    llm_cell = run_cell(str(write_scenario(tmp_path, FAKE_SCENARIO)), {}, 1, str(tmp_path / "llmcell"))
    assert llm_cell["status"] == "ok", llm_cell.get("traceback")
    assert "words" in llm_cell["rows"][0] and "spread_ann" in llm_cell["rows"][0]
    # a sweep folder as `lwd sweep` leaves it, without Ray: its report gains the summary metric's columns
    out = tmp_path / "sweep"
    (out / "cells" / "c").mkdir(parents=True)
    manifest = {
        "kind": "sweep",
        "sweep": {"scenario": "x", "seeds": [1], "grid": {"seed_note": [1]}},
        "cells": {"c": {"seed_note": 1}},
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    from lwd.run.sweep import Cell, result_path

    path = result_path(out, Cell({"seed_note": 1}), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**llm_cell, "params": {"seed_note": 1}}))
    write_sweep_report(out)
    summary = read_rows(out / "summary.csv")
    assert {"initial_frobenius", "final_frobenius", "initial_words", "final_words"} <= set(summary[0])
    assert "initial_max_gap" not in summary[0]  # registered without summary=True


def test_columns_follow_the_network_and_a_wrong_return_is_a_loud_bug(registered):
    ctx = MetricContext(("a", "b"), {"left": (0,), "right": (1,)})
    assert columns(ctx, GMM) == ["frobenius", "within_left", "within_right", "between", "max_gap", "mean_gap"]
    llm = columns(ctx, LLM)
    assert llm[:6] == ["frobenius", "spread_a", "spread_b", "within_left", "within_right", "between"]
    assert llm[-3:] == ["words", "max_gap", "mean_gap"] and "energy__a__b" in llm and "distinct_b" in llm

    @metric("liar", needs={Need.MEANS}, columns=lambda ctx: ["one"])
    def liar(data: RoundData) -> dict:
        return {"two": 2.0}

    with pytest.raises(
        RuntimeError, match="'liar' returned the columns \\['two'\\], but declares \\['one'\\]"
    ):
        evaluate(RoundData(names=("a", "b"), means=np.eye(2)), GMM)


def test_round_data_gives_each_metric_a_reproducible_stream_of_its_own():
    a = RoundData(names=("x",), means=np.zeros((1, 2)), round=3, seed=7)
    b = RoundData(names=("x",), means=np.ones((1, 2)), round=3, seed=7)
    assert a.rng(1).random() == b.rng(1).random() != a.rng(2).random()
    assert (
        RoundData(names=("x",), means=np.zeros((1, 2)), round=4, seed=7).rng(1).random() != a.rng(1).random()
    )


def test_round_records_written_before_the_registry_still_load(tmp_path):
    old = {
        "round": 0,
        "store_size": 20,
        "synthetic": 0,
        "k": 10,
        "frobenius": 1.5,
        "distance": [[0.0, 1.5], [1.5, 0.0]],
        "spreads": {"a": 0.2, "b": 0.3},
        "agents": [],
        "posts": [],
        "seconds": 1.0,
        "version": 1,
        "communities": {"within_c0": 0.0, "between": 1.5},
    }
    record = RoundRecord.from_json(old)
    assert record.frobenius == 1.5
    assert record.metrics == {
        "frobenius": 1.5,
        "spread_a": 0.2,
        "spread_b": 0.3,
        "within_c0": 0.0,
        "between": 1.5,
    }
    assert RoundRecord.from_json(record.to_json()) == record


def test_tables_appended_round_by_round_equal_the_rebuilt_ones(tmp_path):
    folder = start_run(load_scenario(write_scenario(tmp_path, FAKE_SCENARIO)), tmp_path / "run")
    appended = {name: (folder / name).read_bytes() for name in ("metrics.csv", "responses.csv")}
    RoundLog(folder).write_tables()
    assert {name: (folder / name).read_bytes() for name in appended} == appended


def _gmm_distances(run):
    x = run.weights
    return np.sqrt(((x[..., :, None, :] - x[..., None, :, :]) ** 2).sum(-1))


def test_the_gmm_frobenius_column_matches_the_simulation_for_the_shipped_scenarios():
    for name in ("paper-gmm-b2", "paper-gmm-b11"):
        loaded = load_scenario(available()[name], {"network.rounds": 10})
        run = simulate_scenario(loaded)
        np.testing.assert_array_equal(
            metric_table(run, loaded.scenario, loaded.base)["frobenius"], run.frobenius
        )


def test_headline_columns_are_spelled_only_by_their_metric():
    """The headline roles (‖D‖_F, the onset's p-value, the change tests' columns) are looked up or imported
    from the metric that writes them: no other module of lwd spells them as a string."""
    import ast
    from pathlib import Path

    from lwd.metrics.change import CHANGE_P, CHANGED_SHARE
    from lwd.metrics.registry import onset_column

    root = Path(__file__).resolve().parents[1]
    owners = {m.name: m.compute.__module__ for m in metric_registry.registered()}
    roles = {"frobenius": owners["frobenius"], onset_column(): owners["energy_test"]}
    roles |= {CHANGE_P: owners["change"], CHANGED_SHARE: owners["change"]}
    found = []
    for folder in ("lwd", "agents", "internet", "metrics", "gmm"):
        for path in (root / folder).rglob("*.py"):
            module = ".".join(("lwd", *path.relative_to(root / folder).with_suffix("").parts))
            module = module if folder == "lwd" else module.replace("lwd.", f"lwd.{folder}.", 1)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and roles.get(node.value, module) != module:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.value!r}")
    assert found == []
