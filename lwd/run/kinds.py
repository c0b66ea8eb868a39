"""What a run folder holds (``kind`` in its manifest)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RunKind"]


class RunKind(StrEnum):
    LLM = "llm"  # `lwd run`: Algorithm 1 with LLM agents
    GMM = "gmm"  # `lwd gmm`: the GMM proxy (Algorithms 2-3)
    SWEEP = "sweep"  # `lwd sweep`: a grid of runs on Ray
