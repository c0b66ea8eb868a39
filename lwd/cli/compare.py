"""`lwd compare`: runs and replicate sets side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lwd.cli.application import app, out_console, run_folder_line


@app.command("compare")
def compare_command(
    folders: Annotated[
        list[Path],
        typer.Argument(
            help="Run folders: of `lwd run` (one seed), `lwd run --replicates` or `lwd sweep` (each cell its "
            "seeds), `lwd gmm` (its replicates).",
            metavar="DIR...",
            exists=True,
            file_okay=False,
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
            help="Folder for the comparison [default: runs/compare-TIMESTAMP].",
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label", "-l", show_default=False, help="A name for each folder, in order [default: its name]."
        ),
    ] = None,
) -> None:
    """Overlay runs and replicate sets in one figure and one table: ‖D‖_F, the between-agent share of the answers' spread, the energy-distance norm and the test's p-value over rounds (the mean over seeds in its 95% band), their final/initial ratios and each seed's collapse onset.

    Writes compare.csv (every seed's rounds), summary.csv (per source: initial, final and ratio with their 95% intervals; the onsets) , figures/compare.png and report.html (the same, interactive, in one offline page).

    Examples:

      lwd compare runs/study/chat-personas runs/study/control runs/study/mixed-base

      lwd compare runs/quick-a runs/quick-b --label "seed 0" --label "seed 1"
    """
    from lwd.report.compare import read_sources, write_comparison
    from lwd.report.sources import mean_interval, ratio_columns, title_of
    from lwd.run.folder import default_out

    sources = read_sources(folders, label)
    target = out or default_out("compare")
    write_comparison(sources, target)
    table = Table(box=None, header_style="bold")
    ratioed = ratio_columns()
    table.add_column("source")
    table.add_column("seeds", justify="right")
    for column in ratioed:
        table.add_column(f"{title_of(column)} ratio", justify="right")
    table.add_column("told apart", justify="right")
    table.add_column("onsets")
    for source in sources:
        cells = []
        for column in ratioed:
            ratios = [t[column][-1] / t[column][0] for t in source.tables if column in t and t[column][0]]
            mean, half = mean_interval(ratios)
            cells.append(
                "—" if not ratios else f"{mean:.2f} ± {half:.2f}" if len(ratios) > 1 else f"{mean:.2f}"
            )
        onsets = (
            " ".join("-" if o is None else str(o) for o in source.onsets()) if source.tested else "no test"
        )
        shares = source.told_apart()
        mean, half = mean_interval(shares)
        told = "—" if not shares else f"{mean:.0%} ± {half:.0%}" if len(shares) > 1 else f"{mean:.0%}"
        table.add_row(source.label, str(len(source.seeds)), *cells, told, onsets)
    out_console.print(table)
    out_console.print(
        "ratios: final / initial; told apart: the share of rounds whose test rejected (p ≤ α); both the mean ± "
        "half-width of the 95% t-interval over seeds; onsets: per seed, - = not collapsed"
    )
    run_folder_line(target, "report.html, summary.csv, compare.csv, figures/compare.png")
