"""The kinds the run layer names: what a run folder holds (``kind`` in its manifest), and what a run reports."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RunKind", "EventKind", "CellStatus"]


class RunKind(StrEnum):
    LLM = "llm"  # `lwd run`: Algorithm 1 with LLM agents
    GMM = "gmm"  # `lwd gmm`: the GMM proxy (Algorithms 2-3)
    SWEEP = "sweep"  # `lwd sweep`: a grid of runs on Ray


class EventKind(StrEnum):
    """What a run's progress event says (``lwd.run.scheduler.Event``)."""

    ROUND_START = "round_start"
    AGENT_DONE = "agent_done"
    ROUND_DONE = "round_done"


class CellStatus(StrEnum):
    """How one (cell, seed) of a sweep ended (``status`` in ``cells/<cell>/seed-<s>.json``)."""

    OK = "ok"
    FAILED = "failed"
