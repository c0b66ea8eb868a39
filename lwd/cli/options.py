"""The options and arguments several commands share (typer ``Annotated`` types)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "SCENARIOS_DEFAULT",
    "ScenarioArg",
    "RunDirArg",
    "OutOpt",
    "RoundsOpt",
    "SeedOpt",
    "QuietOpt",
    "SamplesOpt",
]

SCENARIOS_DEFAULT = _SCENARIOS = "\\[default: the scenario's]"
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
