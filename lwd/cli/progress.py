"""Progress bars of the command line (rich), fed by the simulations' callbacks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lwd.run.kinds import CellStatus, EventKind

__all__ = ["gmm_progress", "llm_progress", "SweepProgress"]

_NETWORK = "k_t={task.fields[k]} |A_t|={task.fields[size]} ‖D‖_F={task.fields[frob]}"


def _bar(console: Console, fields: str, transient: bool) -> Progress:
    """A bar over rounds with the network's k_t, |A_t| and ‖D‖_F, plus ``fields``."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{_NETWORK}{fields}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


@contextlib.contextmanager
def gmm_progress(console: Console, name: str, rounds: int, replicates: int, enabled: bool) -> Iterator:
    """Yields ``on_round(t, frobenius (R,), k, |A_t|)`` for :func:`lwd.gmm.simulate` (None when disabled)."""
    if not enabled:
        yield None
        return
    with _bar(console, "", transient=True) as progress:
        task = progress.add_task(f"{name} ×{replicates}", total=rounds + 1, k="-", size="-", frob="-")

        def on_round(t, frob, k, size):
            progress.update(task, completed=t + 1, k=k, size=size, frob=f"{frob.mean():.3g}")

        yield on_round


@contextlib.contextmanager
def llm_progress(console: Console, name: str, rounds: int, agents: int, enabled: bool) -> Iterator:
    """Yields an ``on_event`` callback for :class:`lwd.run.scheduler.Simulation` (None when disabled): one bar over
    rounds showing k_t, |A_t|, the last ‖D‖_F and how many agents of the current round have answered."""
    if not enabled:
        yield None
        return
    with _bar(console, " agents {task.fields[done]}/{task.fields[agents]}", transient=False) as progress:
        task = progress.add_task(name, total=rounds + 1, k="-", size="-", frob="-", done=0, agents=agents)
        done = 0

        def on_event(event):
            nonlocal done
            if event.kind is EventKind.ROUND_START:
                done = 0
                progress.update(
                    task,
                    completed=event.round,
                    k=event.k,
                    size=event.store_size,
                    done=0,
                    description=f"{name} round {event.round}",
                )
            elif event.kind is EventKind.AGENT_DONE:
                done += 1
                progress.update(task, done=done)
            elif event.kind is EventKind.ROUND_DONE:
                progress.update(task, completed=event.round + 1, frob=f"{event.record.frobenius:.4g}")

        yield on_event


class SweepProgress:
    """A bar per cell (seeds done of seeds), on stderr."""

    def __init__(self, console: Console, enabled: bool):
        self.enabled = enabled
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.bars.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bars.__exit__(*exc)

    def start(self, cells, seeds, finished) -> None:
        for cell in cells:
            done = sum((cell.id, s) in finished for s in seeds)
            label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in cell.labels.items()) or "seeds"
            note = f"{done} already done" if done else ""
            self.tasks[cell.id] = self.bars.add_task(label, total=len(seeds), completed=done, note=note)

    def update(self, cell, seed, result) -> None:
        note = "" if result["status"] is CellStatus.OK else f"[red]seed {seed} failed[/red]"
        self.bars.update(self.tasks[cell.id], advance=1, **({"note": note} if note else {}))
