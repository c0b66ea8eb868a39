"""`lwd scenarios` and `lwd gmm`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lwd.cli.application import app, err, load, out_console, run_folder_line
from lwd.cli.options import SCENARIOS_DEFAULT, OutOpt, QuietOpt, RoundsOpt, ScenarioArg, SeedOpt
from lwd.scenarios import available, summary


@app.command("scenarios")
def scenarios_command() -> None:
    """List the scenarios shipped with lwd, with their kind and a one-line description.

    Pass a name from this list (or a path to your own TOML file) to `lwd run` (kind llm) or `lwd gmm`.
    """

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("name", "kind", "description"):
        table.add_column(column, overflow="fold")
    for name, path in available().items():
        table.add_row(name, *summary(path))
    out_console.print(table)


@app.command("gmm")
def gmm_command(
    scenario: ScenarioArg,
    replicates: Annotated[
        int | None,
        typer.Option(
            "--replicates",
            "-r",
            min=1,
            show_default=False,
            help=f"Independent replicates {SCENARIOS_DEFAULT}.",
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
    from lwd.cli.progress import gmm_progress
    from lwd.report import write_gmm_report
    from lwd.run.folder import default_out
    from lwd.run.gmm import run_gmm

    loaded = load(scenario, {"replicates": replicates, "seed": seed, "network.rounds": rounds})
    s = loaded.scenario
    with gmm_progress(err, loaded.name, s.network.rounds, s.replicates, enabled=not quiet) as on_round:
        run, folder = run_gmm(
            loaded, out or default_out(loaded.name), on_round=on_round, finish=write_gmm_report
        )
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
    run_folder_line(folder, "report.html, metrics.csv, weights.csv, manifest.json, figures/")
