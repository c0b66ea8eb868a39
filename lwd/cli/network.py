"""`lwd topologies` and `lwd sweep`: the network's shape, and grids of runs on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lwd.cli.application import app, err, out_console, run_folder_line
from lwd.cli.progress import SweepProgress
from lwd.core.errors import ConfigError, SetupError
from lwd.internet import topologies
from lwd.scenarios import sweeps


@app.command("topologies")
def topologies_command() -> None:
    """List the network topologies a scenario can name in its [topology] table, with their settings.

    An edge u → v means v reads u's posts. Every topology also takes `self_posts` (an agent reads its own posts, default true) and `humans` (the human posts are visible to all, default true). Your own: subclass lwd.internet.topologies.Topology and register it with @register("name") (then set `module` in [topology]) or under the entry point group `lwd.topologies`.

    Example:

      [topology]
      name = "small_world"
      neighbours = 2
      p = 0.2
    """

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "settings", "description"):
        table.add_column(column, overflow="fold")
    common = set(topologies.Topology.model_fields)
    for name in topologies.available():
        try:
            cls = topologies.get(name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin is listed with its error
            table.add_row(name, "", f"[red]cannot load: {exc}[/red]")
            continue
        settings = ", ".join(
            f"{k}" + ("" if f.is_required() else f"={f.get_default(call_default_factory=True)!r}")
            for k, f in cls.model_fields.items()
            if k not in common
        )
        doc = " ".join((cls.__doc__ or "").split()).split(". ")[0].removesuffix(".")
        table.add_row(name, settings, doc)
    out_console.print(table)


@app.command("sweep")
def sweep_command(
    sweep: Annotated[
        str,
        typer.Argument(
            help="Sweep file, or a shipped one (e.g. sweeps/gmm-topologies).",
            metavar="SWEEP",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            file_okay=False,
            show_default=False,
            help="Sweep folder; run again with the same folder to finish what is missing \\[default: runs/sweep-NAME].",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            show_default=False,
            help='Join a running Ray cluster ("auto", or host:port of its head) \\[default: a local Ray instance].',
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")] = False,
) -> None:
    """Run a grid of scenario overrides × seeds as Ray tasks, and tabulate and plot the results.

    The sweep file names a base scenario (GMM or LLM), a [grid] of dotted scenario keys and their values, the seeds, optional [overrides] for every cell and [ray] resources per cell. Each (cell, seed) is one task; a finished one is saved at once, so running the same command again skips it (and retries failed ones). A failed cell is reported with its error; the others go on.

    The folder holds results.csv (one row per cell, seed and round), summary.csv (final ‖D‖_F and the first round at or below the threshold, per cell and seed), failures.csv, figures/summary.png, manifest.json and cells/.

    Examples:

      lwd sweep sweeps/gmm-topologies

      lwd sweep my-sweep.toml --out runs/my-sweep

      lwd sweep my-sweep.toml --address auto      (on a node of a running Ray cluster)
    """
    from lwd.report import write_sweep_report
    from lwd.run.sweep import run_sweep

    path = Path(sweep)
    if not path.is_file():
        shipped = sweeps()
        key = sweep.removesuffix(".toml").removeprefix("scenarios/")
        key = key if key.startswith("sweeps/") else f"sweeps/{key}"
        if key not in shipped:
            raise ConfigError(
                f"no sweep file {sweep!r}: expected a path to a .toml file or one of {', '.join(shipped)}"
            )
        path = shipped[key]
    target = out or Path("runs") / f"sweep-{path.stem}"
    progress = SweepProgress(err, enabled=not quiet)
    try:
        with progress:
            result = run_sweep(
                path,
                target,
                address,
                on_start=progress.start,
                on_result=progress.update,
                finish=write_sweep_report,
            )
    except ConnectionError as exc:
        raise SetupError(
            f"cannot join the Ray cluster at {address!r}: {exc}",
            fix="start it (`ray start --head`) or leave out --address for a local Ray",
        ) from None
    if quiet:
        raise typer.Exit(1 if result.failed else 0)
    for cell, seed, error in result.failed:
        err.print(f"[red]failed[/red] {cell} seed {seed}: {error.splitlines()[0]}", highlight=False)
    out_console.print(
        f"{result.done} cell-seed runs done, {result.skipped} already finished, {len(result.failed)} failed."
    )
    run_folder_line(result.folder, "report.html, results.csv, summary.csv, failures.csv, figures/summary.png")
    if result.failed:
        raise typer.Exit(1)
