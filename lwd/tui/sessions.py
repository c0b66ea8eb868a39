"""What the TUI shows, produced off the UI thread: a live or resumed LLM run, a replay of a finished one, or
the GMM proxy alone. Every session drives the project's own loops (``lwd.llm_mode`` → the Algorithm 1
scheduler; ``lwd.gmm.simulate``) and only translates their progress into messages; a :class:`Gate` between
rounds gives the UI pause, step and stop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from lwd.agents.agent import Reply
from lwd.gmm.simulate import GMMRun, simulate
from lwd.rounds import AgentRound, RoundLog
from lwd.scenario import LoadedScenario, Scenario, parse_scenario
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


def proxy_of(scenario: Scenario, agents: int) -> GMMRun:
    """The GMM proxy of a network: the scenario's [gmm] mixture with the same n, β, L, T and seed."""
    net = scenario.network
    return simulate(
        scenario.gmm,
        n=agents,
        beta=net.beta,
        samples=net.samples,
        rounds=net.rounds,
        replicates=scenario.replicates,
        seed=scenario.seed,
    )


class Session:
    """Runs in its own thread (see ``LwdApp``); ``run(post)`` posts the TUI's messages and ends with SessionEnded."""

    kind = "llm"

    def __init__(self, name: str, scenario: Scenario, folder: Path | None):
        self.name, self.scenario, self.folder = name, scenario, folder
        self.agents = [a.name for a in scenario.agents]
        self.rounds = scenario.network.rounds
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
            info = json.loads((Path(resume) / "manifest.json").read_text())["scenario"]
            scenario = parse_scenario(info["text"], overrides=info["overrides"]).scenario
            super().__init__(info["name"], scenario, Path(resume))
        else:
            assert loaded is not None and out is not None
            super().__init__(loaded.name, loaded.scenario, Path(out))
        self.loaded, self.resume = loaded, resume

    def _run(self, post: Post) -> None:
        from lwd.llm_mode import resume_run, start_run

        post(GMMReady(proxy_of(self.scenario, len(self.agents))))

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
        folder = Path(folder)
        info = json.loads((folder / "manifest.json").read_text())["scenario"]
        super().__init__(
            info["name"], parse_scenario(info["text"], overrides=info["overrides"]).scenario, folder
        )
        self.interval = interval

    def _run(self, post: Post) -> None:
        post(GMMReady(proxy_of(self.scenario, len(self.agents))))
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
        super().__init__(loaded.name, loaded.scenario, None)
        self.agents = [f"model {i}" for i in range(loaded.scenario.network.n)]
        self.interval = interval

    def _run(self, post: Post) -> None:
        post(GMMReady(proxy_of(self.scenario, self.scenario.network.n)))
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
