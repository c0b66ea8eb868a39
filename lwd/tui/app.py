"""``lwd tui``: watch a network collapse — live answers, every metric with its GMM proxy, the MDS picture, D.

The simulation never runs on the UI thread. A Textual thread worker (``@work(thread=True)``) starts the
session on a daemon thread and waits for it, so quitting never waits for an LLM call in flight: ``q`` stops the
session (the round in progress is abandoned before its commit), the app exits at once, and ``lwd resume`` (or
``lwd tui --resume``) redoes that round exactly. The session talks to the UI only through messages
(:mod:`lwd.tui.messages`).
"""

from __future__ import annotations

import json
import threading
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Header
from textual.worker import get_current_worker

from lwd.gmm.simulate import GMMRun
from lwd.metrics import collapse_onset, control_chart
from lwd.metrics.change import CHANGE
from lwd.metrics.registry import DENSE_AGENTS, family_column, onset_column
from lwd.run.kinds import RunKind
from lwd.tui.messages import (
    AgentAnswered,
    Ending,
    GMMReady,
    GMMRound,
    RoundFinished,
    RoundStarted,
    SessionEnded,
)
from lwd.tui.screens import PickerScreen, ResponseScreen
from lwd.tui.sessions import Session
from lwd.tui.widgets import DistanceTable, GMMPane, MDSPlot, MetricChart, ResponseItem, ResponseLog, StatusBar

__all__ = ["LwdApp"]


class LwdApp(App[None]):
    """The terminal UI over one session (see :mod:`lwd.tui.sessions`), or a picker when there is none."""

    CSS_PATH = "lwd.tcss"
    TITLE = "lwd"
    BINDINGS = [
        Binding("p", "pause", "pause/resume"),
        Binding("s", "step", "step"),
        Binding("g", "toggle_gmm", "GMM"),
        Binding("m", "next_metric", "metric"),
        Binding("v", "toggle_view", "paths"),
        Binding("o", "open", "open"),
        Binding("q", "quit_run", "quit"),
    ]

    def __init__(
        self,
        session: Session | None = None,
        here: Path | None = None,
        show_rates: bool = True,
        make_session=None,
    ):
        super().__init__()
        self.session = session
        self.here = here or Path.cwd()
        self.show_rates = show_rates  # off in snapshot tests: throughput changes from run to run
        self.make_session = make_session  # picker: path -> Session
        self.finished: Ending | None = None  # how the session ended (None: it has not)
        self.failure: str | None = None  # the error that ended a FAILED session
        self.state = {"round": None, "k": None, "size": None, "synthetic": None, "health": {}, "rate": None}
        self.pvalues: list[float] = []  # the test of each finished round (LLM runs)
        self.changes: dict[int, np.ndarray] = {}  # each round's per-agent change statistic (control chart)
        self.control = ""  # what the status bar says of the control chart
        self.centroids: dict[int, np.ndarray] = {}  # each round's mean answer of each picture group
        self.trajectories = (
            False  # the MDS pane shows the perspective space over time, not this round's answers
        )
        self.last_answers: tuple | None = None  # (round, coords, owners) of the last round, for the toggle
        self.posts: dict[str, str] = {}
        self.rounds_done = 0
        self.session_thread: threading.Thread | None = None
        self.proxy: GMMRun | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="top"):
            yield MetricChart(id="chart")
            yield MDSPlot(id="mds")
            yield GMMPane(id="gmm")
        with Horizontal(id="bottom"):
            yield ResponseLog(id="log")
            yield DistanceTable(id="dist", show_cursor=False, zebra_stripes=True)
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        if self.session is not None:
            self.begin(self.session)
        else:
            self.push_screen(PickerScreen(self.here), self._picked)

    def _picked(self, path: Path | None) -> None:
        if path is not None:
            self.begin(self.make_session(path))

    def begin(self, session: Session) -> None:
        self.session = session
        self.sub_title = f"{session.name} — {'GMM proxy' if session.kind == 'gmm' else 'LLM network'}"
        if session.kind is RunKind.GMM:  # no answers to show: the charts take the screen
            self.screen.add_class("gmm-mode")
            self.refresh_bindings()
        self.query_one(MetricChart).metrics = session.metric_list
        self._status()
        self.run_session()

    @work(thread=True, exclusive=True, name="simulation")
    def run_session(self) -> None:
        """The worker: the session runs on a daemon thread; the worker waits for it and can be cancelled."""
        thread = threading.Thread(
            target=self.session.run, args=(self.post_message,), daemon=True, name="lwd-session"
        )
        self.session_thread = thread
        thread.start()
        worker = get_current_worker()
        while thread.is_alive():
            if worker.is_cancelled:
                self.session.stop()
                return
            thread.join(0.1)

    # -- what the session reports ----------------------------------------------------------------------------

    @on(RoundStarted)
    def round_started(self, message: RoundStarted) -> None:
        if not self.posts and self.session.folder is not None:
            self._load_initial_posts()
        self.state.update(
            round=message.round,
            k=message.k,
            size=message.store_size,
            health={name: "…" for name in self.session.agents},
        )
        self._status()

    @on(AgentAnswered)
    def agent_answered(self, message: AgentAnswered) -> None:
        reply = message.reply
        failed = sum(r.failed for r in reply.responses)
        tokens = sum(r.tokens or 0 for r in reply.responses)
        health = (
            "ok"
            if not failed and not reply.retries
            else (f"{reply.retries} retries" if reply.retries else f"{failed} failed")
        )
        self.state["health"][message.agent] = f"{health} {reply.seconds:.1f}s" if self.show_rates else health
        if reply.seconds > 0 and tokens:
            self.state["rate"] = tokens / reply.seconds
        self._status()

    @on(RoundFinished)
    def round_finished(self, message: RoundFinished) -> None:
        record = message.record
        self.rounds_done += 1
        for post in record.posts:
            self.posts[post.id] = post.text
        self.state["synthetic"] = record.synthetic / record.store_size if record.store_size else 0.0
        if (pvalue := record.metrics.get(onset_column())) is not None:
            self.pvalues.append(pvalue)
            self.query_one(DistanceTable).border_title = self._test_strip()
        change = record.per_agent.get(CHANGE)
        if change is None and family_column(CHANGE, self.session.agents[0]) in record.metrics:
            change = [record.metrics[family_column(CHANGE, a)] for a in self.session.agents]
        if change is not None:
            self.changes[record.round] = np.asarray(change, dtype=float)
            self.control = self._control()  # once a round: the status is redrawn at every answer
        chart = self.query_one(MetricChart)
        chart.llm.append((record.round, record.metrics))
        chart.redraw()
        if message.means is not None:
            means = np.asarray(message.means, dtype=float)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a group without answers this round: NaN
                self.centroids[record.round] = np.stack(
                    [np.nanmean(means[list(g.members)], axis=0) for g in self.session.groups]
                )
        self.last_answers = (record.round, message.coords, message.owners)
        self._draw_mds()
        self.query_one(DistanceTable).show(self.session.agents, record.distance)
        self.query_one(ResponseLog).add_round(record.round, record.agents, self.session.agents)
        if self.proxy is not None:
            self.query_one(GMMPane).show(self.proxy, min(record.round, self.proxy.rounds))
        self._status()

    @on(GMMReady)
    def gmm_ready(self, message: GMMReady) -> None:
        self.proxy = message.run
        chart = self.query_one(MetricChart)
        chart.gmm, chart.theory = message.table, message.theory
        if self.session.kind is RunKind.GMM:
            chart.gmm_upto = 0
        chart.redraw()
        self.query_one(GMMPane).show(message.run, 0)

    @on(GMMRound)
    def gmm_round(self, message: GMMRound) -> None:
        chart = self.query_one(MetricChart)
        chart.gmm_upto = message.round
        chart.redraw()
        self.query_one(GMMPane).show(self.proxy, message.round)
        run = self.proxy
        self.state.update(
            round=message.round, k=int(run.k[message.round].max()), size=int(run.store_size[message.round])
        )
        self.rounds_done = message.round + 1
        self._status()

    @on(SessionEnded)
    def session_ended(self, message: SessionEnded) -> None:
        self.finished, self.failure = message.ending, message.error
        if message.ending is Ending.FAILED:
            self.notify(message.error or "", title="the run stopped", severity="error", timeout=30)
        self._status()

    # -- keys ------------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # the GMM mode has no answers to open
        return not (action == "open" and self.session is not None and self.session.kind is RunKind.GMM)

    def action_pause(self) -> None:
        gate = self.session.gate
        gate.resume() if gate.paused else gate.pause()
        self._status()

    def action_step(self) -> None:
        if self.session.gate.paused:
            self.session.gate.step()

    def action_toggle_gmm(self) -> None:
        chart = self.query_one(MetricChart)
        chart.show_gmm = not chart.show_gmm
        self.query_one(GMMPane).display = chart.show_gmm
        chart.redraw()

    def action_toggle_view(self) -> None:
        self.trajectories = not self.trajectories
        self._draw_mds()

    def _draw_mds(self) -> None:
        plot = self.query_one(MDSPlot)
        if self.trajectories and self.centroids:
            plot.trajectories(self.centroids, self.session.groups)
        elif self.last_answers is not None:
            plot.show(*self.last_answers, self.session.groups)

    def action_next_metric(self) -> None:
        self.query_one(MetricChart).next_metric()

    def action_open(self) -> None:
        log = self.query_one(ResponseLog)
        item = log.highlighted_child
        if isinstance(item, ResponseItem):
            self.push_screen(ResponseScreen(item.round, item.agent, self.posts))

    def on_list_view_selected(self, event: ResponseLog.Selected) -> None:
        if isinstance(event.item, ResponseItem):
            self.push_screen(ResponseScreen(event.item.round, event.item.agent, self.posts))

    def action_quit_run(self) -> None:
        """Leave now: the session stops, a round in flight is abandoned, not waited for (resume redoes it)."""
        if self.session is not None:
            self.session.stop()
        self.workers.cancel_all()  # the worker stops waiting for the session at once
        self.exit()

    @property
    def interrupted(self) -> bool:
        """The app was left while its session was still working on a round."""
        return self.session_thread is not None and self.session_thread.is_alive()

    # -- helpers ---------------------------------------------------------------------------------------------

    def _load_initial_posts(self) -> None:
        path = self.session.folder / "rounds" / "initial.json"
        if path.is_file():
            self.posts.update({p["id"]: p["text"] for p in json.loads(path.read_text())["posts"]})

    def _test_strip(self) -> str:
        """The test of the last rounds, x: told apart (p ≤ α), ·: not; and the collapse onset so far."""
        settings = self.session.scenario.metrics
        marks = "".join("?" if p != p else "x" if p <= settings.alpha else "·" for p in self.pvalues[-12:])
        onset = collapse_onset(self.pvalues, settings.alpha, settings.consecutive)
        return f"test {marks} onset {'-' if onset is None else f'r{onset}'}"

    def _control(self) -> str:
        """The control chart so far: the agents signalled (or the rounds still calibrating it)."""
        settings = self.session.scenario.metrics
        rows = np.full((max(self.changes) + 1, len(self.session.agents)), np.nan)
        for t, values in self.changes.items():
            rows[t] = values
        chart = control_chart(rows, settings.reference, settings.control_rounds)
        if len(self.session.agents) <= DENSE_AGENTS:
            limits = dict(
                zip(
                    (family_column(CHANGE, a) for a in self.session.agents), chart.limit.tolist(), strict=True
                )
            )
            self.query_one(MetricChart).limits = limits
        if len(rows) < chart.first:
            return f"control: calibrating to r{chart.first - 1}"
        return f"control: {int((chart.signal >= 0).sum())}/{len(self.session.agents)} signalled"

    def _status(self) -> None:
        s, session = self.state, self.session
        if session is None:
            return
        if self.finished:
            state = "finished" if self.finished is Ending.DONE else "stopped"
        else:
            state = "paused" if session.gate.paused else "running"
        shown = {key: "-" if s[key] is None else s[key] for key in ("round", "k", "size")}
        parts = [
            f"round {shown['round']}/{session.rounds}",
            state,
            f"k_t {shown['k']}",
            f"|A_t| {shown['size']}",
        ]
        if session.kind is RunKind.LLM:
            parts.append(f"synthetic {s['synthetic']:.0%}" if s["synthetic"] is not None else "synthetic -")
            if self.show_rates:
                parts.append(f"{s['rate']:.0f} tok/s" if s["rate"] else "- tok/s")
            if self.control:
                parts.append(self.control)
            health = s["health"]
            if len(health) <= DENSE_AGENTS:
                parts.extend(f"{name}: {state}" for name, state in health.items())
            else:  # a large network: how many agents are in each state, not a word per agent
                parts.append(_tally(health))
        self.query_one(StatusBar).update(" · ".join(parts))


def _tally(health: dict[str, str]) -> str:
    """A large network's agents by state this round: "990 ok, 8 waiting, 2 failed"."""
    states = Counter(
        "waiting" if h == "…" else "ok" if h.startswith("ok") else "retried" if "retries" in h else "failed"
        for h in health.values()
    )
    return ", ".join(f"{count} {state}" for state, count in states.most_common())
