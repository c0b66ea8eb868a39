"""Randomness enters only through seeded numpy Generators, one per independent stream.

``stream(seed, *key)`` is the Generator for the stream named by ``key`` under the root ``seed``; it equals the
``key``-th child of ``SeedSequence(seed).spawn(...)``, so replicate r of a run with seed s is the same whether 5 or
50 replicates are run, and streams never depend on how many others were created or in which order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stream", "RETRIEVAL", "SAMPLING", "TOPOLOGY", "REGIME", "METRICS", "TWIN"]

# Stream namespaces of the LLM mode: stream(seed, RETRIEVAL, t, i) draws agent i's posts in round t,
# stream(seed, SAMPLING, t, i) its sampling seed. (The GMM mode's replicate r is stream(seed, r).)
RETRIEVAL = 1_000_001
SAMPLING = 1_000_002
# Both modes: stream(seed, TOPOLOGY) seeds random graphs; stream(seed, REGIME, t) draws round t's evictions.
TOPOLOGY = 1_000_003
REGIME = 1_000_004
# Both modes: stream(seed, METRICS, t, ...) for metrics that draw at random (permutation tests).
METRICS = 1_000_005
# LLM mode: stream(seed, TWIN) seeds the fit of the twin's mixture to the round-0 answers.
TWIN = 1_000_006


def stream(seed: int, *key: int) -> np.random.Generator:
    """A PCG64 Generator for the stream ``key`` of root ``seed`` (e.g. ``stream(seed, replicate)``)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key)))
