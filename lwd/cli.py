"""The ``lwd`` command line. Each command is a thin shell over a library function; heavy imports are lazy so
``lwd --help`` is instant. Summaries go to stdout, progress and errors to stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

app = typer.Typer(
    name="lwd",
    no_args_is_help=True,
    rich_markup_mode="rich",
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="""\
[bold]LLM Web Dynamics[/bold]: watch and measure model collapse in a network of models that read from and post to a shared, simulated Internet (Wang, Pang, Horiguchi & Priebe, "LLM Web Dynamics").

Each round t, every model reads k_t = ⌊β·|A_t|⌋ posts drawn uniformly from the Internet A_t, answers L times, and posts one answer back. The collapse metric is ‖D⁽ᵗ⁾‖_F, where D_ij is the distance between models i and j.

[bold]Start here[/bold]

  lwd scenarios            list the shipped scenarios

  lwd run quick            three local LLM agents for 10 rounds (about two minutes on 2 cores)

  lwd run paper-bitcoin    the paper's LLM experiment (Fig. 2 and 3), under half an hour on 2 cores

  lwd gmm paper-gmm-b2     the paper's GMM experiment (Fig. 4 and 5), in seconds

  lwd tui quick            the same runs in the terminal UI, live

A SCENARIO is a TOML file or the name of a shipped one; every result goes into a new run folder.
""",
)

err = Console(stderr=True)
out_console = Console()

_SCENARIOS = "\\[default: the scenario's]"
ScenarioArg = Annotated[
    str,
    typer.Argument(
        help="Scenario file, or a shipped name (see `lwd scenarios`).", metavar="SCENARIO", show_default=False
    ),
]
RunDirArg = Annotated[
    Path,
    typer.Argument(
        help="A run folder written by `lwd run`.",
        metavar="DIR",
        exists=True,
        file_okay=False,
        show_default=False,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        show_default=False,
        file_okay=False,
        help="New run folder \\[default: runs/NAME-TIMESTAMP].",
    ),
]
RoundsOpt = Annotated[
    int | None, typer.Option("--rounds", "-T", min=1, show_default=False, help=f"Last round T {_SCENARIOS}.")
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed", "-s", min=0, show_default=False, help=f"Root seed of every random stream {_SCENARIOS}."
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
SamplesOpt = Annotated[
    int | None,
    typer.Option(
        "--samples", "-L", min=1, show_default=False, help=f"Answers per agent and round, L {_SCENARIOS}."
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(Text.assemble(("error: ", "bold red"), message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _load(scenario: str, overrides: dict):
    """Resolve and validate a scenario, with command-line overrides (None values are not overrides)."""
    from lwd.scenario import ScenarioError, load_scenario
    from lwd.scenarios import resolve

    try:
        return load_scenario(resolve(scenario), {k: v for k, v in overrides.items() if v is not None})
    except ScenarioError as exc:
        raise _fail(str(exc)) from None


def _run_folder_line(folder: Path, files: str) -> None:
    out_console.print(f"Run folder: [bold]{folder}[/bold]  ({files})")


@app.command("scenarios")
def scenarios_command() -> None:
    """List the scenarios shipped with lwd, with their kind and a one-line description.

    Pass a name from this list (or a path to your own TOML file) to `lwd run` (kind llm) or `lwd gmm`.
    """
    from lwd.scenarios import available, summary

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("name", "kind", "description"):
        table.add_column(column, overflow="fold")
    for name, path in available().items():
        table.add_row(name, *summary(path))
    out_console.print(table)


# -- the GMM mode ---------------------------------------------------------------------------------------------


@app.command("gmm")
def gmm_command(
    scenario: ScenarioArg,
    replicates: Annotated[
        int | None,
        typer.Option(
            "--replicates", "-r", min=1, show_default=False, help=f"Independent replicates {_SCENARIOS}."
        ),
    ] = None,
    seed: SeedOpt = None,
    rounds: RoundsOpt = None,
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run the GMM proxy of a network (the paper's Algorithms 2 and 3) and write a run folder.

    n models are B-component Gaussian mixtures with fixed means and a shared covariance; only their mixture weights Π_i evolve. Each round every model generates L points, reads k_t = ⌊β·|A_t|⌋ points of the shared set A_t and updates its weights with them (Algorithm 2); the new points join A after all updates. D_ij = ‖Π_i − Π_j‖₂. Replicate r draws from its own stream of the root seed.

    The run folder holds metrics.csv (replicate,round,frobenius), weights.csv, rounds.csv (|A_t|, k_t, α_t, c_t), manifest.json, the scenario file, and figures/frobenius.png and figures/densities.png.

    Examples:

      lwd gmm paper-gmm-b2

      lwd gmm paper-gmm-b11 --replicates 3 -o runs/b11

      lwd gmm my-network.toml --seed 7 --rounds 50
    """
    from lwd.gmm_mode import run_gmm
    from lwd.progress import gmm_progress
    from lwd.runfolder import RunFolderError, default_out

    loaded = _load(scenario, {"replicates": replicates, "seed": seed, "network.rounds": rounds})
    s = loaded.scenario
    try:
        with gmm_progress(err, loaded.name, s.network.rounds, s.replicates, enabled=not quiet) as on_round:
            run, folder = run_gmm(loaded, out or default_out(loaded.name), on_round=on_round)
    except RunFolderError as exc:
        raise _fail(str(exc)) from None
    if quiet:
        return
    table = Table(title="‖D‖_F", box=None, header_style="bold")
    for column in ("replicate", "t = 0", f"t = {run.rounds}"):
        table.add_column(column, justify="right")
    for r, line in enumerate(run.frobenius):
        table.add_row(str(r), f"{line[0]:.4f}", f"{line[-1]:.4f}")
    if len(run.frobenius) > 1:
        table.add_row(
            "mean", f"{run.frobenius[:, 0].mean():.4f}", f"{run.frobenius[:, -1].mean():.4f}", style="bold"
        )
    out_console.print(table)
    _run_folder_line(folder, "metrics.csv, weights.csv, manifest.json, figures/")


# -- backends -------------------------------------------------------------------------------------------------

backends_app = typer.Typer(
    help="The agent backends, and a check of a scenario's endpoints before a run.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(backends_app, name="backends")


@backends_app.callback()
def backends_command(ctx: typer.Context) -> None:
    """List the backends an agent can name, whether their dependencies are installed, and the pip extra.

    An agent picks one with `backend = "..."` in its [[agents]] table; `lwd run --backend NAME` switches every agent at once. `lwd backends check SCENARIO` contacts every agent's endpoint before a run.
    """
    if ctx.invoked_subcommand is not None:
        return
    from lwd.agents.registry import BACKENDS

    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("backend", "installed", "extra", "what runs the model"):
        table.add_column(column, overflow="fold")
    for b in BACKENDS.values():
        table.add_row(
            b.name,
            "yes" if b.installed else "[red]no[/red]",
            Text(f"pip install 'llm-web-dynamics[{b.extra}]'") if b.extra else "-",
            b.about,
        )
    out_console.print(table)


@backends_app.command("check")
def backends_check_command(scenario: ScenarioArg) -> None:
    """Contact every agent's endpoint (or find its model file) and report what a run would meet.

    Per agent: reachable or not, the model found, its context size, and a one-line fix when something is wrong (server not started, wrong URL, model not pulled or not served, file missing). Exits 1 when any agent is not ready.
    """
    from lwd.agents.registry import check_agent

    loaded = _load(scenario, {})
    base = loaded.path.parent if loaded.path else None
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("agent", "backend", "endpoint", "reachable", "model", "context", "fix"):
        table.add_column(column, overflow="fold")
    ready = True
    for config in loaded.scenario.agents:
        try:
            check = check_agent(config, base)
        except ImportError as exc:
            ready = False
            table.add_row(config.name, config.backend, "-", "-", "-", "-", str(exc).split("Fix: ")[-1])
            continue
        ready &= check.ok
        model = {True: "[green]found[/green]", False: "[red]missing[/red]", None: "?"}[check.model_found]
        table.add_row(
            check.agent,
            check.backend,
            check.endpoint,
            "[green]yes[/green]" if check.reachable else "[red]no[/red]",
            model,
            str(check.context or "?"),
            check.fix or "",
        )
    out_console.print(table)
    if not ready:
        raise typer.Exit(1)


# -- the LLM mode ---------------------------------------------------------------------------------------------

_SETUP_ERRORS = (
    "ScenarioError",
    "RunFolderError",
    "RunSetupError",
    "ModelNotFoundError",
    "CorpusError",
    "EmbedderError",
    "StoreError",
    "EngineError",
    "ContextBudgetError",
    "BackendUnavailableError",
)


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
    """
    from lwd.scenario import AGENTS_OVERRIDE

    corpus = str(seed_corpus.resolve()) if seed_corpus else None
    every = {
        k: v for k, v in {"backend": backend, "base_url": base_url, "model": model}.items() if v is not None
    }
    loaded = _load(
        scenario,
        {
            "network.rounds": rounds,
            "network.samples": samples,
            "seed": seed,
            "corpus.file": corpus,
            AGENTS_OVERRIDE: every or None,
        },
    )
    if loaded.scenario.kind != "llm":
        raise _fail(
            f"scenario {loaded.name!r} defines no [[agents]]: it is a GMM scenario. Run it with "
            f"`lwd gmm {scenario}`."
        )
    from lwd.llm_mode import start_run
    from lwd.runfolder import default_out

    target = out or default_out(loaded.name)
    _drive_llm(
        lambda on_event: start_run(loaded, target, on_event), target, loaded.name, loaded.scenario, quiet
    )


@app.command("resume")
def resume_command(folder: RunDirArg, quiet: QuietOpt = False) -> None:
    """Finish an interrupted run: continue from its first round that was not committed.

    The store is first reconciled with the committed rounds (posts of an unfinished round are removed, posts a crash kept from being added are restored), then the run continues with the same seeds, so it ends with the same responses and metrics as an uninterrupted run. Model files must be the ones the run started with (checked by sha256).
    """
    import json

    from lwd.llm_mode import resume_run
    from lwd.scenario import parse_scenario

    try:
        recorded = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise _fail(
            f"{folder} is not a resumable lwd run folder ({exc}). Expected the --out folder of "
            "`lwd run`, with its manifest.json."
        ) from None
    if recorded.get("kind") != "llm":
        raise _fail(
            f"{folder} holds a {recorded.get('kind', 'unknown')!r} run; only `lwd run` folders can be "
            "resumed (a GMM run takes seconds: run `lwd gmm` again)."
        )
    info = recorded["scenario"]
    scenario = parse_scenario(info["text"], overrides=info["overrides"]).scenario
    _drive_llm(lambda on_event: resume_run(folder, on_event), folder, info["name"], scenario, quiet)


@app.command("report")
def report_command(folder: RunDirArg) -> None:
    """(Re)draw an LLM run's figures and rebuild its tables from its committed rounds.

    Writes metrics.csv, responses.csv, figures/frobenius.png (‖D‖_F over rounds, paper Fig. 2) and figures/mds.png (classical MDS of all responses at t = 1 and t = T, a colour per agent, paper Fig. 3). Works on unfinished runs too.
    """
    from lwd.report import write_report

    try:
        written = write_report(folder)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise _fail(str(exc)) from None
    for path in written:
        out_console.print(str(path))


@app.command("tui")
def tui_command(
    scenario: Annotated[
        str | None,
        typer.Argument(
            help="Scenario file or shipped name; none: pick one.", metavar="[SCENARIO]", show_default=False
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            exists=True,
            file_okay=False,
            show_default=False,
            help="Continue an interrupted run in this folder.",
        ),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            "--replay",
            exists=True,
            file_okay=False,
            show_default=False,
            help="Replay a run folder round by round.",
        ),
    ] = None,
    out: OutOpt = None,
    rounds: RoundsOpt = None,
    samples: SamplesOpt = None,
    seed: SeedOpt = None,
    speed: Annotated[
        float, typer.Option("--speed", min=0.01, help="Rounds per second in a replay or the GMM mode.")
    ] = 1.0,
) -> None:
    """Watch a run in the terminal: live answers, ‖D‖_F with its GMM proxy, the answers' MDS picture, D.

    With an LLM scenario the run is a normal `lwd run` (same run folder, same resume); with a GMM scenario the proxy runs alone and shows its replicates and mixture densities round by round. Without a scenario, pick one from the shipped scenarios and the .toml files here.

    Keys: p pause/resume · s step one round while paused · g toggle the GMM pane · o (or Enter) open an agent's answers and the posts it read · q quit. Quitting mid-run keeps every finished round: continue with `lwd resume DIR` or `lwd tui --resume DIR`.

    Examples:

      lwd tui quick

      lwd tui paper-gmm-b2

      lwd tui --resume runs/quick-20261124-101500

      lwd tui --replay runs/bitcoin --speed 4
    """
    try:
        from lwd.tui.app import LwdApp
        from lwd.tui.sessions import GMMSession, LLMSession, ReplaySession
    except ImportError as exc:
        raise _fail(
            f"the TUI needs {exc.name}, which is not installed. Fix: pip install 'llm-web-dynamics[tui]'"
        ) from None
    from lwd.runfolder import default_out

    overrides = {"network.rounds": rounds, "network.samples": samples, "seed": seed}

    def session_for(path: Path):
        loaded = _load(str(path), overrides)
        if loaded.scenario.kind == "gmm":
            return GMMSession(loaded, interval=1 / (20 * speed))
        return LLMSession(loaded, out or default_out(loaded.name))

    if replay is not None:
        session = ReplaySession(replay, interval=1 / speed)
    elif resume is not None:
        session = LLMSession(resume=resume)
    elif scenario is not None:
        from lwd.scenarios import resolve

        try:
            session = session_for(resolve(scenario))
        except Exception as exc:
            if type(exc).__name__ == "ScenarioError":
                raise _fail(str(exc)) from None
            raise
    else:
        session = None
    tui = LwdApp(session, make_session=session_for)
    tui.run()
    session = tui.session
    if session is not None and session.kind == "llm" and session.folder is not None and replay is None:
        _after_tui(session.folder, tui.finished)
    if tui.interrupted:  # quit mid-round: committed rounds are on disk; don't wait for the LLM call in flight
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _after_tui(folder: Path, finished: str | None) -> None:
    """After the TUI: draw the figures of what was run, and say how to continue."""
    from lwd.report import write_report
    from lwd.rounds import RoundLog

    if not (folder / "rounds").is_dir() or not RoundLog(folder).committed():
        return
    write_report(folder)
    done = RoundLog(folder).next_round()
    total = json.loads((folder / "manifest.json").read_text())["network"]["rounds"] + 1
    if finished not in ("done", None) and done < total:
        err.print(Text.assemble(("error: ", "bold red"), finished))
    if done < total:
        out_console.print(
            f"{done} of {total} rounds in [bold]{folder}[/bold]; continue with "
            f"`lwd resume {folder}` or `lwd tui --resume {folder}`."
        )
    else:
        _run_folder_line(folder, "responses.csv, metrics.csv, manifest.json, figures/")


def _drive_llm(action: Callable, folder: Path, name: str, scenario, quiet: bool) -> None:
    """Run or resume with a progress bar; turn known failures into clear messages and exit codes."""
    from lwd.progress import llm_progress

    try:
        with llm_progress(
            err, name, scenario.network.rounds, len(scenario.agents), enabled=not quiet
        ) as on_event:
            action(on_event)
    except KeyboardInterrupt:
        err.print(
            f"[yellow]interrupted.[/yellow] Completed rounds are saved in {folder}; continue with "
            f"`lwd resume {folder}`.",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except Exception as exc:
        known = type(exc).__name__ in _SETUP_ERRORS or (isinstance(exc, ImportError) and "Fix:" in str(exc))
        started = (folder / "rounds" / "initial.json").is_file()
        if known and (not started or type(exc).__name__ == "RunFolderError"):
            raise _fail(str(exc)) from None  # refused before anything ran: exit 2
        if started:
            hint = (
                ""
                if "lwd resume" in str(exc)
                else (
                    f"\nCompleted rounds are saved in {folder}; after fixing "
                    f"the cause, continue with `lwd resume {folder}`."
                )
            )
            err.print(
                Text.assemble(("error: ", "bold red"), f"{type(exc).__name__}: {exc}{hint}"),
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        raise
    from lwd.report import write_report

    write_report(folder)
    if not quiet:
        _print_llm_summary(folder)


def _print_llm_summary(folder: Path) -> None:
    import csv

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
                f"{float(row['frobenius']):.4f}",
                row["k"],
                row["store_size"],
                f"{float(row['synthetic_fraction']):.0%}",
                row["failed"],
            )
    out_console.print(table)
    _run_folder_line(folder, "responses.csv, metrics.csv, manifest.json, figures/")


def main() -> None:  # pragma: no cover - console-script entry point
    app()
