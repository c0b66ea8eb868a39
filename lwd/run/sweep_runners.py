"""Where a sweep's (cell, seed) runs go: Ray tasks where Ray is installed (a local instance that listens on
127.0.0.1 only, or the cluster at ``--address``), else one after another in this process.

A runner gets ``work`` (the function that runs one cell for one seed: :func:`lwd.run.sweep.run_cell`), the jobs
(each a cell, a seed and the arguments of ``work``), the sweep's Ray options, the cluster's address and
``record(cell, seed, result)``, which it calls as each result comes back.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lwd.core.extras import EXTRAS, missing, require
from lwd.core.trust import TRUST_ENV, code_trusted
from lwd.run.kinds import CellStatus

__all__ = ["SWEEP_ENV", "Job", "Runner", "pick_runner", "in_process", "on_ray"]

SWEEP_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
Job = tuple[Any, int, tuple]  # (cell, seed, the arguments of `work`)
Runner = Callable[
    [Callable[..., dict], Sequence[Job], Any, str | None, Callable[[Any, int, dict], None]], None
]
# Ray's own switch between one machine and a cluster, read when ray is imported and by every process it starts
_RAY_CLUSTERS = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def pick_runner(address: str | None) -> Runner:
    """Ray where it is installed (or asked for, with an address), else this process."""
    if address is not None or not missing(EXTRAS["ray"]):
        require("ray", "`lwd sweep --address`" if address else "a sweep on Ray")
        return on_ray
    return in_process


def in_process(work, jobs, ray_options, address, record) -> None:
    """Without Ray: one (cell, seed) after another, in this process."""
    for cell, seed, args in jobs:
        record(cell, seed, work(*args))


@contextlib.contextmanager
def _loopback_only() -> Iterator[None]:
    """Start a local Ray instance that listens on 127.0.0.1 only. On Linux Ray expects other machines to join: it
    advertises the machine's address and its servers (GCS, raylet, agents, workers) listen on every interface.
    With clusters switched off (as Ray does by default on macOS and Windows) the node's address is the loopback
    one, and every server binds it; joining a cluster stays explicit (`lwd sweep --address`)."""
    from ray._private import ray_constants

    before, was = os.environ.get(_RAY_CLUSTERS), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_RAY_CLUSTERS] = "0"  # for the processes ray.init starts
    ray_constants.ENABLE_RAY_CLUSTER = False  # for this one, which read the switch when it imported ray
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = was
        if before is None:
            os.environ.pop(_RAY_CLUSTERS, None)
        else:
            os.environ[_RAY_CLUSTERS] = before


def on_ray(work, jobs, ray_options, address, record) -> None:
    """Each (cell, seed) a Ray task of ``ray_options.num_cpus`` (and GPUs); the results recorded as they come."""
    import ray

    threads = str(max(1, math.floor(ray_options.num_cpus)))
    env = {
        **SWEEP_ENV,
        **({TRUST_ENV: "1"} if code_trusted() else {}),  # `lwd --trust-code sweep`: the workers import it too
        "NUMBA_NUM_THREADS": threads,
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
    }
    started_here = not ray.is_initialized()
    if started_here:
        with contextlib.nullcontext() if address else _loopback_only():
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                runtime_env={"env_vars": env},
            )
    try:
        task = ray.remote(num_cpus=ray_options.num_cpus, num_gpus=ray_options.num_gpus, max_retries=0)(work)
        pending = {task.remote(*args): (cell, seed) for cell, seed, args in jobs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            cell, seed = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - the worker itself died (out of memory, node lost)
                result = {
                    "status": CellStatus.FAILED,
                    "error": f"{type(exc).__name__}: {exc}",
                    "seconds": 0.0,
                }
            record(cell, seed, result)
    finally:
        if started_here:
            ray.shutdown()
