"""`lwd tui`: the terminal UI."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from lwd.cli import (
    OutOpt,
    RoundsOpt,
    SamplesOpt,
    SeedOpt,
    _fail,
    _load,
    _run_folder_line,
    app,
    err,
    out_console,
)


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
