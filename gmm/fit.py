"""The GMM proxy fitted to an LLM run: the paper's proxy assumes each LLM's embedded answers follow a Gaussian
mixture; here that mixture is estimated from the run's own round-0 answers instead of set to ±5 by hand.

1. Project the round-0 answers of all agents (and the human posts) to ``dims`` dimensions with PCA fitted on the
   answers.
2. Fit a Gaussian mixture with one covariance shared by its components (``covariance_type="tied"``, the proxy's
   shared Σ) for B = 2 … ``max_components`` (at most one component per 10 answers) and keep the B with the lowest
   BIC. Identical answers — what collapse produces — would give components of no width and an unbounded
   likelihood; the covariance is floored at 1% of the answers' mean variance (``reg_covar``).
3. The proxy starts from those means and that covariance; agent i's weights Π_i⁽⁰⁾ are the mean responsibilities
   of its answers, and the human data's weights those of the human posts.

scikit-learn (``GaussianMixture``, ``PCA``) is part of the ``[llm]`` extra; the fit is seeded from the run seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lwd.core.extras import require
from lwd.core.seeding import TWIN, stream
from lwd.gmm.config import GMMConfig, HumanData

__all__ = ["FittedMixture", "fit_mixture"]


@dataclass(frozen=True)
class FittedMixture:
    """A mixture fitted to embedded answers. n agents, B components, d projected dimensions."""

    components: int  # B, chosen by BIC
    dims: int  # d
    means: list[list[float]]  # (B, d)
    covariance: list[list[float]]  # (d, d), shared by the components
    weights: list[list[float]]  # (n, B): each agent's mean responsibilities
    human_weights: list[float]  # (B,): the human posts' mean responsibilities
    log_likelihood: float  # mean log-likelihood per answer of the chosen fit
    bic: dict[int, float]  # B -> BIC of every candidate
    explained_variance: list[float]  # of the d principal components kept
    answers: int  # the answers it was fitted to

    def config(self, base: GMMConfig, human_points: int) -> GMMConfig:
        """The scenario's [gmm] table (α, c, ε …) with this mixture, these starting weights and |A⁽⁰⁾|."""
        return base.model_copy(
            update={
                "components": self.components,
                "dim": self.dims,
                "means": tuple(map(tuple, self.means)),
                "covariance": tuple(map(tuple, self.covariance)),
                "initial": tuple(map(tuple, self.weights)),
                "human": HumanData(points=human_points, weights=tuple(self.human_weights)),
            }
        )

    def describe(self) -> dict:
        """For the manifest."""
        return {"kind": "fitted", **asdict(self), "bic": {str(b): v for b, v in self.bic.items()}}


def fit_mixture(
    answers: np.ndarray,
    owners: np.ndarray,
    n: int,
    humans: np.ndarray,
    seed: int,
    dims: int = 2,
    max_components: int = 6,
) -> FittedMixture:
    """Fit the proxy's mixture to ``answers`` (m, D) of agents ``owners`` (m,) in 0..n−1 and place the human
    posts ``humans`` (h, D) in it. B ranges over 2 … min(max_components, m // 10)."""
    require("llm", "the fitted GMM twin", modules=("sklearn",))
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    answers = np.asarray(answers, dtype=float)
    dims = max(1, min(dims, answers.shape[1], len(answers) - 1))
    pca = PCA(n_components=dims, random_state=0).fit(answers)
    x = pca.transform(answers)
    random_state = int(stream(seed, TWIN).integers(0, 2**31 - 1))
    floor = max(0.01 * float(x.var(axis=0).mean()), 1e-9)
    fits, bic = {}, {}
    for b in range(2, max(2, min(max_components, len(x) // 10)) + 1):
        gm = GaussianMixture(b, covariance_type="tied", reg_covar=floor, n_init=3, random_state=random_state)
        fits[b] = gm.fit(x)
        bic[b] = float(gm.bic(x))
    best = min(bic, key=bic.get)
    gm = fits[best]
    responsibilities = gm.predict_proba(x)
    weights = np.array([_mean_rows(responsibilities[owners == i], best) for i in range(n)])
    human = (
        _mean_rows(gm.predict_proba(pca.transform(np.asarray(humans, dtype=float))), best)
        if len(humans)
        else (np.full(best, 1 / best))
    )
    return FittedMixture(
        components=best,
        dims=dims,
        means=gm.means_.tolist(),
        covariance=((gm.covariances_ + gm.covariances_.T) / 2).tolist(),
        weights=_normalised(weights).tolist(),
        human_weights=_normalised(human[None])[0].tolist(),
        log_likelihood=float(gm.score(x)),
        bic=bic,
        explained_variance=pca.explained_variance_ratio_.tolist(),
        answers=len(x),
    )


def _mean_rows(rows: np.ndarray, b: int) -> np.ndarray:
    return rows.mean(axis=0) if len(rows) else np.full(b, 1 / b)  # an agent without answers: uniform


def _normalised(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum(axis=1, keepdims=True)
