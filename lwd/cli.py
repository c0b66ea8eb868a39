"""The ``lwd`` command line. Each command is a thin shell over a library function; heavy imports are lazy so
``lwd --help`` is instant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

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

  lwd gmm paper-gmm-b2     the paper's GMM experiment (Fig. 4 and 5), in seconds

A SCENARIO is a TOML file or the name of a shipped one; every result goes into a new run folder.
""",
)

err = Console(stderr=True)
out_console = Console()


def _fail(message: str, code: int = 2) -> typer.Exit:
    from rich.text import Text

    err.print(Text.assemble(("error: ", "bold red"), message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command("scenarios")
def scenarios_command() -> None:
    """List the scenarios shipped with lwd, with their kind and a one-line description.

    Pass a name from this list (or a path to your own TOML file) to `lwd gmm`.
    """
    from rich.table import Table

    from lwd.scenarios import available, summary

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("name")
    table.add_column("kind")
    table.add_column("description", overflow="fold")
    for name, path in available().items():
        kind, description = summary(path)
        table.add_row(name, kind, description)
    out_console.print(table)


@app.command("gmm")
def gmm_command(
    scenario: Annotated[
        str,
        typer.Argument(
            help="Scenario file, or a shipped name such as paper-gmm-b2.",
            metavar="SCENARIO",
            show_default=False,
        ),
    ],
    replicates: Annotated[
        int | None,
        typer.Option(
            "--replicates",
            "-r",
            min=1,
            show_default=False,
            help="Independent replicates \\[default: the scenario's].",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            "-s",
            min=0,
            show_default=False,
            help="Root seed; replicate r uses stream r \\[default: the scenario's].",
        ),
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(
            "--rounds", "-T", min=1, show_default=False, help="Last round T \\[default: the scenario's]."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            show_default=False,
            file_okay=False,
            help="New run folder \\[default: runs/NAME-TIMESTAMP].",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
) -> None:
    """Run the GMM proxy of a network (the paper's Algorithms 2 and 3) and write a run folder.

    n models are B-component Gaussian mixtures with fixed means and a shared covariance; only their mixture weights Π_i evolve. Each round every model generates L points, reads k_t = ⌊β·|A_t|⌋ points of the shared set A_t and updates its weights with them (Algorithm 2); the new points join A after all updates. D_ij = ‖Π_i − Π_j‖₂.

    The run folder holds metrics.csv (replicate,round,frobenius), weights.csv, rounds.csv (|A_t|, k_t, α_t, c_t), manifest.json, the scenario file, and figures/frobenius.png and figures/densities.png.

    Examples:

      lwd gmm paper-gmm-b2

      lwd gmm paper-gmm-b11 --replicates 3 -o runs/b11

      lwd gmm my-network.toml --seed 7 --rounds 50
    """
    from lwd.gmm_mode import run_gmm
    from lwd.runfolder import RunFolderError, default_out
    from lwd.scenario import ScenarioError, load_scenario
    from lwd.scenarios import resolve

    overrides = {
        k: v
        for k, v in {"replicates": replicates, "seed": seed, "network.rounds": rounds}.items()
        if v is not None
    }
    try:
        loaded = load_scenario(resolve(scenario), overrides)
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    target = out or default_out(loaded.name)
    s = loaded.scenario
    try:
        with _round_progress(s.network.rounds, s.replicates, loaded.name, enabled=not quiet) as on_round:
            run, folder = run_gmm(loaded, target, on_round=on_round)
    except RunFolderError as exc:
        raise _fail(str(exc)) from None
    if not quiet:
        _print_gmm_summary(run, folder)


def _round_progress(rounds: int, replicates: int, name: str, enabled: bool):
    """A rich progress bar over rounds 0..T; yields the ``on_round`` callback (None when disabled)."""
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not enabled:
        return contextlib.nullcontext(None)

    @contextlib.contextmanager
    def bar():
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("k_t={task.fields[k]} |A_t|={task.fields[size]} ‖D‖_F={task.fields[frob]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task(f"{name} ×{replicates}", total=rounds + 1, k="-", size="-", frob="-")

            def on_round(t, frob, k, size):
                progress.update(task, completed=t + 1, k=k, size=size, frob=f"{frob.mean():.3g}")

            yield on_round

    return bar()


def _print_gmm_summary(run, folder: Path) -> None:
    from rich.table import Table

    table = Table(title="‖D‖_F", box=None, header_style="bold")
    table.add_column("replicate", justify="right")
    table.add_column("t = 0", justify="right")
    table.add_column(f"t = {run.rounds}", justify="right")
    for r, line in enumerate(run.frobenius):
        table.add_row(str(r), f"{line[0]:.4f}", f"{line[-1]:.4f}")
    if len(run.frobenius) > 1:
        table.add_row(
            "mean", f"{run.frobenius[:, 0].mean():.4f}", f"{run.frobenius[:, -1].mean():.4f}", style="bold"
        )
    out_console.print(table)
    out_console.print(
        f"Run folder: [bold]{folder}[/bold]  (metrics.csv, weights.csv, manifest.json, figures/)"
    )


def main() -> None:  # pragma: no cover - console-script entry point
    app()
