"""What the TUI shows, produced off the UI thread: a live or resumed LLM run, a replay of a finished one, or
the GMM proxy alone. Every session drives the project's own loops (``lwd.run.llm`` → the Algorithm 1
scheduler; ``lwd.gmm.simulate``) and only translates their progress into messages; a :class:`Gate` between
rounds gives the UI pause, step and stop, and :meth:`Session.stop` also abandons a round in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from lwd.agents.records import Reply
from lwd.core.errors import LwdError
from lwd.internet.corpus import load_corpus
from lwd.metrics import GMM, LLM, MetricContext
from lwd.metrics.registry import computable, model_groups
from lwd.report.groups import picture_groups
from lwd.run.gmm import expectation_table, metric_table, simulate_scenario
from lwd.run.kinds import EventKind, RunKind
from lwd.run.llm import Control, recorded_scenario, resume_run, start_run
from lwd.run.records import AgentRound
from lwd.run.rounds import RoundLog
from lwd.run.scenario import LoadedScenario
from lwd.run.scheduler import Event, RunStopped
from lwd.run.twin import twin_fit, twin_of
from lwd.tui.messages import (
    AgentAnswered,
    Ending,
    GMMReady,
    GMMRound,
    RoundFinished,
    RoundStarted,
    SessionEnded,
)

__all__ = ["Gate", "Session", "LLMSession", "ReplaySession", "GMMSession", "proxy_of"]

Post = Callable[[Message], None]


class Gate:
    """Called before every round: lets it run, holds it while paused, lets one through per step, or stops."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.paused = False
        self._steps = 0
        self._stopped = False

    def pause(self) -> None:
        with self._cond:
            self.paused = True

    def resume(self) -> None:
        with self._cond:
            self.paused = False
            self._cond.notify_all()

    def step(self) -> None:
        """While paused: run exactly one more round."""
        with self._cond:
            self._steps += 1
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def __call__(self, t: int) -> None:
        with self._cond:
            while True:
                if self._stopped:
                    raise RunStopped("stopped between rounds")
                if not self.paused:
                    return
                if self._steps:
                    self._steps -= 1
                    return
                self._cond.wait()


def proxy_of(loaded: LoadedScenario, folder: Path | None = None) -> GMMReady:
    """The GMM proxy of a network and its metrics: a GMM scenario itself, or an LLM scenario's matched twin
    (:mod:`lwd.run.twin`; fitted to the run's round 0 once ``folder`` holds it)."""
    s = loaded.scenario
    if s.kind is RunKind.GMM:
        run = simulate_scenario(loaded)
        return GMMReady(run, metric_table(run, s, loaded.base), expectation_table(run, loaded))
    fitted = twin_fit(folder, loaded) if folder is not None else None
    run = twin_of(loaded, len(load_corpus(s.corpus.file, s.corpus.column, loaded.base).texts), fitted)
    return GMMReady(run, metric_table(run, s, loaded.base))


class Session:
    """Runs in its own thread (see ``LwdApp``); ``run(post)`` posts the TUI's messages and ends with SessionEnded.

    A failure ends the session with its message on screen; ``error`` keeps the exception, so the command line
    reports it after the TUI closes (one line for an LwdError, a traceback for a bug)."""

    kind = RunKind.LLM

    def __init__(self, loaded: LoadedScenario, folder: Path | None):
        self.loaded, self.name, self.scenario, self.folder = loaded, loaded.name, loaded.scenario, folder
        self.agents = [a.name for a in self.scenario.agents]
        self.rounds = self.scenario.network.rounds
        self.gate = Gate()
        self.error: BaseException | None = None
        wiring = self.scenario.wiring(loaded.base)
        described = [{"backend": a.backend, "model": a.model} for a in self.scenario.agents]
        self.context = MetricContext(tuple(self.agents), wiring.communities, model_groups(described))
        self.groups = picture_groups(self.agents, wiring.communities, described)  # one colour in the MDS pane

    provides = LLM  # what this session's rounds offer the metrics

    @property
    def metric_list(self) -> list[tuple[str, str, list[str]]]:
        """(name, label, columns) of every metric this session's rounds carry, in registration order (the
        TUI's metric list); metrics without columns here (communities on a network without any) left out."""
        found = [(m.name, m.label, m.columns(self.context)) for m in computable(self.provides)]
        return [entry for entry in found if entry[2]]

    @property
    def metric_columns(self) -> list[str]:
        """Every metric column of this session's rounds."""
        return [column for _, _, cols in self.metric_list for column in cols]

    def stop(self) -> None:
        """Stop between rounds; a round in flight is abandoned where the session can (see LLMSession)."""
        self.gate.stop()

    def run(self, post: Post) -> None:
        try:
            self._run(post)
            post(SessionEnded(Ending.DONE))
        except RunStopped:
            post(SessionEnded(Ending.STOPPED))
        except LwdError as exc:  # a user error: its message and fix, on screen and after the TUI
            self.error = exc
            post(SessionEnded(Ending.FAILED, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug: on screen now, with its traceback after the TUI
            self.error = exc
            post(SessionEnded(Ending.FAILED, f"{type(exc).__name__}: {exc}"))

    def _run(self, post: Post) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class LLMSession(Session):
    """A new run of an LLM scenario (``out``), or an interrupted one continued (``resume``)."""

    def __init__(
        self, loaded: LoadedScenario | None = None, out: Path | None = None, resume: Path | None = None
    ):
        if resume is not None:
            super().__init__(recorded_scenario(Path(resume)), Path(resume))
        else:
            assert loaded is not None and out is not None
            super().__init__(loaded, Path(out))
        self.resume = resume
        self.control = Control(gate=self.gate)

    def stop(self) -> None:
        """Stop now: between rounds, or by abandoning the round in flight (it is not committed; a resume redoes
        it exactly). The LLM calls it was waiting for are left to finish or die with the process."""
        self.gate.stop()
        self.control.cancel()

    def _run(self, post: Post) -> None:
        post(proxy_of(self.loaded, self.folder))  # a resumed run: fitted to its round 0 already

        def on_event(event: Event) -> None:
            if event.kind is EventKind.ROUND_START:
                post(RoundStarted(event.round, event.k, event.store_size))
            elif event.kind is EventKind.AGENT_DONE:
                post(AgentAnswered(event.round, event.agent, event.reply))
            elif event.kind is EventKind.ROUND_DONE:
                post(
                    RoundFinished(event.record, event.arrays.coords, event.arrays.owners, event.arrays.means)
                )
                if event.round == 0:  # the twin, now fitted to round 0's answers
                    post(proxy_of(self.loaded, self.folder))

        if self.resume is not None:
            resume_run(self.resume, on_event, control=self.control)
        else:
            start_run(self.loaded, self.folder, on_event, control=self.control)


class ReplaySession(Session):
    """A finished (or interrupted) run, shown round by round from its committed record."""

    def __init__(self, folder: Path, interval: float = 1.0):
        super().__init__(recorded_scenario(Path(folder)), Path(folder))
        self.interval = interval

    def _run(self, post: Post) -> None:
        post(proxy_of(self.loaded, self.folder))
        log = RoundLog(self.folder)
        for t in log.committed():
            self.gate(t)
            record, arrays = log.record(t), log.arrays(t)
            post(RoundStarted(t, record.k, record.store_size))
            for agent in record.agents:
                post(AgentAnswered(t, agent.agent, _reply(agent)))
            post(RoundFinished(record, arrays.coords, arrays.owners, arrays.means))
            time.sleep(self.interval)


class GMMSession(Session):
    """The GMM proxy alone (a scenario without agents): simulated at once, then shown round by round."""

    kind = RunKind.GMM

    def __init__(self, loaded: LoadedScenario, interval: float = 0.05):
        super().__init__(loaded, None)
        self.agents = [f"model {i}" for i in range(loaded.scenario.network.n)]
        self.interval = interval

    provides = GMM

    def _run(self, post: Post) -> None:
        post(proxy_of(self.loaded))
        for t in range(self.rounds + 1):
            self.gate(t)
            post(GMMRound(t))
            time.sleep(self.interval)


def _reply(agent: AgentRound) -> Reply:
    return Reply(
        agent.agent,
        agent.responses,
        agent.prompt_tokens,
        agent.seconds,
        len(agent.retrieved),
        agent.k_used,
        agent.regenerations,
        agent.retries,
        agent.missing,
        agent.surplus,
    )
