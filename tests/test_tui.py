"""The terminal UI: Pilot tests on the fake backend (behaviour), snapshot tests (layout, baselines in
tests/__snapshots__), one round on the real embedded models, and the TUI in a real terminal (tmux)."""

import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import FAKE_SCENARIO, write_scenario
from textual.widgets import DataTable, OptionList

from lwd.run.llm import resume_run, start_run
from lwd.run.rounds import RoundLog
from lwd.run.scenario import load_scenario
from lwd.scenarios import available
from lwd.tui.app import LwdApp
from lwd.tui.screens import ResponseScreen
from lwd.tui.sessions import GMMSession, LLMSession, ReplaySession
from lwd.tui.widgets import GMMPane, MetricChart, ResponseLog

SIZE = (100, 30)


async def wait_for(pilot, condition, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the TUI"
        await pilot.pause(0.05)


def live(tmp_path: Path, rounds: int = 4) -> LLMSession:
    path = write_scenario(tmp_path, FAKE_SCENARIO, "tui.toml")
    return LLMSession(load_scenario(path, {"network.rounds": rounds, "network.samples": 2}), tmp_path / "run")


async def test_a_round_updates_the_chart_log_table_and_status(tmp_path):
    app = LwdApp(live(tmp_path, rounds=2))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.finished)
        chart = app.query_one(MetricChart)
        assert [t for t, _ in chart.llm] == [0, 1, 2] and chart.gmm is not None
        assert len(app.query_one(ResponseLog).children) == 3 * 3
        assert app.query_one(DataTable).row_count == 3
        status = str(app.query_one("#status").render())
        assert "round 2/2" in status and "k_t 13" in status and "finished" in status
        strip = str(app.query_one(DataTable).border_title)  # the test of each round, and the onset
        assert re.fullmatch(r"test [x·]{3} onset (-|r0)", strip), strip
    assert app.finished == "done"


async def test_pause_step_resume(tmp_path):
    session = live(tmp_path, rounds=6)
    session.gate.pause()  # start paused: nothing runs until asked
    app = LwdApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        assert app.rounds_done == 0 and "paused" in str(app.query_one("#status").render())
        await pilot.press("s")  # exactly one round
        await wait_for(pilot, lambda: app.rounds_done == 1)
        await pilot.pause(0.3)
        assert app.rounds_done == 1
        await pilot.press("s")
        await wait_for(pilot, lambda: app.rounds_done == 2)
        await pilot.press("p")  # resume: the rest runs
        await wait_for(pilot, lambda: app.finished)
        assert app.rounds_done == 7


async def test_toggle_the_gmm_pane_and_open_an_answer(tmp_path):
    app = LwdApp(live(tmp_path, rounds=1))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.finished)
        chart, pane = app.query_one(MetricChart), app.query_one(GMMPane)
        assert chart.show_gmm and pane.display
        await pilot.press("g")
        assert not chart.show_gmm and not pane.display
        await pilot.press("g")
        assert chart.show_gmm and pane.display
        listed = [name for name, _, _ in chart.metrics]  # every registered metric, ‖D‖_F first
        assert listed[:3] == ["frobenius", "spread", "dispersion"] and "energy_test" in listed
        await pilot.press("m")
        assert chart.metric == "spread" and "spread around X_i over rounds" in str(chart.plt.build())
        for _ in range(len(listed) - 1):
            await pilot.press("m")
        assert chart.metric == "frobenius" and "‖D‖_F / ‖D‖_F at t=0" in str(chart.plt.build())
        await pilot.press("o")
        assert isinstance(app.screen, ResponseScreen)
        shown = str(app.screen.query_one("#response-body Static").render())
        assert "posts read" in shown and "seed" in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, ResponseScreen)


async def test_quit_mid_run_then_resume_completes_it(tmp_path):
    session = live(tmp_path, rounds=8)
    app = LwdApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.rounds_done >= 2)
        await pilot.press("q")
    done = RoundLog(tmp_path / "run").committed()
    assert 2 <= len(done) < 9
    assert resume_run(tmp_path / "run") == len(done)
    assert RoundLog(tmp_path / "run").committed() == list(range(9))


async def test_quit_during_a_round_does_not_wait_for_it_and_resume_redoes_it(tmp_path, monkeypatch):
    """`q` while the agents' calls of round 2 are still running: the app is gone while they are still blocked,
    round 2 is abandoned (never committed), and resuming ends where an uninterrupted run ends."""
    from lwd.agents.fake import FakeChatModel

    original, calls, lock = FakeChatModel._generate, [0], threading.Lock()
    release = threading.Event()

    def held_from_round_2(self, *args, **kwargs):
        with lock:
            calls[0] += 1
            call = calls[0]
        if call > 2 * 3:  # 3 agents, one request each per round: rounds 0 and 1 run, round 2 is held
            release.wait(timeout=600)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FakeChatModel, "_generate", held_from_round_2)
    session = live(tmp_path, rounds=4)
    app = LwdApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.rounds_done == 2 and app.state["round"] == 2)
        await pilot.press("q")
    assert app.interrupted and not release.is_set()  # left while round 2's calls were still blocked
    release.set()
    app.session_thread.join(timeout=600)
    assert not app.session_thread.is_alive()
    folder = tmp_path / "run"
    assert RoundLog(folder).committed() == [0, 1]  # round 2 was abandoned before its commit
    monkeypatch.setattr(FakeChatModel, "_generate", original)
    assert resume_run(folder) == 2
    straight = start_run(session.loaded, tmp_path / "straight")
    assert (folder / "metrics.csv").read_bytes() == (straight / "metrics.csv").read_bytes()


async def test_replay_shows_every_round(tmp_path):
    folder = tmp_path / "done"
    start_run(load_scenario(write_scenario(tmp_path, FAKE_SCENARIO)), folder)
    app = LwdApp(ReplaySession(folder, interval=0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.finished)
        assert [t for t, _ in app.query_one(MetricChart).llm] == [0, 1, 2, 3]
        assert len(app.query_one(ResponseLog).children) == 4 * 3


async def test_gmm_mode_shows_replicates_and_densities():
    loaded = load_scenario(available()["paper-gmm-b2"], {"network.rounds": 20})
    app = LwdApp(GMMSession(loaded, interval=0))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.finished)
        chart = app.query_one(MetricChart)
        assert chart.gmm_upto == 20 and chart.gmm["frobenius"].shape == (5, 21)
        assert not app.query_one("#bottom").display
        assert "round 20/20" in str(app.query_one("#status").render())


async def test_picker_lists_shipped_and_own_scenarios(tmp_path):
    own = write_scenario(tmp_path, FAKE_SCENARIO, "mine.toml")
    chosen = []

    def make(path):
        chosen.append(path)
        return live(tmp_path, rounds=1)

    app = LwdApp(None, here=tmp_path, make_session=make)
    async with app.run_test(size=SIZE) as pilot:
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any(label.startswith("quick") for label in labels) and any(
            "mine.toml" in label for label in labels
        )
        options.highlighted = next(i for i, label in enumerate(labels) if "mine.toml" in label)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.finished)
    assert chosen == [own]


# -- layout snapshots (pytest-textual-snapshot; look at tests/__snapshots__ before updating them) -------------


@pytest.fixture(scope="module")
def two_round_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("snap") / "run"
    scenario = tmp_path_factory.mktemp("sc") / "snap.toml"
    scenario.write_text(
        FAKE_SCENARIO.replace(
            'description = "three fake agents on a real Chroma store"',
            'name = "snapshot"\ndescription = "fake agents"',
        )
    )
    start_run(load_scenario(scenario, {"network.rounds": 1}), folder)
    return folder


def _finished(app):
    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: app.finished)
        await pilot.pause(0.5)  # let the tables settle their column widths

    return run_before


def test_snapshot_main_screen_after_two_rounds(snap_compare, two_round_run):
    app = LwdApp(ReplaySession(two_round_run, interval=0), show_rates=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=_finished(app))


def test_snapshot_gmm_mode(snap_compare):
    loaded = load_scenario(available()["paper-gmm-b2"], {"network.rounds": 30})
    app = LwdApp(GMMSession(loaded, interval=0), show_rates=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_finished(app))


# -- the real parts -------------------------------------------------------------------------------------------


@pytest.mark.real
async def test_one_round_on_the_embedded_models(tmp_path):
    loaded = load_scenario(available()["quick"], {"network.rounds": 1, "network.samples": 2})
    app = LwdApp(LLMSession(loaded, tmp_path / "real"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.rounds_done >= 1, timeout=900)
        assert len(app.query_one(ResponseLog).children) == 3
        assert "optimist" in str(app.query_one("#status").render())
        await pilot.press("q")
    assert RoundLog(tmp_path / "real").committed()[0] == 0


class Terminal:
    """`lwd tui SCENARIO --out OUT` in a real terminal (a tmux session), then `EXIT=<code>` once it returns."""

    def __init__(self, scenario: Path, out: Path):
        self.name = f"lwd-test-{time.time_ns()}"
        command = f"{sys.executable} -m lwd tui {scenario} --out {out}; echo EXIT=$?; sleep 30"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "100", "-y", "30", command], check=True
        )

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def press(self, key: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)

    def wait_for(self, pattern: str, within: float = 600) -> str:
        deadline = time.monotonic() + within
        while not re.search(pattern, screen := self.screen()):
            assert time.monotonic() < deadline, f"{pattern!r} not on screen:\n{screen}"
            time.sleep(0.1)
        return screen

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed: the terminal check needs it"
)


@pytest.mark.real
@needs_tmux
def test_tui_in_a_real_terminal(tmp_path):
    """The TUI in a real terminal (tmux): keys sent, screen captured, a clean exit, a resumable folder."""
    out = tmp_path / "run"
    terminal = Terminal(write_scenario(tmp_path, FAKE_SCENARIO.replace("rounds = 3", "rounds = 400")), out)
    try:
        terminal.wait_for(r"round ([2-9]|\d\d+)/400")
        terminal.press("p")  # pause
        # a busy machine may take seconds to redraw: wait for the status line rather than a fixed sleep
        captured = terminal.wait_for("paused", within=60)
        for words in ("LLM network", "‖D‖_F", "ann", "bob", "cy", "q quit"):
            assert words in captured, captured
        terminal.press("q")
        screen = terminal.wait_for("EXIT=")
        assert "EXIT=0" in screen and "lwd resume" in screen
    finally:
        terminal.close()
    done = RoundLog(out).committed()
    assert done and done == list(range(len(done))) and len(done) < 401


@pytest.mark.real
@needs_tmux
def test_q_during_a_slow_round_leaves_at_once_in_a_real_terminal(tmp_path):
    """An agent whose every request takes 20 minutes: `q` while round 0 waits for it returns to the shell long
    before the request could end, with a folder that `lwd resume` continues."""
    out = tmp_path / "run"
    slow = FAKE_SCENARIO.replace("copy_rate = 0.2", "copy_rate = 0.2\ndelay = 1200")
    terminal = Terminal(write_scenario(tmp_path, slow), out)
    try:
        terminal.wait_for(r"round 0/3 · running")
        time.sleep(1.0)  # the agents' requests are under way
        terminal.press("q")
        screen = terminal.wait_for("EXIT=", within=600)  # the held request alone would take 1200 s
        assert "EXIT=0" in screen and "lwd resume" in screen
    finally:
        terminal.close()
    assert RoundLog(out).committed() == []  # round 0 was abandoned, and the folder is resumable
    assert (out / "rounds" / "initial.json").is_file()
