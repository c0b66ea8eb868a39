"""The record of an LLM run: one committed file per round, the single source of truth for resume and reports.

``rounds/initial.{json,npz}`` hold A⁽⁰⁾ (the human posts and their embeddings). ``rounds/round-NNNN.npz`` (the
round's response embeddings, owners, MDS coordinates, agent means) is written first and
``rounds/round-NNNN.json`` (everything else) last, each to a temporary name and renamed: a round exists iff its
JSON exists, so a run killed at any instant has no half round. Records are strict JSON: a metric that is not a number this round (NaN) is ``null``. ``responses.csv`` and ``metrics.csv`` are views:
each commit appends its round's rows (a T-round run writes O(T) rows, not O(T²)); :meth:`RoundLog.write_tables`
rebuilds them from the committed rounds (on resume, and by ``lwd report``). What a round holds is
:mod:`lwd.run.records`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from lwd.core.errors import RunFolderError
from lwd.core.files import appending, json_text, save_npz, write_csv, write_rows, write_text
from lwd.internet.store import Post
from lwd.metrics.registry import DENSE_AGENTS
from lwd.run.damaged import BROKEN, damaged, open_npz, read_json
from lwd.run.records import (
    AGENT_METRICS,
    BOOKKEEPING,
    READ_COLUMNS,
    READS,
    RECORD_VERSION,
    RESPONSE_COLUMNS,
    RoundArrays,
    RoundRecord,
    added_embeddings,
)

__all__ = ["RoundLog"]

_ROUND = re.compile(r"^round-(\d{4,})\.json$")


class RoundLog:
    """The ``rounds/`` folder of a run folder, and the tables derived from it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.rounds_dir = self.folder / "rounds"

    # -- A⁽⁰⁾ -------------------------------------------------------------------------------------------------

    def write_initial(self, posts: list[Post], embeddings: np.ndarray) -> None:
        self.rounds_dir.mkdir(parents=True, exist_ok=True)
        save_npz(self.rounds_dir / "initial.npz", embeddings=embeddings)
        write_text(
            self.rounds_dir / "initial.json",
            json_text({"version": RECORD_VERSION, "posts": [p.as_dict() for p in posts]}, indent=1),
        )

    def initial(self) -> tuple[list[Post], np.ndarray]:
        path = self.rounds_dir / "initial.json"
        posts = read_json(path, lambda data: [Post.from_dict(p) for p in data["posts"]])
        vectors = self.rounds_dir / "initial.npz"
        with open_npz(vectors) as arrays:
            try:
                embeddings = arrays["embeddings"]
            except BROKEN as exc:
                raise damaged(vectors, exc) from None
        if embeddings.ndim != 2 or len(embeddings) != len(posts):
            raise damaged(
                vectors,
                ValueError(f"{embeddings.shape} embeddings for the {len(posts)} posts of {path.name}"),
            )
        return posts, embeddings

    # -- rounds ----------------------------------------------------------------------------------------------

    def committed(self) -> list[int]:
        """Round numbers with a committed record, checked to be 0, 1, …, m − 1."""
        if not self.rounds_dir.is_dir():
            return []
        found = sorted(int(m.group(1)) for p in self.rounds_dir.iterdir() if (m := _ROUND.match(p.name)))
        if found != list(range(len(found))):
            raise RunFolderError(
                f"run folder {self.folder} is inconsistent: committed rounds {found} are not 0, 1, 2, …",
                fix="restore the missing round files (was one deleted by hand?) or start a new run",
            )
        return found

    def next_round(self) -> int:
        return len(self.committed())

    def commit(self, record: RoundRecord, arrays: RoundArrays) -> None:
        """Make round t durable: arrays first, then the record (the commit point), then its table rows."""
        arrays.save(self.rounds_dir / f"round-{record.round:04d}.npz")
        indent = 1 if len(record.agents) <= DENSE_AGENTS else None  # a large network's record on one line:
        # JSON's C encoder writes only that, several times faster than the indenting one
        write_text(self.rounds_dir / f"round-{record.round:04d}.json", json_text(record.to_json(), indent))
        self._append(
            self.folder / "metrics.csv", [record.metric_row()], record.metric_columns(), record.round
        )
        self._append(self.folder / "responses.csv", record.response_rows(), RESPONSE_COLUMNS, record.round)
        if record.per_agent:
            self._append(
                self.folder / AGENT_METRICS, record.agent_rows(), record.agent_columns(), record.round
            )
        if len(record.agents) > DENSE_AGENTS:
            self._append(self.folder / READS, record.read_rows(), READ_COLUMNS, record.round)

    def records(self) -> list[RoundRecord]:
        return [self.record(t) for t in self.committed()]

    def record(self, t: int) -> RoundRecord:
        """The committed record of round t; a RunFolderError naming the file if it is damaged."""
        path = self.rounds_dir / f"round-{t:04d}.json"
        record = read_json(path, RoundRecord.from_json)
        if record.round != t:
            raise damaged(path, ValueError(f"it holds round {record.round}"))
        return record

    def arrays(self, t: int) -> RoundArrays:
        return RoundArrays.load(self.rounds_dir / f"round-{t:04d}.npz")

    def expected_store(self) -> tuple[list[Post], np.ndarray]:
        """The posts the Internet must hold after the committed rounds, with their embeddings."""
        posts, vectors = self.initial()
        chunks = [vectors]
        for record in self.records():
            chunks.append(added_embeddings(record, self.arrays(record.round)))
            posts.extend(record.posts)
        return posts, np.concatenate(chunks)

    # -- derived tables --------------------------------------------------------------------------------------

    def write_tables(self) -> None:
        """Rebuild responses.csv and metrics.csv from the committed rounds."""
        records = self.records()
        columns = records[0].metric_columns() if records else ["round", *BOOKKEEPING]
        write_csv(self.folder / "metrics.csv", (r.metric_row() for r in records), columns)
        write_csv(
            self.folder / "responses.csv",
            (row for r in records for row in r.response_rows()),
            RESPONSE_COLUMNS,
        )
        if records and records[0].per_agent:
            rows = (row for r in records for row in r.agent_rows())
            write_csv(self.folder / AGENT_METRICS, rows, records[0].agent_columns())
        if records and len(records[0].agents) > DENSE_AGENTS:
            write_csv(self.folder / READS, (row for r in records for row in r.read_rows()), READ_COLUMNS)

    @staticmethod
    def _append(path: Path, rows: list[dict[str, Any]], columns: list[str], t: int) -> None:
        """Round t's rows at the end of a table (round 0 starts it). A crash between the commit and this write
        leaves the table a round short; resume and ``lwd report`` rebuild it from the committed rounds."""
        if t == 0 or not path.is_file():
            write_csv(path, rows, columns)
            return
        with appending(path, newline="") as fh:  # all the rows or none (a full disk cuts nothing in half)
            write_rows(fh, rows, columns)
