"""The ``[metrics]`` table of a scenario: how the statistics of a round are computed, and what counts as collapse.

::

    [metrics]
    alpha = 0.05          # the level of the per-round test "all agents answer from one distribution"
    consecutive = 3       # m: the test must stop rejecting for m rounds in a row to mark the collapse onset
    permutations = 199    # of the test (its p-value is at least 1 / (permutations + 1))
    ngram = 2             # n of the lexical diversity distinct-n
    test_agents = 30      # agents the test compares: all of a network this size or smaller, else a seeded sample
    reference = 0         # s: each agent's answers of round t are tested against its answers of round s
    control_rounds = 10   # the rounds after s whose change statistic sets each agent's control limit
"""

from __future__ import annotations

from pydantic import Field

from lwd.core.validation import FrozenModel

__all__ = ["MetricSettings"]


class MetricSettings(FrozenModel):
    """Settings every metric reads (``RoundData.settings``); the defaults are documented in docs/collapse.md."""

    alpha: float = Field(default=0.05, gt=0, lt=1, description="level of the per-round k-sample test")
    consecutive: int = Field(
        default=3, ge=1, description="m: rounds in a row without rejection that mark the collapse onset"
    )
    permutations: int = Field(
        default=199, ge=19, le=100_000, description="permutations of the k-sample energy test"
    )
    ngram: int = Field(default=2, ge=1, le=5, description="n of distinct-n, the lexical diversity")
    test_agents: int = Field(
        default=30,
        ge=2,
        le=1000,
        description="agents the per-round test compares: every agent of a network this size or smaller; in a "
        "larger one a sample of this many, drawn each round from the stream (seed, METRICS, round)",
    )
    reference: int = Field(
        default=0,
        ge=0,
        description="s: the round each agent's (and group's) answers are tested against for a change",
    )
    control_rounds: int = Field(
        default=10,
        ge=2,
        le=100,
        description="rounds after the reference whose change statistics set each agent's control limit",
    )
