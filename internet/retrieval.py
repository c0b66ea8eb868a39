"""How much of the Internet a model reads: k_t = ⌊β·|A_t|⌋ (Section 3.1)."""

from __future__ import annotations

from fractions import Fraction

__all__ = ["retrieval_size"]


def retrieval_size(beta: float, visible: int) -> int:
    """k_t = ⌊β·|A_t|⌋, computed exactly for the decimal β the scenario wrote.

    Plain ``floor(0.29 * 100)`` gives 28 because 0.29 is stored as 0.28999…; the scenario meant 29.
    """
    if visible < 0:
        raise ValueError(f"expected a store size ≥ 0, got {visible}")
    return int(Fraction(repr(float(beta))) * visible)
