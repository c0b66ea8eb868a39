"""The ``lwd`` app: its error path (one LwdError, one message, exit 2), its consoles, the root options, and what
every command does first (load a scenario) and last (name the run folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from lwd.core.errors import LwdError
from lwd.core.files import disk_full
from lwd.core.trust import TRUST_ENV, trust_code
from lwd.scenarios import resolve

err = Console(stderr=True)
out_console = Console()


def print_error(exc: LwdError) -> None:
    """An LwdError as the CLI shows it: ``error: <message> Fix: <fix>``, then its notes (what to do next)."""
    err.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False, soft_wrap=True)
    for note in getattr(exc, "__notes__", ()):
        err.print(note, highlight=False, soft_wrap=True)


class LwdCommands(TyperGroup):
    """The command group: every LwdError a command raises becomes one message and exit code 2; so does a disk
    that filled up (every file lwd writes is written whole or not at all, so running the command again once
    there is room is safe)."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except LwdError as exc:
            print_error(exc)
            raise typer.Exit(2) from None
        except OSError as exc:
            where = Path(exc.filename).parent if exc.filename else Path.cwd()
            full = disk_full(exc, where, "run the same command again")
            if full is None:
                raise
            print_error(full)
            raise typer.Exit(2) from None


app = typer.Typer(
    name="lwd",
    cls=LwdCommands,
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

  lwd sweep sweeps/gmm-topologies   topologies × β × seeds of the GMM proxy on Ray, in about a minute

A SCENARIO is a TOML file or the name of a shipped one; every result goes into a new run folder.
""",
)


@app.callback()
def _root(
    trusted: Annotated[
        bool,
        typer.Option(
            "--trust-code",
            help="Run the Python file a scenario's [topology] `module` names (importing it runs it). Off by "
            f"default, like transformers' trust_remote_code; or set {TRUST_ENV}=1.",
        ),
    ] = False,
) -> None:
    if trusted:
        trust_code()


def load(scenario: str, overrides: dict):
    """Resolve and validate a scenario, with command-line overrides (None values are not overrides)."""
    from lwd.run.scenario import load_scenario  # pydantic models of every table: not needed for --help

    return load_scenario(resolve(scenario), {k: v for k, v in overrides.items() if v is not None})


def run_folder_line(folder: Path, files: str) -> None:
    out_console.print(f"Run folder: [bold]{folder}[/bold]  ({files})")


def main() -> None:  # pragma: no cover - console-script entry point
    app()
