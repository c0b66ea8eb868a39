"""Data regimes: which posts are on the Internet A_t. Shared by the LLM and the GMM mode.

The scenario's ``[internet]`` table picks a regime; a :class:`Ledger` applies it to the history of posts (who
posted, in which round) and answers which posts are live at round t and which of them agent i may read under a
topology. Nothing is deleted: the LLM mode's Chroma collection and the GMM mode's point tables keep every post
ever made (the archive, with its lineage); the ledger decides what is on the Internet.

Regimes (posts made in round t join A_{t+1}):

- ``accumulate`` (the paper): A_{t+1} = A_t ∪ {new posts}.
- ``replace``: the human posts plus only the previous round's synthetic posts.
- ``window``: the human posts plus the synthetic posts of the last ``window`` rounds.

Options that combine with any regime: ``fresh_per_round`` new human posts join after every round (the LLM mode
reads them in order from ``fresh_file``; the GMM mode draws them from the human mixture); ``cap`` bounds |A_t|
by evicting posts (``evict`` = oldest, oldest_synthetic or random; random evictions draw from the stream
``(seed, REGIME, t)``, so a resumed run evicts exactly as an uninterrupted one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from lwd.core.seeding import REGIME, stream
from lwd.core.validation import FrozenModel, Invalid

__all__ = ["HUMAN", "InternetConfig", "Ledger", "reader_groups"]

HUMAN = -1  # the author index of a human post


class InternetConfig(FrozenModel):
    """The ``[internet]`` table: the data regime and the options that shape A_t."""

    regime: Literal["accumulate", "replace", "window"] = Field(
        default="accumulate",
        description='"accumulate" (the paper), "replace" (humans + last round) or "window" (last `window` rounds)',
    )
    window: int | None = Field(
        default=None, ge=1, description="w: rounds of synthetic posts kept (regime window)"
    )
    cap: int | None = Field(
        default=None, ge=1, description="most posts on the Internet; the rest are evicted"
    )
    evict: Literal["oldest", "oldest_synthetic", "random"] = Field(
        default="oldest", description="which posts a full Internet evicts"
    )
    fresh_per_round: int = Field(default=0, ge=0, description="new human posts joining after every round")
    fresh_file: str | None = Field(
        default=None,
        description="LLM mode: CSV of fresh human posts (relative to the scenario), read in order",
    )
    fresh_column: str = Field(default="text", min_length=1, description="the CSV column of fresh_file")

    @model_validator(mode="after")
    def _consistent(self) -> InternetConfig:
        if self.regime == "window" and self.window is None:
            raise Invalid(
                'expected `window` (rounds kept) with regime = "window"', fix="add e.g. `window = 3`"
            )
        if self.regime != "window" and self.window is not None:
            raise Invalid(
                f'`window` is only used with regime = "window", got regime = {self.regime!r}',
                fix='remove `window` or set regime = "window"',
            )
        return self

    @property
    def keeps(self) -> int | None:
        """Rounds of synthetic posts kept, None for all."""
        return {"accumulate": None, "replace": 1}.get(self.regime, self.window)


def reader_groups(reads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of who-reads-whom, and each agent's row among them: agents of one community read the
    same authors, and a pool per agent would cost memory n × |A_t| (GBs at 10,000 agents). The wiring is fixed
    for a run, so a run finds these once."""
    _, first, which = np.unique(np.packbits(reads, axis=1), axis=0, return_index=True, return_inverse=True)
    return reads[first], which.reshape(-1)


class Ledger:
    """The post history, in posting order (index = the post's ``seq``), and which posts are live."""

    def __init__(self, config: InternetConfig, seed: int, humans: int = 0):
        self.config, self.seed = config, seed
        self._author = np.full(humans, HUMAN, dtype=np.int64)
        self._round = np.full(humans, -1, dtype=np.int64)
        self._alive = np.ones(humans, dtype=bool)
        self.now = 0  # the round whose Internet the ledger shows

    @classmethod
    def replay(
        cls, config: InternetConfig, seed: int, authors: Sequence[int], rounds: Sequence[int], upto: int
    ) -> Ledger:
        """The ledger at round ``upto`` from a history of (author, round) in posting order."""
        authors, rounds = np.asarray(authors, dtype=np.int64), np.asarray(rounds, dtype=np.int64)
        ledger = cls(config, seed, int((rounds < 0).sum()))
        for t in range(upto):
            ledger.add(authors[rounds == t], t)
            ledger.advance()
        return ledger

    def __len__(self) -> int:
        return len(self._author)

    @property
    def authors(self) -> np.ndarray:
        return self._author

    @property
    def rounds(self) -> np.ndarray:
        return self._round

    def add(self, authors: Sequence[int], t: int) -> None:
        """Posts made in round t (agent indices, HUMAN for fresh human posts), in posting order."""
        authors = np.asarray(authors, dtype=np.int64)
        self._author = np.concatenate([self._author, authors])
        self._round = np.concatenate([self._round, np.full(len(authors), t, dtype=np.int64)])
        self._alive = np.concatenate([self._alive, np.ones(len(authors), dtype=bool)])

    def advance(self) -> None:
        """Move to the next round's Internet: drop synthetic posts older than the regime keeps, then evict
        down to the cap."""
        self.now += 1
        keeps = self.config.keeps
        if keeps is not None:
            old = (self._author != HUMAN) & (self._round < self.now - keeps)
            self._alive &= ~old
        cap = self.config.cap
        live = np.flatnonzero(self._alive)
        if cap is None or len(live) <= cap:
            return
        excess = len(live) - cap
        if self.config.evict == "random":
            gone = stream(self.seed, REGIME, self.now).choice(live, size=excess, replace=False)
        elif self.config.evict == "oldest_synthetic":  # synthetic posts first, oldest first; then humans
            order = np.concatenate([live[self._author[live] != HUMAN], live[self._author[live] == HUMAN]])
            gone = order[:excess]
        else:
            gone = live[:excess]
        self._alive[gone] = False

    def live(self) -> np.ndarray:
        """Indices of the posts on the Internet now, in posting order."""
        return np.flatnonzero(self._alive)

    def synthetic_live(self) -> int:
        return int((self._alive & (self._author != HUMAN)).sum())

    def visible(
        self, reads: np.ndarray, humans: bool, groups: tuple[np.ndarray, np.ndarray] | None = None
    ) -> list[np.ndarray]:
        """For each agent i, the live posts it may read: those of authors it reads (``reads[i, author]``) and,
        if ``humans``, every human post. Agents who read the same authors share one array (``groups``: from
        :func:`reader_groups`, found once a run)."""
        live = self.live()
        if humans and reads.all():  # the complete network: one shared pool (no copy per agent)
            return [live] * reads.shape[0]
        rows, which = groups if groups is not None else reader_groups(reads)  # one pool per distinct row
        authors = self._author[live]
        is_human = authors == HUMAN
        safe = np.where(is_human, 0, authors)
        pools = [live[np.where(is_human, humans, row[safe])] for row in rows]
        return [pools[g] for g in which]
