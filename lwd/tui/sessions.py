"""What the TUI shows, produced off the UI thread: a live or resumed LLM run, a replay of a finished one, or
the GMM proxy alone. Every session drives the project's own loops (``lwd.llm_mode`` → the Algorithm 1
scheduler; ``lwd.gmm.simulate``) and only translates their progress into messages; a :class:`Gate` between
rounds gives the UI pause, step and stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from lwd.agents.agent import Reply
from lwd.gmm.simulate import GMMRun
from lwd.llm_mode import recorded_scenario
from lwd.rounds import AgentRound, RoundLog
from lwd.scenario import LoadedScenario
from lwd.tui.messages import AgentAnswered, GMMReady, GMMRound, RoundFinished, RoundStarted, SessionEnded

__all__ = ["Gate", "StopRun", "Session", "LLMSession", "ReplaySession", "GMMSession", "proxy_of"]

Post = Callable[[Message], None]


class StopRun(Exception):
    """The user quit: the run stops between rounds (committed rounds stay; `lwd resume` continues)."""


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
                    raise StopRun
                if not self.paused:
                    return
                if self._steps:
                    self._steps -= 1
                    return
                self._cond.wait()


def proxy_of(loaded: LoadedScenario) -> GMMRun:
    """The GMM proxy of a network: an LLM scenario's matched twin (:mod:`lwd.twin`), or a GMM scenario itself."""
    if loaded.scenario.kind == "gmm":
        from lwd.gmm_mode import simulate_scenario

        return simulate_scenario(loaded)
    from lwd.internet.corpus import load_corpus
    from lwd.twin import twin_of

    s = loaded.scenario
    return twin_of(loaded, len(load_corpus(s.corpus.file, s.corpus.column, loaded.base).texts))


class Session:
    """Runs in its own thread (see ``LwdApp``); ``run(post)`` posts the TUI's messages and ends with SessionEnded."""

    kind = "llm"

    def __init__(self, loaded: LoadedScenario, folder: Path | None):
        self.loaded, self.name, self.scenario, self.folder = loaded, loaded.name, loaded.scenario, folder
        self.agents = [a.name for a in self.scenario.agents]
        self.rounds = self.scenario.network.rounds
        self.gate = Gate()

    def run(self, post: Post) -> None:
        try:
            self._run(post)
            post(SessionEnded(None))
        except StopRun:
            post(SessionEnded(None))
        except Exception as exc:  # noqa: BLE001 - shown in the UI, which stays usable
            post(SessionEnded(f"{type(exc).__name__}: {exc}"))

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

    def _run(self, post: Post) -> None:
        from lwd.llm_mode import resume_run, start_run

        post(GMMReady(proxy_of(self.loaded)))

        def on_event(event) -> None:
            if event.kind == "round_start":
                post(RoundStarted(event.round, event.k, event.store_size))
            elif event.kind == "agent_done":
                post(AgentAnswered(event.round, event.agent, event.reply))
            elif event.kind == "round_done":
                post(RoundFinished(event.record, event.arrays.coords, event.arrays.owners))

        if self.resume is not None:
            resume_run(self.resume, on_event, gate=self.gate)
        else:
            start_run(self.loaded, self.folder, on_event, gate=self.gate)


class ReplaySession(Session):
    """A finished (or interrupted) run, shown round by round from its committed record."""

    def __init__(self, folder: Path, interval: float = 1.0):
        super().__init__(recorded_scenario(Path(folder)), Path(folder))
        self.interval = interval

    def _run(self, post: Post) -> None:
        post(GMMReady(proxy_of(self.loaded)))
        log = RoundLog(self.folder)
        for t in log.committed():
            self.gate(t)
            record, arrays = log.record(t), log.arrays(t)
            post(RoundStarted(t, record.k, record.store_size))
            for agent in record.agents:
                post(AgentAnswered(t, agent.agent, _reply(agent)))
            post(RoundFinished(record, arrays.coords, arrays.owners))
            time.sleep(self.interval)


class GMMSession(Session):
    """The GMM proxy alone (a scenario without agents): simulated at once, then shown round by round."""

    kind = "gmm"

    def __init__(self, loaded: LoadedScenario, interval: float = 0.05):
        super().__init__(loaded, None)
        self.agents = [f"model {i}" for i in range(loaded.scenario.network.n)]
        self.interval = interval

    def _run(self, post: Post) -> None:
        post(GMMReady(proxy_of(self.loaded)))
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
    )
