"""What this machine can hold: its available memory, and a refusal before a run asks for more."""

from __future__ import annotations

import os

from lwd.core.errors import SetupError

__all__ = ["available_memory", "check_memory", "gib"]

HEADROOM = 0.8  # a run may plan to use this share of the memory available when it starts


def available_memory() -> int | None:
    """Bytes of memory available to a new process now (Linux ``MemAvailable``; else free pages), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def gib(size: float) -> str:
    """``size`` bytes in GiB, for messages."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**27 else f"{size / 2**20:.1f} MiB"


def check_memory(needed: int, what: str, fix: str) -> None:
    """Refuse, before any work, a run whose largest arrays need more than :data:`HEADROOM` of the memory
    available now (``needed`` bytes, an estimate); ``what`` names the run, ``fix`` says how to shrink it."""
    available = available_memory()
    if available is None or needed <= HEADROOM * available:
        return
    raise SetupError(
        f"{what} needs about {gib(needed)} of memory, but this machine has {gib(available)} available "
        f"(a run may plan on {HEADROOM:.0%} of it)",
        fix=fix,
    )
