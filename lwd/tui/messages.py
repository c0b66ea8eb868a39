"""Messages from a session (running off the UI thread) to the TUI. Posting them is thread-safe."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from textual.message import Message

from lwd.agents.records import Reply
from lwd.gmm.simulate import GMMRun
from lwd.run.records import RoundRecord

__all__ = ["RoundStarted", "AgentAnswered", "RoundFinished", "GMMReady", "GMMRound", "SessionEnded", "Ending"]


@dataclass
class RoundStarted(Message):
    round: int
    k: int
    store_size: int


@dataclass
class AgentAnswered(Message):
    round: int
    agent: str
    reply: Reply


@dataclass
class RoundFinished(Message):
    record: RoundRecord
    coords: np.ndarray  # (m, 2) MDS of the round's answers
    owners: np.ndarray  # (m,) agent index of each row
    means: np.ndarray | None = None  # (n, d) the agents' mean answers X_i (the perspective space's points)


@dataclass
class GMMReady(Message):
    """The GMM proxy of the network, simulated in full (it takes milliseconds), and its metrics."""

    run: GMMRun
    table: dict[str, np.ndarray]  # {metric column: (R, T+1)}
    theory: dict[str, np.ndarray] | None = (
        None  # GMM mode: Appendix A's curves (lwd.run.gmm.expectation_table)
    )


@dataclass
class GMMRound(Message):
    """GMM mode: round t of the proxy is on screen."""

    round: int


class Ending(StrEnum):
    """How a session ended."""

    DONE = "done"  # every round ran
    STOPPED = "stopped"  # the user stopped it
    FAILED = "failed"  # an error ended it (``SessionEnded.error`` says which)


@dataclass
class SessionEnded(Message):
    ending: Ending
    error: str | None = None  # what ended a FAILED session
