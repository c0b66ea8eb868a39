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
from pydantic import BaseModel, Field, model_validator

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


# -- lwd's own topologies -------------------------------------------------------------------------------------


@register("complete")
class Complete(Topology):
    """Everyone reads everyone (the paper)."""

    def graph(self, ctx: TopologyContext) -> nx.Graph:
        return nx.complete_graph(ctx.n)

    def reads(self, ctx: TopologyContext) -> np.ndarray:
        return np.ones((ctx.n, ctx.n), dtype=bool)


@register("ring")
class Ring(Topology):
    """Agents on a circle, each reading its `neighbours` nearest on each side (directed: the ones before it)."""

    neighbours: int = Field(default=1, ge=1, description="neighbours read on each side")
    directed: bool = Field(default=False, description="agent i reads only i−1 … i−neighbours")

    def graph(self, ctx: TopologyContext) -> nx.Graph | nx.DiGraph:
        if ctx.n > 1 and 2 * self.neighbours >= ctx.n and not self.directed:
            raise ConfigError(
                f"`topology.neighbours` = {self.neighbours} on each side needs n > {2 * self.neighbours} agents, "
                f"got n = {ctx.n}: use a smaller value or `complete`"
            )
        g = nx.DiGraph() if self.directed else nx.Graph()
        g.add_nodes_from(range(ctx.n))
        for i in range(ctx.n):
            for step in range(1, self.neighbours + 1):
                if (i + step) % ctx.n != i:
                    g.add_edge(i, (i + step) % ctx.n)  # directed: i's posts reach the next agents
        return g


@register("star")
class Star(Topology):
    """A hub that reads everyone and is read by everyone; the others read only the hub."""

    hub: int = Field(default=0, ge=0, description="the hub agent (index)")

    def graph(self, ctx: TopologyContext) -> nx.Graph:
        if self.hub >= ctx.n:
            raise ConfigError(f"`topology.hub` = {self.hub}: expected an agent index < n = {ctx.n}")
        g = nx.Graph()
        g.add_nodes_from(range(ctx.n))
        g.add_edges_from((self.hub, i) for i in range(ctx.n) if i != self.hub)
        return g


@register("erdos_renyi")
class ErdosRenyi(Topology):
    """G(n, p): each pair (ordered pair if directed) linked with probability p."""

    p: float = Field(default=0.5, ge=0, le=1, description="edge probability")
    directed: bool = False
    seed: int | None = Field(default=None, ge=0, description="graph seed [default: from the run seed]")

    def graph(self, ctx: TopologyContext) -> nx.Graph | nx.DiGraph:
        return nx.gnp_random_graph(ctx.n, self.p, seed=self.seed_for(ctx), directed=self.directed)


@register("small_world")
class SmallWorld(Topology):
    """Watts–Strogatz: a ring of `neighbours` nearest neighbours, each edge rewired with probability p."""

    neighbours: int = Field(default=2, ge=2, description="k, each agent's neighbours in the ring (even)")
    p: float = Field(default=0.1, ge=0, le=1, description="rewiring probability")
    seed: int | None = Field(default=None, ge=0, description="graph seed [default: from the run seed]")

    def graph(self, ctx: TopologyContext) -> nx.Graph:
        if self.neighbours >= ctx.n:
            raise ConfigError(
                f"`topology.neighbours` = {self.neighbours} needs n > {self.neighbours} agents, got n = {ctx.n}"
            )
        return nx.watts_strogatz_graph(ctx.n, self.neighbours, self.p, seed=self.seed_for(ctx))


@register("communities")
class Communities(Topology):
    """A stochastic block model: `groups` communities of consecutive agents (or explicit `sizes`), linked with
    probability `p_in` inside a community and `p_out` between (p_in = 1, p_out = 0: disjoint cliques,
    a caveman graph)."""

    groups: int = Field(
        default=2, ge=1, description="number of communities (equal sizes, as far as n allows)"
    )
    sizes: tuple[int, ...] | None = Field(default=None, description="community sizes, summing to n")
    p_in: float = Field(default=1.0, ge=0, le=1, description="edge probability inside a community")
    p_out: float = Field(default=0.0, ge=0, le=1, description="edge probability between communities")
    directed: bool = False
    seed: int | None = Field(default=None, ge=0, description="graph seed [default: from the run seed]")

    @model_validator(mode="after")
    def _sizes_positive(self) -> Communities:
        if self.sizes is not None and (not self.sizes or min(self.sizes) < 1):
            raise ValueError(f"expected `sizes` to be positive integers, got {list(self.sizes)}")
        return self

    def block_sizes(self, n: int) -> list[int]:
        if self.sizes is not None:
            if sum(self.sizes) != n:
                raise ConfigError(
                    f"`topology.sizes` = {list(self.sizes)} sums to {sum(self.sizes)}, expected n = {n}"
                )
            return list(self.sizes)
        if self.groups > n:
            raise ConfigError(f"`topology.groups` = {self.groups} is more than the n = {n} agents")
        return [len(part) for part in np.array_split(np.arange(n), self.groups)]

    def graph(self, ctx: TopologyContext) -> nx.Graph | nx.DiGraph:
        sizes = self.block_sizes(ctx.n)
        probs = [[self.p_in if a == b else self.p_out for b in range(len(sizes))] for a in range(len(sizes))]
        g = nx.stochastic_block_model(
            sizes, probs, seed=self.seed_for(ctx), directed=self.directed, selfloops=False
        )
        return nx.relabel_nodes(g, {v: int(v) for v in g.nodes})

    def community_map(self, ctx: TopologyContext) -> dict[str, tuple[int, ...]]:
        bounds = np.cumsum([0, *self.block_sizes(ctx.n)])
        return {f"c{g}": tuple(range(bounds[g], bounds[g + 1])) for g in range(len(bounds) - 1)}


@register("edge_list")
class EdgeList(Topology):
    """Edges from a file, one per line: ``SOURCE TARGET`` (TARGET reads SOURCE's posts); agents by name or by
    index; ``#`` starts a comment. Optional named communities."""

    file: str = Field(description="the edge list, relative to the scenario file")
    directed: bool = Field(default=True, description="false: every edge is read both ways")
    communities: dict[str, tuple[str | int, ...]] = Field(
        default_factory=dict, description="community name -> its agents (names or indices)"
    )

    def _agent(self, token: str | int, ctx: TopologyContext, where: str) -> int:
        text = str(token)
        if text in ctx.names:
            return ctx.names.index(text)
        if text.lstrip("-").isdigit() and 0 <= int(text) < ctx.n:
            return int(text)
        raise ConfigError(
            f"{where}: {text!r} is not an agent: expected one of the names {', '.join(ctx.names)} "
            f"or an index 0..{ctx.n - 1}"
        )

    def graph(self, ctx: TopologyContext) -> nx.DiGraph | nx.Graph:
        path = Path(self.file) if Path(self.file).is_absolute() else ctx.base / self.file
        if not path.is_file():
            raise ConfigError(f"`topology.file` = {self.file!r}: no such file {path}")
        g = nx.DiGraph() if self.directed else nx.Graph()
        g.add_nodes_from(range(ctx.n))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            fields = line.split("#", 1)[0].replace(",", " ").split()
            if not fields:
                continue
            if len(fields) != 2:
                raise ConfigError(
                    f"{path}, line {number}: expected `SOURCE TARGET` (two agents), got {line.strip()!r}"
                )
            where = f"{path}, line {number}"
            g.add_edge(self._agent(fields[0], ctx, where), self._agent(fields[1], ctx, where))
        return g

    def community_map(self, ctx: TopologyContext) -> dict[str, tuple[int, ...]]:
        return {
            label: tuple(self._agent(m, ctx, f"`topology.communities.{label}`") for m in members)
            for label, members in self.communities.items()
        }
