"""lwd.report — every table and figure of the LLM, GMM and sweep modes, written from a run folder (report layer).

It reads what the run layer wrote (manifest, rounds, tables, cell results) and never runs anything: a folder can
be reported again at any time (``lwd report DIR``), on another machine, by another version of lwd.
"""

from __future__ import annotations

from pathlib import Path

from lwd.core.errors import ConfigError
from lwd.report.figures import normalised
from lwd.report.gmm import write_gmm_report
from lwd.report.llm import write_llm_report
from lwd.report.sweep import write_sweep_report
from lwd.run.kinds import RunKind
from lwd.run.manifest import read_manifest

__all__ = ["write_report", "write_llm_report", "write_gmm_report", "write_sweep_report", "normalised"]


def write_report(folder: Path, rebuild_tables: bool = False, control_run: Path | None = None) -> list[Path]:
    """The report of any run folder, by the kind its manifest names; returns the files written. ``control_run``
    (LLM runs): the run whose agents' change statistics set the control chart's limits."""
    kind = read_manifest(folder).kind
    if kind == RunKind.LLM:
        return write_llm_report(folder, rebuild_tables=rebuild_tables, control_run=control_run)
    if control_run is not None:
        raise ConfigError(
            f"--control-run calibrates the control chart of an LLM run; {folder} is a {kind} folder",
            fix="drop --control-run, or report an `lwd run` folder",
        )
    if kind == RunKind.GMM:
        return write_gmm_report(folder)
    return write_sweep_report(folder)
