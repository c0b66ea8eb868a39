"""Code named by a data file runs only when the user says so (transformers' ``trust_remote_code`` convention).

A scenario's ``[topology] module = "x.py"`` names Python code that lwd would import, and so run, while the scenario
is read. That happens only when the code is trusted: ``lwd --trust-code …`` or ``LWD_TRUST_CODE=1`` in the
environment (Ray workers of a sweep inherit it). Topologies that installed packages register under the entry point
group ``lwd.topologies`` need no flag: installing a package is already a decision to run its code.
"""

from __future__ import annotations

import os

__all__ = ["TRUST_ENV", "code_trusted", "trust_code"]

TRUST_ENV = "LWD_TRUST_CODE"


def code_trusted() -> bool:
    return os.environ.get(TRUST_ENV, "").strip().lower() in {"1", "true", "yes"}


def trust_code() -> None:
    """Trust code named by scenarios for the rest of this process and the processes it starts."""
    os.environ[TRUST_ENV] = "1"
