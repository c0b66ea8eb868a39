"""Lexical diversity of each agent's answers in a round (LLM mode): cheap, readable signs of an agent's own
collapse, registered beside ‖D‖_F."""

from __future__ import annotations

import re

import numpy as np

from lwd.metrics.registry import MetricContext, Need, RoundData, metric

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


def _columns(ctx: MetricContext) -> list[str]:
    return [c for name in ctx.names for c in (f"distinct_{name}", f"duplicates_{name}")]


@metric("lexical", needs={Need.TEXTS}, columns=_columns, label="lexical diversity per agent")
def lexical(data: RoundData) -> dict[str, float]:
    """Per agent: distinct-n of its answers (n = ``settings.ngram``) and the share of its answers that are exact
    duplicates of another of its answers this round."""
    out = {}
    by_agent: list[list[str]] = [[] for _ in data.names]
    for text, owner in zip(data.texts, data.owners, strict=True):  # one pass over the answers
        by_agent[owner].append(text)
    for name, texts in zip(data.names, by_agent, strict=True):
        out[f"distinct_{name}"] = distinct_n(texts, data.settings.ngram)
        out[f"duplicates_{name}"] = duplicate_share(texts)
    return out
