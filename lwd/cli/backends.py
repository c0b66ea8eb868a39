"""`lwd backends` and `lwd backends check`."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from lwd.agents.registry import backends, check_agent, installed
from lwd.cli.application import app, load, out_console
from lwd.cli.options import ScenarioArg
from lwd.core.errors import MissingExtraError
from lwd.core.extras import install_hint

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

    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("backend", "installed", "extra", "what runs the model"):
        table.add_column(column, overflow="fold")
    for name, b in backends().items():
        table.add_row(
            name,
            "yes" if installed(b) else "[red]no[/red]",
            Text(install_hint(b.extra)) if b.extra else "-",
            b.about,
        )
    out_console.print(table)


@backends_app.command("check")
def backends_check_command(scenario: ScenarioArg) -> None:
    """Contact every agent's endpoint (or find its model file) and report what a run would meet.

    Per agent: reachable or not, the model found, its context size, and a one-line fix when something is wrong (server not started, wrong URL, model not pulled or not served, file missing). Exits 1 when any agent is not ready.
    """

    loaded = load(scenario, {})
    base = loaded.path.parent if loaded.path else None
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("agent", "backend", "endpoint", "reachable", "model", "context", "fix"):
        table.add_column(column, overflow="fold")
    ready = True
    for config in loaded.scenario.agents:
        try:
            check = check_agent(config, base)
        except MissingExtraError as exc:
            ready = False
            table.add_row(config.name, config.backend, "-", "-", "-", "-", Text(exc.fix or str(exc)))
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
            Text(check.fix or ""),
        )
    out_console.print(table)
    if not ready:
        raise typer.Exit(1)
