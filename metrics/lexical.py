"""Lexical diversity of each agent's answers in a round (LLM mode): cheap, readable signs of an agent's own
collapse, registered beside ‖D‖_F."""

from __future__ import annotations

import re

import numpy as np

from lwd.metrics.registry import Kind, Need, RoundData, metric

__all__ = ["lexical", "distinct_n", "duplicate_share", "words"]

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return _WORD.findall(text.lower())


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct-n: distinct n-grams over all n-grams of the texts (1: every n-gram new; → 0: one phrase
    repeated). NaN without any n-gram."""
    grams = [tuple(w[i : i + n]) for t in texts for w in [words(t)] for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else np.nan


def duplicate_share(texts: list[str]) -> float:
    """The share of the texts that repeat another of them exactly (0: all different; (k−1)/k: all the same)."""
    return 1 - len(set(texts)) / len(texts) if texts else np.nan


@metric(
    "lexical",
    needs={Need.TEXTS},
    per_agent=("distinct", "duplicates"),
    kind=Kind.SHARE,
    label="lexical diversity per agent",
)
def lexical(data: RoundData) -> dict[str, np.ndarray]:
    """Per agent: distinct-n of its answers (n = ``settings.ngram``) and the share of its answers that are exact
    duplicates of another of its answers this round."""
    by_agent: list[list[str]] = [[] for _ in data.names]
    for text, owner in zip(data.texts, data.owners, strict=True):  # one pass over the answers
        by_agent[owner].append(text)
    return {
        "distinct": np.array([distinct_n(texts, data.settings.ngram) for texts in by_agent], dtype=float),
        "duplicates": np.array([duplicate_share(texts) for texts in by_agent], dtype=float),
    }
