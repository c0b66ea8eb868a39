"""lwd's own topologies (:mod:`lwd.internet.topologies` has the base class and the registry): the paper's
complete network, rings, stars, Erdős–Rényi and small-world graphs, communities (a stochastic block model) and
an edge list from a file. Registered when :mod:`lwd.internet` is imported, by the decorator users write."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
from pydantic import Field, model_validator

from lwd.core.errors import ConfigError
from lwd.internet.topologies import Topology, TopologyContext, register


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
