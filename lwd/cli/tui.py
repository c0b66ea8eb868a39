"""`lwd tui`: the terminal UI."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from lwd.cli.application import app, err, load, out_console, run_folder_line
from lwd.cli.options import OutOpt, RoundsOpt, SamplesOpt, SeedOpt
from lwd.core.extras import require
from lwd.run.kinds import RunKind
from lwd.scenarios import resolve


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
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Serve the TUI to a web browser (textual-serve) instead of this terminal: every browser tab that "
            "opens the page starts this command, and whoever reaches the page controls that run.",
        ),
    ] = False,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="With --serve: the interface to listen on (others can reach a non-loopback one)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="With --serve: the port.")] = 8000,
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
    require("tui", "`lwd tui`")
    if serve:
        args = [scenario] if scenario else []
        for flag, value in (
            ("--resume", resume),
            ("--replay", replay),
            ("--out", out),
            ("--rounds", rounds),
            ("--samples", samples),
            ("--seed", seed),
        ):
            if value is not None:
                args += [flag, str(value)]
        _serve_in_browser([*args, "--speed", str(speed)], host, port)
        return
    from lwd.run.folder import default_out
    from lwd.tui.app import LwdApp
    from lwd.tui.sessions import GMMSession, LLMSession, ReplaySession

    overrides = {"network.rounds": rounds, "network.samples": samples, "seed": seed}

    def session_for(path: Path):
        loaded = load(str(path), overrides)
        if loaded.scenario.kind is RunKind.GMM:
            return GMMSession(loaded, interval=1 / (20 * speed))
        return LLMSession(loaded, out or default_out(loaded.name))

    if replay is not None:
        session = ReplaySession(replay, interval=1 / speed)
    elif resume is not None:
        session = LLMSession(resume=resume)
    elif scenario is not None:
        session = session_for(resolve(scenario))
    else:
        session = None
    tui = LwdApp(session, make_session=session_for)
    tui.run()
    session = tui.session
    live = session is not None and session.kind is RunKind.LLM and replay is None
    if tui.interrupted:  # quit mid-round: don't wait for the LLM calls in flight, their round is abandoned
        if live and session.folder is not None:
            _after_tui(session.folder, tui.failure, draw=False)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    if live and session.folder is not None:
        _after_tui(session.folder, tui.failure)


def _serve_in_browser(args: list[str], host: str, port: int) -> None:
    """The same TUI in a browser, with the Textual project's own server: it starts ``lwd tui ARGS`` for every
    browser session and relays its screen (the scenario and options are checked here first)."""
    from textual_serve.server import Server  # the [tui] extra

    command = shlex.join([sys.executable, "-m", "lwd", "tui", *args])
    out_console.print(
        f"Serving `lwd tui {shlex.join(args)}` at [bold]http://{host}:{port}[/bold] — whoever opens it controls the "
        "run; Ctrl+C stops.",
        highlight=False,
    )
    with contextlib.suppress(OSError):  # a group of its own (a session leader has one): its sessions join it
        os.setpgid(0, 0)
    try:
        Server(command, host=host, port=port, title="lwd").serve()
    finally:  # textual-serve leaves the sessions it started running when it stops: they go with the server
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.killpg(os.getpgrp(), signal.SIGTERM)


def _after_tui(folder: Path, failure: str | None, draw: bool = True) -> None:
    """After the TUI: draw the figures of what was run (``draw``), say what ended it (``failure``, the error of a
    failed session) and how to continue."""
    from lwd.report import write_llm_report
    from lwd.run.manifest import read_manifest
    from lwd.run.rounds import RoundLog

    if not (folder / "rounds" / "initial.json").is_file():
        return  # nothing was set up: nothing to continue
    done = RoundLog(folder).next_round()
    if draw and done:
        write_llm_report(folder)
    total = read_manifest(folder).rounds + 1
    if failure is not None and done < total:
        err.print(f"[bold red]error:[/bold red] {failure}", highlight=False, soft_wrap=True)
    if done < total:
        figures = "" if draw else f" (`lwd report {folder}` draws the figures of those rounds)"
        out_console.print(
            f"{done} of {total} rounds in [bold]{folder}[/bold]{figures}; continue with "
            f"`lwd resume {folder}` or `lwd tui --resume {folder}`."
        )
    else:
        run_folder_line(folder, "report.html, responses.csv, metrics.csv, manifest.json, figures/")
