"""Network topologies: who reads whose posts. Shared by the LLM and the GMM mode.

A topology is a small pydantic model (its fields are the keys of the scenario's ``[topology]`` table) with a
``graph()`` method that returns a networkx DiGraph on the agents 0..n−1. An edge u → v means *v reads u's
posts*; an undirected graph reads both ways. On top of the graph, ``self_posts`` lets an agent read its own
posts (the paper's complete network does) and ``humans`` makes the human posts visible to everyone.

Register your own topology with the decorator, in your own code::

    from lwd.internet.topologies import Topology, register

    @register("bridge")
    class Bridge(Topology):
        width: int = 1

        def graph(self, ctx):
            ...  # any networkx graph on range(ctx.n)

and name it in a scenario (``[topology] name = "bridge"``, with ``module = "my_topologies.py"`` so that
``lwd`` imports the file first: run such a scenario with ``lwd --trust-code``, since importing runs the file), or
ship it in a package under the entry point group ``lwd.topologies``
(``bridge = "my_package.topologies:Bridge"``). ``available()`` lists every name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import networkx as nx
import numpy as np
from pydantic import BaseModel, Field

from lwd.core.errors import ConfigError
from lwd.core.plugins import Registry
from lwd.core.seeding import TOPOLOGY, stream
from lwd.core.trust import TRUST_ENV, code_trusted
from lwd.core.validation import FrozenModel

__all__ = [
    "ENTRY_POINT_GROUP",
    "Topology",
    "TopologyContext",
    "Wiring",
    "available",
    "get",
    "register",
    "TOPOLOGIES",
    "import_module",
]

ENTRY_POINT_GROUP = "lwd.topologies"


@dataclass(frozen=True)
class TopologyContext:
    """What a topology may use to build its graph: n, the agents' names, a seed for random graphs (derived
    from the run seed unless the topology sets its own) and the folder relative paths are read from."""

    n: int
    names: tuple[str, ...]
    seed: int
    base: Path


DESCRIBED = 64  # networks up to this size have their who-reads-whom matrix written into the manifest


@dataclass(frozen=True)
class Wiring:
    """A built topology: ``reads[i, j]`` is True when agent i reads agent j's posts; ``communities`` maps a
    community name to its agents (empty when the topology has none)."""

    reads: np.ndarray  # (n, n) bool
    humans: bool  # human posts are visible to every agent
    communities: dict[str, tuple[int, ...]]

    def describe(self) -> dict:
        """Who reads whom, as built (random graphs included), for manifests: the matrix itself up to
        :data:`DESCRIBED` agents; for larger networks its size, edge count and sha256 (the matrix is rebuilt
        exactly from the scenario and seed)."""
        n = len(self.reads)
        shown = (
            {"reads": self.reads.astype(int).tolist()}
            if n <= DESCRIBED
            else {
                "agents": n,
                "reads_edges": int(self.reads.sum()),
                "reads_sha256": hashlib.sha256(np.packbits(self.reads).tobytes()).hexdigest(),
            }
        )
        return {
            **shown,
            "humans_visible": self.humans,
            "communities": {k: list(v) for k, v in self.communities.items()},
        }


class Topology(FrozenModel):
    """Base class: subclass it, add fields for your parameters, implement ``graph``, and register it.

    A topology that cannot be built for a network raises :class:`lwd.core.errors.ConfigError` saying why."""

    registered_name: ClassVar[str] = ""

    name: str = Field(description="the registered name of the topology (`lwd topologies` lists them)")
    module: str | None = Field(
        default=None,
        description="a Python file (relative to the scenario) or module to import first: it registers the topology",
    )
    self_posts: bool = Field(default=True, description="an agent reads its own posts (the paper: yes)")
    humans: bool = Field(default=True, description="the human posts are visible to every agent")

    def graph(self, ctx: TopologyContext) -> nx.Graph | nx.DiGraph:  # pragma: no cover - abstract
        raise NotImplementedError

    def reads(self, ctx: TopologyContext) -> np.ndarray | None:
        """``reads[i, j]`` (n, n) bool built directly, for topologies where a graph object would be the slow
        part (the complete network of 10,000 agents has 50 million edges); None: from :meth:`graph`."""
        return None

    @classmethod
    def resolve_class(cls, table: dict[str, Any]) -> type[BaseModel]:
        """The class a ``[topology]`` table names (for error messages that list its keys)."""
        name = table.get("name")
        try:
            return get(name) if isinstance(name, str) else cls
        except ConfigError:
            return cls

    def community_map(self, ctx: TopologyContext) -> dict[str, tuple[int, ...]]:
        """Named groups of agents, for the per-community metrics; none by default."""
        return {}

    def seed_for(self, ctx: TopologyContext) -> int:
        own = getattr(self, "seed", None)
        return int(own) if own is not None else ctx.seed

    def wire(self, ctx: TopologyContext) -> Wiring:
        """Build the graph and check it covers exactly the agents 0..n−1."""
        reads = self.reads(ctx)
        if reads is None:
            reads = self._from_graph(ctx)
        reads = np.array(reads, dtype=bool)
        np.fill_diagonal(reads, self.self_posts)
        reads.flags.writeable = False  # one Wiring serves the whole run (Scenario.wiring caches it)
        groups = self.community_map(ctx)
        for label, members in groups.items():
            bad = [m for m in members if not 0 <= m < ctx.n]
            if bad:
                raise ConfigError(f"community {label!r} names agents {bad} outside 0..{ctx.n - 1}")
        return Wiring(reads, self.humans, {k: tuple(v) for k, v in groups.items()})

    def _from_graph(self, ctx: TopologyContext) -> np.ndarray:
        graph = self.graph(ctx)
        nodes = set(graph.nodes)
        if nodes != set(range(ctx.n)):
            extra = sorted(map(str, nodes - set(range(ctx.n))))[:5]
            missing = sorted(set(range(ctx.n)) - nodes)[:5]
            raise ConfigError(
                f"topology {self.name!r} built a graph on nodes other than the {ctx.n} agents 0..{ctx.n - 1}"
                + (f"; unknown: {', '.join(extra)}" if extra else "")
                + (f"; missing: {missing}" if missing else "")
            )
        reads = np.zeros((ctx.n, ctx.n), dtype=bool)
        edges = np.array(list(graph.edges), dtype=np.int64).reshape(-1, 2)
        reads[edges[:, 1], edges[:, 0]] = True  # u -> v: v reads u
        if not graph.is_directed():
            reads[edges[:, 0], edges[:, 1]] = True
        return reads


def _topology(name: str, cls: Any, where: str) -> type[Topology]:
    if not (isinstance(cls, type) and issubclass(cls, Topology)):
        raise ConfigError(f"{where} expects a subclass of lwd.internet.topologies.Topology, got {cls!r}")
    cls.registered_name = name
    return cls


def _unknown(name: Any, known: list[str]) -> ConfigError:
    return ConfigError(
        f"unknown topology {name!r}: expected one of {', '.join(sorted(known))}. A topology of your own must be "
        f"registered first: set `module` in [topology] to the file that defines it, or install a package "
        f"that declares it under the entry point group {ENTRY_POINT_GROUP!r}"
    )


TOPOLOGIES: Registry[type[Topology]] = Registry(
    "topology", ENTRY_POINT_GROUP, accept=_topology, unknown=_unknown
)  # lwd's own are registered below, with the decorator users write


def register(name: str) -> Callable[[type[Topology]], type[Topology]]:
    """Class decorator: make a Topology subclass available under ``name``."""
    return TOPOLOGIES.register(name)


def available() -> list[str]:
    """Names of every topology: lwd's own, those registered by the decorator, and the entry points."""
    return sorted(TOPOLOGIES.names())


def get(name: str) -> type[Topology]:
    """The class registered under ``name`` (entry points are loaded on first use)."""
    return TOPOLOGIES.get(name)


def import_module(module: str, base: Path) -> None:
    """Import a user's topology code: a .py file (relative to ``base``) or an importable module name. Only when
    code is trusted (:mod:`lwd.core.trust`): reading a scenario must not run code the user has not chosen to."""
    path = Path(module)
    if not path.is_absolute():
        path = base / path
    if module.endswith(".py") and not path.is_file():
        raise ConfigError(f"`module` = {module!r}: no such file {path}")
    if not code_trusted():
        named = path if module.endswith(".py") else f"the module {module!r}"
        raise ConfigError(
            f"`module` = {module!r}: the scenario asks lwd to run the Python code in {named}, and lwd runs code "
            "named by a scenario only when told to",
            fix=f"if you trust it, run `lwd --trust-code …` (or set {TRUST_ENV}=1); a package can instead "
            f"register the topology under the entry point group {ENTRY_POINT_GROUP!r}, which needs no flag",
        )
    if module.endswith(".py"):
        name = f"lwd_user_topologies_{abs(hash(str(path.resolve())))}"
        if name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(f"`module` = {module!r}: importing {path} failed: {exc!r}") from exc
        return
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"`module` = {module!r}: cannot import it ({exc})") from exc


def default_seed(run_seed: int) -> int:
    """The seed random graphs use when the topology sets none: its own stream of the run seed."""
    return int(stream(run_seed, TOPOLOGY).integers(0, 2**31))
