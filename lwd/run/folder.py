"""Run folders: where a run's results land, and the manifest that says exactly what produced them.

A folder is never overwritten: a run writes into a hidden staging folder beside the target and renames it into
place only when everything is written, so a failed or interrupted run leaves no half-written results behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lwd.core.errors import RunFolderError

__all__ = [
    "default_out",
    "staged_folder",
    "folder_lock",
    "check_new_folder",
    "check_creatable",
    "make_folder",
    "setup_interrupted",
    "clear_setup",
    "SETUP_DONE",
]

# What the setup of an `lwd run` folder writes, in order; `rounds/initial.json` (A⁽⁰⁾) is written last.
_SETUP_NAMES = {".lock", "store", "scenario.toml", "manifest.json", "rounds"}
SETUP_DONE = Path("rounds") / "initial.json"


def default_out(name: str, root: Path = Path("runs")) -> Path:
    """``runs/<name>-<UTC timestamp>``, unique on this machine."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = root / f"{name}-{stamp}"
    suffix = 1
    while out.exists():
        suffix += 1
        out = root / f"{name}-{stamp}-{suffix}"
    return out


@contextlib.contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it becomes ``out``, on any error it is removed.

    Refuses an ``out`` that exists and is not empty, before any work is done, so nothing is overwritten.
    """
    out = Path(out)
    check_new_folder(out)
    make_folder(out.parent)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise _cannot_create(out, exc) from None
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()  # empty, checked above
    os.replace(staging, out)


def check_new_folder(out: Path, resumable: str = "", restartable: bool = False) -> None:
    """Refuse, before any work, an ``out`` that holds something (lwd never overwrites a run) or that cannot be
    created (a file on its path, no permission). ``resumable`` names how to continue a run that is there.
    With ``restartable``, a folder whose setup was killed (see :func:`setup_interrupted`) is accepted."""
    out = Path(out)
    check_creatable(out)
    if out.is_dir() and any(out.iterdir()) and not (restartable and setup_interrupted(out)):
        raise RunFolderError(
            f"output folder {out} already exists and is not empty (lwd never overwrites a run)",
            fix=f"choose another --out, {resumable or 'or move the old results away'}",
        )


def check_creatable(out: Path) -> None:
    """Refuse an ``out`` that is a file, lies under a file, or under a folder this user cannot write to."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file, not a folder", fix="choose another --out")
    ancestor = out
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RunFolderError(
            f"cannot create the output folder {out}: {ancestor} is a file", fix="choose another --out"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RunFolderError(
            f"cannot create the output folder {out}: {ancestor} is not writable by this user",
            fix="choose an --out under a folder you can write to",
        )


def make_folder(folder: Path) -> None:
    """``mkdir -p``, with a RunFolderError naming the folder when the system refuses."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_create(folder, exc) from None


def _cannot_create(folder: Path, exc: OSError) -> RunFolderError:
    return RunFolderError(
        f"cannot create the output folder {folder}: {exc.strerror or exc}",
        fix="choose an --out under a folder you can write to",
    )


def setup_interrupted(folder: Path) -> bool:
    """Whether ``folder`` is an `lwd run` folder whose setup was killed before A⁽⁰⁾ was written: it holds only
    what setup writes (the lock first) and no ``rounds/initial.json``. Nothing in it is a result."""
    folder = Path(folder)
    if not (folder / ".lock").is_file() or (folder / SETUP_DONE).exists():
        return False
    names = {p.name for p in folder.iterdir()}
    return names <= _SETUP_NAMES


def clear_setup(folder: Path) -> None:
    """Remove what an interrupted setup left in ``folder`` (the caller holds the lock)."""
    for path in Path(folder).iterdir():
        if path.name == ".lock":
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/.lock`` for as long as a process works in the folder; a second process is refused, told
    which process holds it and whether that one still runs. The lock is the kernel's (flock): it is free the
    moment its holder ends, SIGKILL included, so a killed run resumes at once."""
    path = Path(folder) / ".lock"
    fh = open(path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        recorded = fh.read().strip()
        fh.close()
        holder, fix = _holder(path, recorded)
        raise RunFolderError(f"run folder {folder} is in use by {holder}", fix=fix) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}")
    fh.flush()
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _holder(path: Path, recorded: str) -> tuple[str, str]:
    """Who holds the lock at ``path`` (the file says ``pid N``: the process that took it), and the fix."""
    wait = "wait for it to finish (or stop it) before running or resuming here"
    pid = int(recorded[4:]) if recorded.startswith("pid ") and recorded[4:].isdigit() else None
    if pid is None:
        return "another process", wait
    if _running(pid):
        return f"pid {pid} ({_command(pid)}), which is running", wait
    others = [p for p in _opened_by(path) if p != os.getpid()]
    if not others:
        return f"pid {pid}, which no longer runs", "run the command again"
    named = ", ".join(f"pid {p} ({_command(p)})" for p in others)
    return (
        f"{named}, left behind by pid {pid}, which no longer runs",
        f"stop {'it' if len(others) == 1 else 'them'} (`kill {' '.join(map(str, others))}`), then run again",
    )


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))  # a zombie has ended


def _command(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "command unknown"
    return "`" + " ".join(w.decode(errors="replace") for w in words if w)[:120] + "`"


def _opened_by(path: Path) -> list[int]:
    """The processes that have ``path`` open (Linux /proc; empty where it cannot be read)."""
    target, found = str(path.resolve()), []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
