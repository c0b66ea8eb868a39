"""Collapse onset: when the per-round test stops telling the agents apart.

The test of round t asks whether all agents' answers of that round come from one distribution. Its null is
about *that round's* answers: the L answers of one agent to one prompt are exchangeable draws, so a rejection
says the agents answer differently — because they are different models, or because they read different posts.
"Collapsed" is therefore a statement at the resolution L gives: from the onset on, L answers per agent no longer
suffice to tell the agents apart. See docs/collapse.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["collapse_onset", "lasting_change", "describe_onset"]


def collapse_onset(pvalues: Sequence[float], alpha: float, consecutive: int) -> int | None:
    """The first round t such that the test rejects at none of the rounds t, t+1, …, t+m−1 (p > α, m =
    ``consecutive``); None when there is no such run of m rounds ("not collapsed"). A round without a test
    (NaN) breaks a run."""
    return _first_run(pvalues, lambda p: p > alpha, consecutive)


def lasting_change(pvalues: Sequence[float], alpha: float, consecutive: int) -> int | None:
    """The mirror of the onset, for a change test: the first round t such that the test rejects at every round
    t, …, t+m−1 (p ≤ α); None when it never rejects m rounds in a row. A round without a test breaks a run."""
    return _first_run(pvalues, lambda p: p <= alpha, consecutive)


def _first_run(pvalues: Sequence[float], hit, consecutive: int) -> int | None:
    streak = 0
    for t, p in enumerate(pvalues):
        if p is not None and not math.isnan(p) and hit(p):
            streak += 1
            if streak == consecutive:
                return t - consecutive + 1
        else:
            streak = 0
    return None


def describe_onset(pvalues: Sequence[float], alpha: float, consecutive: int) -> str:
    """One sentence: when the agents were told apart, and the onset (or that there is none)."""
    rounds = len(pvalues)
    rejected = [t for t, p in enumerate(pvalues) if p is not None and not math.isnan(p) and p <= alpha]
    onset = collapse_onset(pvalues, alpha, consecutive)
    told = f"told apart in {len(rejected)} of {rounds} rounds" if rejected else "never told apart"
    if onset is None:
        last = f" (the last rejection: round {rejected[-1]})" if rejected else ""
        return (
            f"The agents' answers were {told} (energy test, α = {alpha:g}); not collapsed: there were never "
            f"{consecutive} rounds in a row without a rejection{last}."
        )
    return (
        f"The agents' answers were {told} (energy test, α = {alpha:g}); collapse onset: round {onset} (no "
        f"rejection in rounds {onset}–{onset + consecutive - 1})."
    )
