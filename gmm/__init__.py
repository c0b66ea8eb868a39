"""lwd.gmm — the GMM proxy of the network (Section 3.2, Algorithms 2 and 3; domain layer).

Pure numerics, with the scenario vocabulary of the LLM mode (n, β, L, T, seeds):

- :func:`update_weights` — Algorithm 2 for one model, the readable reference;
- :func:`update_weights_fast` / :func:`update_many` — the same update compiled and batched over models;
- :func:`simulate` — Algorithm 3, vectorised across models and replicates;
- :func:`simulate_reference` — Algorithm 3 written literally, for tests and benchmarks.
"""

from lwd.gmm.config import GMMConfig
from lwd.gmm.kernel import update_many, update_weights_fast
from lwd.gmm.reference import simulate_reference, update_weights
from lwd.gmm.simulate import GMMRun, simulate

__all__ = [
    "GMMConfig",
    "GMMRun",
    "simulate",
    "simulate_reference",
    "update_many",
    "update_weights",
    "update_weights_fast",
]
