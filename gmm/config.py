"""The ``[gmm]`` table of a scenario: the fixed mixture components and Algorithm 2's coefficients.

Defaults are the paper's Section 4.2: B = 2 components at μ = ±5, Σ = 1, initial weights from Dir(1),
α_t = 1/k_t and c_{t,B} = 1/(k_t·B²). Values that depend on B or d (means, Σ, Dirichlet, human weights) are
checked against ``components`` and ``dim``, which must come first in this table's validation.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationInfo, field_serializer, field_validator

from lwd.core.validation import FrozenModel, finite

__all__ = ["GMMConfig", "HumanData", "LineMeans", "RandomMeans", "ALPHA_DEFAULT", "C_DEFAULT"]

ALPHA_DEFAULT = "1/k"
C_DEFAULT = "1/(k*B^2)"


class LineMeans(FrozenModel):
    """μ_b = spacing·(b − (B−1)/2) along the first axis: evenly spaced, centred at 0 (B=2, spacing 10: ±5)."""

    rule: Literal["line"] = "line"
    spacing: float = Field(default=10.0, gt=0, description="distance between neighbouring means")

    def array(self, components: int, dim: int) -> np.ndarray:
        out = np.zeros((components, dim))
        out[:, 0] = self.spacing * (np.arange(components) - (components - 1) / 2)
        return out


class RandomMeans(FrozenModel):
    """μ_b ~ N(0, scale²·I) i.i.d., drawn once from their own seed (shared by all replicates)."""

    rule: Literal["random"] = "random"
    scale: float = Field(default=5.0, gt=0, description="standard deviation of each mean coordinate")
    seed: int = Field(default=0, ge=0, description="seed of the means, independent of the run seed")

    def array(self, components: int, dim: int) -> np.ndarray:
        return np.random.default_rng(self.seed).normal(0.0, self.scale, size=(components, dim))


_MEANS_RULES = {"line": LineMeans, "random": RandomMeans}


class HumanData(FrozenModel):
    """A⁽⁰⁾: ``points`` human points drawn from the mixture with ``weights`` (uniform when omitted)."""

    points: int = Field(default=0, ge=0, description="|A⁽⁰⁾|, human points in the Internet at t = 0")
    weights: tuple[float, ...] | None = Field(default=None, description="mixture weights of the human data")


def _vector(value: Any, length: int, what: str) -> tuple[float, ...]:
    if not isinstance(value, list | tuple) or not all(finite(v) for v in value):
        raise ValueError(f"expected {what}: a list of {length} numbers, got {value!r}")
    if len(value) != length:
        raise ValueError(f"expected {what}: {length} numbers, got {len(value)}: {value!r}")
    return tuple(float(v) for v in value)


class GMMConfig(FrozenModel):
    """The GMM proxy of Section 3.2: B fixed Gaussians N(μ_b, Σ) whose mixture weights Π_i evolve."""

    components: int = Field(default=2, ge=2, description="B, mixture components shared by all models")
    dim: int = Field(default=1, ge=1, description="d, dimension of the points")
    means: tuple[tuple[float, ...], ...] | LineMeans | RandomMeans = Field(
        default_factory=LineMeans,
        description="μ_1..μ_B: a list of B vectors (or B numbers when d = 1), "
        'or a rule: {rule = "line", spacing = 10} or {rule = "random", scale = 5, seed = 0}',
    )
    covariance: tuple[tuple[float, ...], ...] = Field(
        default=((1.0,),),
        description="Σ shared by all components: a number (σ²·I), d variances, or a d×d matrix",
    )
    dirichlet: tuple[float, ...] | float = Field(
        default=1.0, description="a of Π_i⁽⁰⁾ ~ Dir(a): one number or B numbers, all > 0"
    )
    alpha: float | Literal["1/k"] = Field(
        default=ALPHA_DEFAULT, description='α_t: "1/k" (α_t = 1/k_t, the paper) or a number in (0, 1]'
    )
    c: float | Literal["1/(k*B^2)"] = Field(
        default=C_DEFAULT, description='c_{t,B}: "1/(k*B^2)" (the paper) or a number in [0, 1/B)'
    )
    epsilon: float = Field(default=0.0, ge=0, le=1, description="ε, the value a weight ≤ 0 is reset to")
    renormalize: bool = Field(
        default=True,
        description="divide the weights by their sum after a ≤0 correction (with ε > 0 the paper's rule "
        "leaves the sum above 1; false applies the rule to the letter)",
    )
    human: HumanData = Field(default_factory=HumanData, description="A⁽⁰⁾, the human data at t = 0")
    initial: tuple[tuple[float, ...], ...] | None = Field(
        default=None,
        description="Π_i⁽⁰⁾: one row of B weights (summing to 1) per model, instead of drawing them from "
        "Dir(dirichlet) (the fitted twin of an LLM run starts from its agents' fitted weights)",
    )

    @field_validator("initial")
    @classmethod
    def _initial(cls, value: tuple[tuple[float, ...], ...] | None, info: ValidationInfo) -> Any:
        b = info.data.get("components")
        for i, row in enumerate(value or ()):
            if (
                (b is not None and len(row) != b)
                or min(row) < 0
                or not math.isclose(sum(row), 1.0, abs_tol=1e-6)
            ):
                raise ValueError(
                    f"expected row {i + 1} of `initial` to be {b} non-negative weights summing to 1, got {list(row)}"
                )
        return value

    def initial_weights(self, n: int, drawn: np.ndarray) -> np.ndarray:
        """Π⁽⁰⁾ (n, B): ``initial`` when set (its row count checked against n), else the Dirichlet draw."""
        if self.initial is None:
            return drawn
        if len(self.initial) != n:
            raise ValueError(f"[gmm] initial has {len(self.initial)} rows, expected one per model (n = {n})")
        return np.array(self.initial, dtype=float)

    @field_validator("means", mode="plain")
    @classmethod
    def _means(cls, value: Any, info: ValidationInfo) -> Any:
        b, d = info.data.get("components"), info.data.get("dim")
        if isinstance(value, LineMeans | RandomMeans):
            return value
        if isinstance(value, dict):
            rule = value.get("rule")
            if rule not in _MEANS_RULES:
                raise ValueError(f'expected `rule` to be one of "line", "random", got {rule!r}')
            return _MEANS_RULES[rule].model_validate(value)
        if b is None or d is None:
            raise ValueError("expected valid `components` and `dim` first")
        if isinstance(value, list | tuple) and value and all(finite(v) for v in value) and d == 1:
            value = [[v] for v in value]
        if not isinstance(value, list | tuple) or not all(isinstance(row, list | tuple) for row in value):
            raise ValueError(
                f"expected a list of {b} mean vectors of length {d} (or {b} numbers when dim = 1), "
                f"or a rule table, got {value!r}"
            )
        if len(value) != b:
            raise ValueError(f"expected {b} means (one per component, `components` = {b}), got {len(value)}")
        return tuple(_vector(row, d, f"mean {i + 1} of length dim = {d}") for i, row in enumerate(value))

    @field_validator("covariance", mode="plain")
    @classmethod
    def _covariance(cls, value: Any, info: ValidationInfo) -> tuple[tuple[float, ...], ...]:
        d = info.data.get("dim")
        if d is None:
            raise ValueError("expected a valid `dim` first")
        if finite(value):
            matrix = float(value) * np.eye(d)
        elif isinstance(value, list | tuple) and value and all(finite(v) for v in value):
            matrix = np.diag(_vector(value, d, f"{d} variances (the diagonal of Σ)"))
        elif isinstance(value, list | tuple) and all(isinstance(row, list | tuple) for row in value):
            if len(value) != d:
                raise ValueError(f"expected a {d}×{d} matrix (`dim` = {d}), got {len(value)} rows")
            matrix = np.array([_vector(row, d, f"a row of {d} numbers") for row in value])
        else:
            raise ValueError(f"expected a number σ² > 0, {d} variances or a {d}×{d} matrix, got {value!r}")
        if not np.allclose(matrix, matrix.T, rtol=0, atol=1e-12):
            raise ValueError(f"expected a symmetric matrix, got {matrix.tolist()}")
        if np.any(np.linalg.eigvalsh(matrix) <= 0):
            raise ValueError(
                f"expected a positive definite Σ (all eigenvalues > 0), got {matrix.tolist()} "
                f"with eigenvalues {np.linalg.eigvalsh(matrix).round(6).tolist()}"
            )
        return tuple(tuple(row) for row in matrix.tolist())

    @field_validator("dirichlet", mode="plain")
    @classmethod
    def _dirichlet(cls, value: Any, info: ValidationInfo) -> tuple[float, ...] | float:
        b = info.data.get("components")
        if finite(value):
            if value <= 0:
                raise ValueError(f"expected a > 0, got {value!r}")
            return float(value)
        if b is None:
            raise ValueError("expected a valid `components` first")
        vec = _vector(value, b, f"one concentration per component (`components` = {b})")
        if min(vec) <= 0:
            raise ValueError(f"expected every concentration > 0, got {list(vec)}")
        return vec

    @field_validator("alpha", mode="plain")
    @classmethod
    def _alpha(cls, value: Any) -> float | str:
        if value == ALPHA_DEFAULT:
            return value
        if not finite(value) or not 0 < value <= 1:
            raise ValueError(f'expected "1/k" or a number in (0, 1], got {value!r}')
        return float(value)

    @field_validator("c", mode="plain")
    @classmethod
    def _c(cls, value: Any, info: ValidationInfo) -> float | str:
        if value == C_DEFAULT:
            return value
        b = info.data.get("components") or 1
        if not finite(value) or not 0 <= value < 1 / b:
            raise ValueError(
                f'expected "1/(k*B^2)" or a number in [0, 1/B) = [0, {1 / b:g}) so that '
                f"1 − B·c > 0, got {value!r}"
            )
        return float(value)

    @field_validator("human")
    @classmethod
    def _human(cls, value: HumanData, info: ValidationInfo) -> HumanData:
        b = info.data.get("components")
        if value.weights is not None and b is not None:
            w = value.weights
            if len(w) != b or min(w) < 0 or not math.isclose(sum(w), 1.0, abs_tol=1e-9):
                raise ValueError(
                    f"expected `weights` to be {b} non-negative numbers summing to 1, "
                    f"got {list(w)} (sum {sum(w):g})"
                )
        return value

    @field_serializer("means", "covariance", "dirichlet")
    def _plain(self, value: Any) -> Any:
        """Write validated values back as TOML/JSON-friendly lists (or the rule table)."""
        if isinstance(value, BaseModel):
            return value.model_dump()
        if isinstance(value, tuple):
            return [list(v) if isinstance(v, tuple) else v for v in value]
        return value

    # -- resolved arrays -------------------------------------------------------------------------------------

    def means_array(self) -> np.ndarray:
        """(B, d) component means."""
        if isinstance(self.means, LineMeans | RandomMeans):
            return self.means.array(self.components, self.dim)
        return np.array(self.means, dtype=float)

    def covariance_matrix(self) -> np.ndarray:
        """(d, d) shared covariance Σ."""
        cov = np.array(self.covariance, dtype=float)
        if cov.shape != (self.dim, self.dim):  # the default (1×1) with dim > 1 means σ² = 1
            cov = cov[0, 0] * np.eye(self.dim)
        return cov

    def dirichlet_vector(self) -> np.ndarray:
        """(B,) Dirichlet concentrations."""
        if isinstance(self.dirichlet, float):
            return np.full(self.components, self.dirichlet)
        return np.array(self.dirichlet)

    def human_weights(self) -> np.ndarray:
        """(B,) mixture weights of the human data A⁽⁰⁾."""
        if self.human.weights is None:
            return np.full(self.components, 1.0 / self.components)
        return np.array(self.human.weights)

    def alpha_at(self, k: int) -> float:
        """α_t for a round whose models read k points (only used when k ≥ 1)."""
        return 1.0 / k if self.alpha == ALPHA_DEFAULT else float(self.alpha)

    def c_at(self, k: int) -> float:
        """c_{t,B} for a round whose models read k points (only used when k ≥ 1)."""
        return 1.0 / (k * self.components**2) if self.c == C_DEFAULT else float(self.c)
