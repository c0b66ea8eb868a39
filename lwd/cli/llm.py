"""`lwd run`, `lwd resume` and `lwd report`: the LLM mode."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lwd.cli.application import app, err, load, out_console, run_folder_line
from lwd.cli.options import OutOpt, QuietOpt, RoundsOpt, RunDirArg, SamplesOpt, ScenarioArg, SeedOpt

TwinOpt = Annotated[
    bool,
    typer.Option(
        "--gmm-twin",
        help="Also simulate the GMM proxy of the same network (n, topology, regime, β, L, T, seed, |A⁽⁰⁾|) and "
        "overlay both ‖D‖_F curves, each divided by its round-0 value, in figures/twin.png.",
    ),
]


@app.command("run")
def run_command(
    scenario: ScenarioArg,
    out: OutOpt = None,
    rounds: RoundsOpt = None,
    samples: SamplesOpt = None,
    seed: SeedOpt = None,
    seed_corpus: Annotated[
        Path | None,
        typer.Option(
            "--seed-corpus",
            exists=True,
            dir_okay=False,
            show_default=False,
            help="CSV of human posts (column `text`) to start the Internet with \\[default: the scenario's corpus].",
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            show_default=False,
            rich_help_panel="All agents",
            help="Run every agent on this backend (see `lwd backends`).",
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            show_default=False,
            rich_help_panel="All agents",
            help="…at this server URL (e.g. http://127.0.0.1:8000/v1).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            show_default=False,
            rich_help_panel="All agents",
            help="…with this model (a served id, an Ollama name, a file).",
        ),
    ] = None,
    gmm_twin: TwinOpt = False,
    replicates: Annotated[
        int | None,
        typer.Option(
            "--replicates",
            "-r",
            min=1,
            show_default=False,
            help="Run the scenario with R seeds (the scenario's seed and the next R − 1), on Ray when it is "
            "installed, and summarise them: every headline metric's mean and 95% interval per round, "
            "final/initial ratios, the collapse onset of each seed.",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run Algorithm 1 of the paper with the scenario's LLM agents and write a run folder.

    Each round t, every agent reads k_t = ⌊β·|A_t|⌋ posts drawn uniformly from the Internet A_t, answers the query L times (agents run concurrently), and posts its first answer. Answers are embedded; X_i is the mean of agent i's embeddings and the collapse metric is ‖D‖_F with D_ij = ‖X_i − X_j‖₂.

    Every round is committed to the run folder as it ends: after Ctrl-C, a crash or a power cut, `lwd resume DIR` continues with the next round and ends exactly where an uninterrupted run would. Nothing is downloaded: the default agents run the models that PyPI packages carry, in this process.

    The folder holds manifest.json, responses.csv (one row per answer), metrics.csv (one row per round), rounds/, store/ and figures/ (frobenius.png: paper Fig. 2; mds.png: Fig. 3).

    Examples:

      lwd run quick

      lwd run paper-bitcoin --out runs/bitcoin

      lwd run my-agents.toml --rounds 5 --samples 4 --seed 1 --seed-corpus posts.csv

      lwd run quick --backend openai --base-url http://127.0.0.1:8000/v1 --model my-served-model

      lwd run quick --gmm-twin

      lwd run study/chat-personas --replicates 5
    """
    from lwd.run.scenario import AGENTS_OVERRIDE

    corpus = str(seed_corpus.resolve()) if seed_corpus else None
    every = {
        k: v for k, v in {"backend": backend, "base_url": base_url, "model": model}.items() if v is not None
    }
    overrides = {
        "network.rounds": rounds,
        "network.samples": samples,
        "corpus.file": corpus,
        AGENTS_OVERRIDE: every or None,
    }
    loaded = load(scenario, {**overrides, "seed": seed})
    from lwd.run.folder import default_out
    from lwd.run.llm import check_installed, check_llm_scenario, start_run

    check_llm_scenario(loaded)  # a GMM file is refused before anything else is done
    if replicates:
        check_installed()
        overrides = {k: v for k, v in overrides.items() if v is not None}
        target = out or default_out(f"{loaded.name}-x{replicates}")
        _run_replicates(loaded, overrides, replicates, target, quiet)
        return
    target = out or default_out(loaded.name)
    _drive_llm(
        lambda on_event: start_run(loaded, target, on_event), target, loaded, quiet, gmm_twin, resuming=False
    )


@app.command("resume")
def resume_command(folder: RunDirArg, gmm_twin: TwinOpt = False, quiet: QuietOpt = False) -> None:
    """Finish an interrupted run: continue from its first round that was not committed.

    The store is first reconciled with the committed rounds (posts of an unfinished round are removed, posts a crash kept from being added are restored), then the run continues with the same seeds, so it ends with the same responses and metrics as an uninterrupted run. Model files must be the ones the run started with (checked by sha256).
    """

    from lwd.run.llm import recorded_scenario, resume_run

    loaded = recorded_scenario(folder)
    _drive_llm(lambda on_event: resume_run(folder, on_event), folder, loaded, quiet, gmm_twin, resuming=True)


@app.command("report")
def report_command(
    folder: Annotated[
        Path,
        typer.Argument(
            help="A folder written by `lwd run`, `lwd gmm` or `lwd sweep`.",
            metavar="DIR",
            exists=True,
            file_okay=False,
            show_default=False,
        ),
    ],
    gmm_twin: TwinOpt = False,
    control_run: Annotated[
        Path | None,
        typer.Option(
            "--control-run",
            help="An `lwd run` folder whose agents (same names, never reading: the scenario with `beta = 0` "
            "under [network]) set the control chart's limits, instead of this run's first rounds: a change at "
            "once can then signal.",
            metavar="CTRL",
            exists=True,
            file_okay=False,
        ),
    ] = None,
) -> None:
    """(Re)build a run's tables and (re)draw its figures from what the run wrote. Works on unfinished runs too.

    LLM runs: metrics.csv and responses.csv rebuilt from the committed rounds; figures/frobenius.png (‖D‖_F over rounds, paper Fig. 2), figures/mds.png (classical MDS of all responses at t = 1 and t = T, a colour per agent, paper Fig. 3), figures/metrics.png (every metric over rounds), figures/communities.png when the topology has communities, figures/twin.png when the run has a GMM twin (--gmm-twin simulates it now). GMM runs: the figures of `lwd gmm`. Sweeps: results.csv, summary.csv, failures.csv and figures/summary.png.
    """
    from lwd.report import write_report

    if gmm_twin:
        from lwd.run.llm import recorded_scenario
        from lwd.run.twin import write_twin

        write_twin(folder, recorded_scenario(folder))
    for path in write_report(folder, rebuild_tables=True, control_run=control_run):
        out_console.print(str(path), soft_wrap=True, highlight=False)


def _drive_llm(
    action: Callable, folder: Path, loaded, quiet: bool, twin: bool = False, *, resuming: bool
) -> None:
    """Run or resume with a progress bar, then write the twin (if asked) and the report. A run that stops after
    its setup was written says how to continue (``lwd resume``); one stopped during setup says that nothing was
    kept. The error itself goes the one way every error goes (exit 2, or a traceback for a bug); a full disk is
    one line; Ctrl-C (exit 130) and SIGTERM (exit 143) end with what is true of the folder."""
    from lwd.cli.progress import llm_progress
    from lwd.core.files import disk_full
    from lwd.run.folder import SETUP_DONE
    from lwd.run.llm import check_installed

    check_installed()  # before the progress bar: a missing extra is one line, not a bar and a line
    scenario = loaded.scenario
    existed = (folder / SETUP_DONE).is_file()  # `lwd run` into a finished setup is refused, not continued

    def resumable() -> bool:
        return (folder / SETUP_DONE).is_file() and (resuming or not existed)

    try:
        with (
            terminated_as_interrupt(),
            llm_progress(
                err, loaded.name, scenario.network.rounds, len(scenario.agents), enabled=not quiet
            ) as on_event,
        ):
            action(on_event)
    except KeyboardInterrupt as exc:
        how = "stopped (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        if resumable():
            said = f"Completed rounds are saved in {folder}; continue with `lwd resume {folder}`."
        else:
            said = "The setup had not finished, so nothing was kept; run the same command again."
        err.print(f"[yellow]{how}.[/yellow] {said}", highlight=False, soft_wrap=True)
        raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
    except Exception as exc:
        then = f"continue with `lwd resume {folder}`" if resumable() else "run the same command again"
        full = disk_full(exc, folder, then)
        if full is not None:
            raise full from None
        if resumable():
            exc.add_note(
                f"Completed rounds are saved in {folder}; after fixing the cause, continue with "
                f"`lwd resume {folder}`."
            )
        raise
    from lwd.report import write_llm_report

    try:
        if twin:
            from lwd.run.twin import write_twin

            write_twin(folder, loaded)
        write_llm_report(folder)
    except OSError as exc:
        full = disk_full(exc, folder, f"redraw the report with `lwd report {folder}`")
        if full is None:
            raise
        raise full from None
    if not quiet:
        _print_llm_summary(folder)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so a run stopped by a service manager ends as cleanly."""


@contextlib.contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` (in the main thread; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Terminated()

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _run_replicates(loaded, overrides: dict, count: int, target: Path, quiet: bool) -> None:
    """R seeds of one scenario, as a sweep without a grid (one seed at a time per machine: each uses every
    core), then its report and a summary of what the seeds agree on."""
    import os

    from lwd.cli.progress import SweepProgress
    from lwd.report import write_sweep_report
    from lwd.run.sweep import replicates, run_cells

    first = loaded.scenario.seed
    config = replicates(
        loaded.path, list(range(first, first + count)), overrides, num_cpus=os.cpu_count() or 1
    )
    progress = SweepProgress(err, enabled=not quiet)
    with progress:
        result = run_cells(
            config,
            loaded.path,
            target,
            on_start=progress.start,
            on_result=progress.update,
            finish=write_sweep_report,
        )
    for _, seed, error in result.failed:
        err.print(f"[red]failed[/red] seed {seed}: {error.splitlines()[0]}", highlight=False)
    if not quiet:
        _print_replicate_summary(target)
    if result.failed:
        raise typer.Exit(1)


def _print_replicate_summary(folder: Path) -> None:
    """Per seed: ‖D‖_F and the energy norm at t = 0 and t = T, their ratios and the onset; then the means."""
    import csv

    from lwd.report.sources import mean_interval, ratio_columns, title_of

    with open(folder / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    shown = [c for c in ratio_columns() if f"ratio_{c}" in rows[0]]
    table = Table(box=None, header_style="bold")
    table.add_column("seed", justify="right")
    for c in shown:
        table.add_column(f"{title_of(c)} t=0 → T", justify="right")
        table.add_column("ratio", justify="right")
    table.add_column("onset", justify="right")
    for row in rows:
        cells = []
        for c in shown:
            cells += [
                f"{float(row[f'initial_{c}']):.3f} → {float(row[f'final_{c}']):.3f}",
                f"{float(row[f'ratio_{c}']):.2f}",
            ]
        table.add_row(row["seed"], *cells, row["onset"] or "—")
    out_console.print(table)
    for c in shown:
        mean, half = mean_interval([float(r[f"ratio_{c}"]) for r in rows])
        out_console.print(
            f"{title_of(c)} final/initial over {len(rows)} seeds: {mean:.2f} ± {half:.2f} (95% t-interval)"
        )
    onsets = [r["onset"] for r in rows]
    collapsed = [o for o in onsets if o]
    out_console.print(
        f"collapse onset: {len(collapsed)} of {len(rows)} seeds"
        + (f" (rounds {', '.join(collapsed)})" if collapsed else "")
    )
    run_folder_line(folder, "report.html, summary.csv, bands.csv, results.csv, figures/bands.png, cells/")


def _print_llm_summary(folder: Path) -> None:
    import csv

    from lwd.metrics.collapse import FROBENIUS
    from lwd.report.sources import title_of

    with open(folder / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    table = Table(box=None, header_style="bold")
    for col in ("round", "‖D‖_F", "k_t", "|A_t|", "synthetic", "failed"):
        table.add_column(col, justify="right")
    for row in rows if len(rows) <= 8 else [*rows[:3], None, *rows[-3:]]:
        if row is None:
            table.add_row("…", "", "", "", "", "")
        else:
            table.add_row(
                row["round"],
                f"{float(row[FROBENIUS]):.4f}",
                row["k"],
                row["store_size"],
                f"{float(row['synthetic_fraction']):.0%}",
                row["failed"],
            )
    out_console.print(table)
    collapse = folder / "collapse.json"
    if collapse.is_file():
        summary = json.loads(collapse.read_text())
        changes = [
            f"{title_of(c)} {summary['initial'][c]:.3f} → {summary['final'][c]:.3f} (×{r:.2f})"
            for c, r in summary["ratios"].items()
            if r is not None
        ]
        out_console.print("; ".join(changes) + ".", highlight=False)
        out_console.print(summary["sentence"], highlight=False)
        out_console.print(
            "One seed says little: `lwd run SCENARIO --replicates 5` gives each number its 95% interval "
            "(docs/collapse.md: what the study found).",
            style="dim",
            highlight=False,
        )
    run_folder_line(folder, "report.html, responses.csv, metrics.csv, collapse.json, manifest.json, figures/")
