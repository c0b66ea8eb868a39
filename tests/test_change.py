"""Change tests per agent and per group, the lasting-change rule and the control chart (issue 21, items 2–3)."""

import json

import dcor
import numpy as np
import pytest
from conftest import FAKE_SCENARIO, read_rows, write_scenario
from scipy import stats
from typer.testing import CliRunner

from lwd.cli import app
from lwd.core.errors import LwdError
from lwd.metrics import MetricSettings, RoundData, control_chart, lasting_change
from lwd.metrics.change import change, group_columns, two_sample_tests
from lwd.metrics.registry import MetricContext, Reference
from lwd.report.llm import write_llm_report
from lwd.run.llm import start_run
from lwd.run.scenario import load_scenario


def sets(rng, count, size=8, dim=6, shift=0.0):
    return [rng.normal(size=(size, dim)) + shift for _ in range(count)]


def test_the_statistic_is_dcors_and_a_shift_is_found():
    rng = np.random.default_rng(0)
    a, b = sets(rng, 5), sets(rng, 5, shift=1.5)
    statistic, distance, pvalue = two_sample_tests(a, b, 199, np.random.default_rng(1))
    for j in range(5):
        ours = dcor.homogeneity.energy_test(a[j], b[j], num_resamples=0).statistic
        assert statistic[j] == pytest.approx(ours, rel=1e-9)
        assert distance[j] == pytest.approx(dcor.energy_distance(a[j], b[j]), rel=1e-9)
    assert (pvalue <= 0.01).all()


def test_under_the_null_the_p_values_are_uniform():
    rng = np.random.default_rng(2)
    _, _, pvalues = two_sample_tests(sets(rng, 400), sets(rng, 400), 199, np.random.default_rng(3))
    assert stats.kstest(pvalues, "uniform").pvalue > 0.01
    assert 0.02 <= np.mean(pvalues <= 0.05) <= 0.09


def test_an_agent_repeating_one_answer_has_not_changed():
    same = np.ones((6, 4))
    _, distance, pvalue = two_sample_tests([same], [same.copy()], 99, np.random.default_rng(0))
    assert distance[0] == 0 and pvalue[0] == 1.0


def round_data(now, before, owners, t=3, **ctx):
    return RoundData(
        names=ctx.pop("names", ("a", "b", "c", "d")),
        means=np.zeros((4, now.shape[1])),
        round=t,
        seed=5,
        embeddings=now,
        owners=owners,
        reference=Reference(0, before, owners),
        **ctx,
    )


def test_groups_are_tested_within_their_members_so_members_differing_is_not_a_change():
    rng = np.random.default_rng(4)
    owners = np.repeat(np.arange(4), 8)
    centres = np.repeat(np.array([[0.0] * 6, [3.0] * 6, [0.0] * 6, [-3.0] * 6]), 8, axis=0)
    communities = {"left": (0, 1), "right": (2, 3)}
    ctx = MetricContext(("a", "b", "c", "d"), communities)
    assert list(group_columns(ctx)) == ["change_p__left", "change_p__right"]
    left, right = [], []
    for t in range(1, 41):  # members far apart from each other, none of them changing
        before = centres + rng.normal(size=centres.shape)
        now = centres + rng.normal(size=centres.shape)
        now[owners == 3] += 1.5 if t > 20 else 0.0  # from round 21 on, d (in "right") moves
        out = change(round_data(now, before, owners, t=t, communities=communities))
        (left if t <= 20 else right).append((out["change_p__left"], out["change_p__right"]))
    assert np.mean([p <= 0.05 for p, _ in left]) <= 0.15  # the members' own differences are no change
    assert all(q <= 0.05 for _, q in right)


def test_before_and_at_the_reference_round_nothing_is_tested():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(32, 6))
    out = change(round_data(x, x, np.repeat(np.arange(4), 8), t=0))
    assert np.isnan(out["change_p"]).all() and np.isnan(out["changed_share"])


@pytest.mark.parametrize(
    ("pvalues", "first"),
    [
        ([np.nan, 0.5, 0.01, 0.02, 0.03, 0.5], 2),
        ([np.nan, 0.01, 0.02, 0.5, 0.01, 0.01, 0.04], 4),
        ([np.nan, 0.01, np.nan, 0.01, 0.01], None),  # a round without a test breaks a run
        ([0.5] * 6, None),
    ],
)
def test_lasting_change_is_the_onsets_rule_mirrored(pvalues, first):
    assert lasting_change(pvalues, 0.05, 3) == first


def test_the_control_chart_signals_at_the_first_of_two_rounds_above_its_limit():
    calm = [np.nan, 1.0, 1.2, 0.9, 1.1, 1.0]  # calibration rounds 1–5: centre 1.04, mean moving range 0.2
    series = np.array(calm + [1.3, 2.5, 1.2, 2.6, 2.7, 2.8])
    chart = control_chart(series, reference=0, window=5)
    assert chart.centre[0] == pytest.approx(1.04)
    assert chart.limit[0] == pytest.approx(1.04 + 2.66 * 0.2, rel=1e-3)
    assert chart.signal[0] == 9  # round 7 alone is not a signal; 9 and 10 are
    assert (
        control_chart(series[:6], reference=0, window=5).signal[0] == -1
    )  # calibrated, nothing to check yet
    assert np.isnan(control_chart(series[:4], reference=0, window=5).limit[0])  # still calibrating


def test_the_control_charts_false_alarm_rate_on_a_null_is_the_documented_one():
    """The agents' statistics under the null, as the metric computes them: every round a fresh draw of the
    same distribution against one reference set. Documented (docs/collapse.md): with 10 calibration rounds,
    an agent's chance of any false signal over 35 monitored rounds is a few percent."""
    rng = np.random.default_rng(6)
    agents, rounds = 300, 46
    reference = sets(rng, agents)
    statistic = np.full((rounds, agents), np.nan)
    for t in range(1, rounds):
        statistic[t] = two_sample_tests(sets(rng, agents), reference, 19, rng)[1]
    chart = control_chart(statistic, reference=0, window=10)
    assert np.mean(chart.signal >= 0) <= 0.08


def _changed(text: str, *edits: tuple[str, str]) -> str:
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    return text


# two agents that never read (the null) beside two that copy what they read: the shared fake scenario, edited
NULL_AND_READERS = (
    _changed(
        FAKE_SCENARIO,
        ("seed = 3", "seed = 1"),
        ("beta = 0.5", "beta = [0.0, 0.0, 0.5, 0.5]"),
        ("samples = 4", "samples = 16"),
        ("rounds = 3", "rounds = 14"),
        ("copy_rate = 0.2", "copy_rate = 0.9"),
    )
    + '\n[[agents]]\nname = "dee"\nbackend = "fake"\ncopy_rate = 0.9\nsystem_prompt = "a contrarian"\n'
)


def test_never_reading_agents_keep_uniform_p_values_and_copying_readers_change(tmp_path):
    folder = tmp_path / "run"
    start_run(load_scenario(write_scenario(tmp_path, NULL_AND_READERS)), folder)
    write_llm_report(folder)
    rows = read_rows(folder / "metrics.csv")
    null = [float(r[f"change_p_{a}"]) for r in rows[1:] for a in ("ann", "bob")]
    assert len(null) == 28
    assert stats.kstest(null, "uniform").pvalue > 0.01
    assert sum(p <= 0.05 for p in null) <= 5  # binomial(28, 0.05): P(X > 5) < 0.01
    changes = {r["agent"]: r for r in read_rows(folder / "changes.csv")}
    assert changes["ann"]["first_change"] == changes["bob"]["first_change"] == ""
    assert changes["cy"]["first_change"] != "" and changes["dee"]["first_change"] != ""
    summary = json.loads((folder / "collapse.json").read_text())["change"]
    assert summary["agents_changed"] == 2 and set(summary["first_change"]) == {"ann", "bob", "cy", "dee"}
    assert (folder / "figures" / "control.png").is_file()
    assert "Control chart" in (folder / "report.html").read_text(encoding="utf-8")


def test_the_reference_round_is_a_setting(tmp_path):
    settings = MetricSettings(reference=2)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(32, 6))
    data = RoundData(
        names=("a", "b", "c", "d"),
        means=np.zeros((4, 6)),
        round=2,
        settings=settings,
        embeddings=x,
        owners=np.repeat(np.arange(4), 8),
        reference=Reference(2, x, np.repeat(np.arange(4), 8)),
    )
    assert np.isnan(change(data)["change_p"]).all()  # round s itself is not tested against itself


def test_a_reference_round_at_or_past_the_last_round_is_refused_with_the_fix(tmp_path):
    path = write_scenario(
        tmp_path, NULL_AND_READERS.replace("rounds = 14", "rounds = 14\n\n[metrics]\nreference = 14")
    )
    with pytest.raises(LwdError, match=r"reference = 14.*before the last round \(14\)") as caught:
        load_scenario(path)
    assert "Fix: set `reference` under [metrics] to a round from 0 to 13" in str(caught.value)


def test_a_control_run_sets_the_limits_so_a_change_at_once_can_signal(tmp_path):
    """The readers change from round 1 on, inside the rounds that would calibrate their own chart; a run of the
    same agents that never read calibrates it instead."""
    scenario = write_scenario(tmp_path, NULL_AND_READERS)
    never = NULL_AND_READERS.replace("[0.0, 0.0, 0.5, 0.5]", "[0.0, 0.0, 0.0, 0.0, 0.5]")  # one must read
    control = write_scenario(tmp_path, never + '\n[[agents]]\nname = "zed"\nbackend = "fake"\n', "c.toml")
    start_run(load_scenario(scenario), tmp_path / "run")
    start_run(load_scenario(control), tmp_path / "control")
    write_llm_report(tmp_path / "run", control_run=tmp_path / "control")
    summary = json.loads((tmp_path / "run" / "collapse.json").read_text())["change"]["control"]
    assert summary["calibrated_on"].startswith("the control run")
    assert summary["first_signal"]["cy"] is not None and summary["first_signal"]["dee"] is not None
    result = CliRunner().invoke(app, ["report", str(tmp_path / "run"), "--control-run", str(tmp_path)])
    assert result.exit_code == 2 and "not an LLM run folder" in result.output
