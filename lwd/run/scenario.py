"""Scenario files: TOML validated into frozen, typed models.

A scenario names the network (n, β, L, T), the seeds and, for the GMM proxy, the mixture. Every model rejects
unknown keys, and every error names the file, the key, what was expected, what was got and how to fix it::

    description = "The paper's Fig. 4"
    seed = 0
    replicates = 5

    [network]
    n = 3          # models (agents)
    beta = 0.5     # k_t = floor(beta * |A_t|) posts read per round
    samples = 3    # L responses per model and round
    rounds = 200   # T

    [gmm]
    components = 2
    means = [-5.0, 5.0]
    covariance = 1.0

``[topology]`` (who reads whose posts, :mod:`lwd.internet.topologies`) and ``[internet]`` (the data regime,
:mod:`lwd.internet.regimes`) default to the paper's complete network and accumulating Internet.

The tables other than ``[[agents]]`` and ``[gmm]`` are in :mod:`lwd.run.sections`. Overrides from the command line (``--rounds``, ``--seed`` …) are applied to the raw TOML before validation, so
they are checked by the same rules and named in the same way. ``--backend/--base-url/--model`` override every
agent at once (key ``agents.*``): each agent keeps its common options (name, prompt, sampling …) and drops the
options of its old backend.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lwd.agents.config import DEFAULT_BACKEND, AgentBase, backend_config
from lwd.agents.prompt import PAPER_QUERY
from lwd.core.errors import ConfigError
from lwd.core.validation import (
    FrozenModel,
    Invalid,
    describe,
    parse_toml,
    read_toml,
    refuse_quoted,
    set_dotted,
    validate_each,
)
from lwd.gmm.config import GMMConfig
from lwd.internet import topologies
from lwd.internet.regimes import InternetConfig
from lwd.internet.topologies import Topology, TopologyContext, Wiring
from lwd.metrics.settings import MetricSettings
from lwd.run.kinds import RunKind
from lwd.run.sections import (
    MAX_AGENTS,
    ContextConfig,
    CorpusConfig,
    EmbedderConfig,
    Network,
    StoreConfig,
)

__all__ = ["AGENTS_OVERRIDE", "Scenario", "LoadedScenario", "load_scenario", "parse_scenario"]


_WIRINGS: dict = {}  # (scenario, base folder) -> its Wiring, the few most recent (Scenario.wiring)
_WIRINGS_KEPT = 8
_WIRINGS_LOCK = threading.Lock()  # the TUI and a sweep's threads may ask at once


class Scenario(FrozenModel):
    """One experiment: the network, its seeds, the LLM agents (if any) and the GMM proxy's mixture."""

    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$",
        max_length=100,
        description="short name, part of the run folder's name: letters, digits, '_', '.', '+', '-' (no '/'); "
        "defaults to the file name without .toml",
    )
    description: str = Field(min_length=1, description="one line shown by `lwd scenarios`")
    paper_figure: str | None = Field(default=None, description="the paper figure this scenario reproduces")
    seed: int = Field(
        default=0, ge=0, le=2**32 - 1, description="root seed of every random stream of the run"
    )
    replicates: int = Field(
        default=1, ge=1, description="GMM mode: independent repetitions of the simulation"
    )
    query: str = Field(default=PAPER_QUERY, min_length=1, description="the fixed query q every agent answers")
    agents: tuple[SerializeAsAny[AgentBase], ...] = Field(
        default=(), description="the LLM agents ([[agents]] tables)"
    )
    network: Network
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    gmm: GMMConfig = Field(default_factory=GMMConfig, description="the GMM proxy (Algorithms 2-3)")
    topology: SerializeAsAny[Topology] = Field(
        default_factory=lambda: topologies.get("complete")(name="complete"),
        description='who reads whose posts: [topology] name = "complete", "ring" … (`lwd topologies`)',
    )
    internet: InternetConfig = Field(
        default_factory=InternetConfig, description="the data regime: what the Internet holds"
    )
    metrics: MetricSettings = Field(
        default_factory=MetricSettings,
        description="how the per-round test and the collapse onset are computed (α, m, permutations)",
    )

    @property
    def kind(self) -> RunKind:
        """LLM when the scenario has agents, else GMM."""
        return RunKind.LLM if self.agents else RunKind.GMM

    @property
    def names(self) -> tuple[str, ...]:
        """The models' names: the agents', or 0..n−1 for a GMM network."""
        return tuple(a.name for a in self.agents) or tuple(str(i) for i in range(self.network.n))

    def wiring(self, base: Path) -> Wiring:
        """The topology built for this network (random graphs seeded from the run seed). Built once per scenario
        and folder: the run, its manifest, its metrics and its reports share it (a user topology whose options
        cannot be hashed is built each time it is asked for)."""
        key = (self, Path(base).resolve())
        try:
            with _WIRINGS_LOCK:
                built = _WIRINGS.get(key)
        except TypeError:  # unhashable options
            return self._wire(base)
        if built is None:
            built = self._wire(base)
            with _WIRINGS_LOCK:
                _WIRINGS[key] = built
                while len(_WIRINGS) > _WIRINGS_KEPT:
                    _WIRINGS.pop(next(iter(_WIRINGS)))
        return built

    def _wire(self, base: Path) -> Wiring:
        ctx = TopologyContext(self.network.n, self.names, topologies.default_seed(self.seed), base)
        return self.topology.wire(ctx)

    @field_validator("topology", mode="wrap")
    @classmethod
    def _topology(cls, value: Any, handler, info: ValidationInfo) -> Topology:
        if not isinstance(value, dict):
            return handler(value)
        name = value.get("name")
        if not isinstance(name, str):
            raise ValueError(
                f"expected `name` in [topology], one of {', '.join(topologies.available())}, got {name!r}"
            )
        if isinstance(value.get("module"), str):
            base = (info.context or {}).get("base") or Path.cwd()
            try:
                topologies.import_module(value["module"], Path(base))
            except ConfigError as exc:
                raise Invalid(exc.message, exc.fix) from None
        try:
            topology_class = topologies.get(name)
        except ConfigError as exc:
            raise Invalid(exc.message, exc.fix) from None
        return topology_class.model_validate(value)

    @model_validator(mode="after")
    def _reference_round(self) -> Scenario:
        if self.kind is RunKind.LLM and self.metrics.reference >= self.network.rounds:
            raise Invalid(
                f"[metrics] reference = {self.metrics.reference}: the change tests compare each round with round "
                f"s, which must come before the last round ({self.network.rounds})",
                fix=f"set `reference` under [metrics] to a round from 0 to {self.network.rounds - 1}",
            )
        return self

    @model_validator(mode="after")
    def _fresh_source(self) -> Scenario:
        if self.kind is RunKind.LLM and self.internet.fresh_per_round and not self.internet.fresh_file:
            raise Invalid(
                f"[internet] fresh_per_round = {self.internet.fresh_per_round} needs `fresh_file`, a CSV of "
                "human posts the LLM agents have not seen",
                fix='add `fresh_file = "fresh.csv"` under [internet], or set fresh_per_round = 0',
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _n_from_agents(cls, data: Any) -> Any:
        """LLM scenarios: n is the number of [[agents]]; a stated n must agree."""
        if isinstance(data, dict) and data.get("agents") == []:
            raise Invalid(
                "`agents` is an empty list: expected at least one [[agents]] table (an LLM scenario), or no "
                "`agents` key at all (a GMM scenario, with `n` under [network])",
                fix="add [[agents]] tables or remove `agents = []`",
            )
        if not isinstance(data, dict) or not isinstance(data.get("agents"), list) or not data["agents"]:
            return data
        data = {**data, "agents": _populations(data["agents"])}
        network = data.get("network")
        if isinstance(network, dict):
            if "n" not in network:
                data = {**data, "network": {**network, "n": len(data["agents"])}}
            elif network["n"] != len(data["agents"]):
                raise Invalid(
                    f"expected `network.n` to equal the number of [[agents]] ({len(data['agents'])}), "
                    f"got n = {network['n']!r}",
                    fix="remove `n` from [network] or make them agree",
                )
        return data

    @field_validator("description", "query")
    @classmethod
    def _words(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError(f"expected some words, got only white space: {value!r}")
        return value.strip() if info.field_name == "description" else value

    @field_validator("agents", mode="wrap")
    @classmethod
    def _backends(cls, value: Any, handler) -> tuple[AgentBase, ...]:
        """Each table by the config class its ``backend`` names: lwd's own or an installed package's."""
        if not isinstance(value, list | tuple):
            return handler(value)
        return validate_each(
            value,
            lambda table: backend_config(table.get("backend", DEFAULT_BACKEND)),
            "Scenario",
            "unknown_backend",
        )

    @field_validator("agents")
    @classmethod
    def _unique_names(cls, agents: tuple[AgentBase, ...]) -> tuple[AgentBase, ...]:
        seen = collections.Counter(a.name for a in agents)
        twice = sorted(n for n, count in seen.items() if count > 1)
        if twice:
            raise ValueError(f"expected unique agent names, got {', '.join(map(repr, twice))} more than once")
        return agents


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario plus where it came from (for manifests and error messages)."""

    scenario: Scenario
    path: Path | None
    text: str
    sha256: str
    overrides: dict[str, Any]

    @property
    def base(self) -> Path:
        """The folder relative paths in the scenario are read from."""
        return self.path.parent if self.path else Path.cwd()

    @property
    def name(self) -> str:
        if self.scenario.name:
            return self.scenario.name
        return self.path.stem if self.path else "scenario"


def load_scenario(
    path: str | Path, overrides: dict[str, Any] | None = None, origin: str = "the command line"
) -> LoadedScenario:
    """Read and validate a scenario file.

    ``overrides`` maps dotted keys to values (``{"network.rounds": 3, "seed": 7}``) and is applied before
    validation. Raises :class:`ConfigError` for a missing or unreadable file, malformed TOML or invalid values.
    """
    text, _ = read_toml(Path(path), "scenario", "Run `lwd scenarios` to list the shipped scenarios.")
    return parse_scenario(text, source=path, overrides=overrides, origin=origin)


def parse_scenario(
    text: str,
    source: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    origin: str = "the command line",
) -> LoadedScenario:
    """Validate scenario TOML text; ``source`` is only used to name the file in errors, ``origin`` to say where
    the ``overrides`` came from."""
    label = str(source) if source is not None else "<text>"
    raw = parse_toml(text, label, "scenario")
    overrides = dict(overrides or {})
    for dotted, value in overrides.items():
        _set_override(raw, dotted, value)
    base = Path(source).parent if source is not None else Path.cwd()
    try:
        scenario = Scenario.model_validate(raw, context={"base": base})
    except ValidationError as exc:
        raise ConfigError.invalid(
            "scenario", label, describe(exc, raw, overrides, Scenario, origin)
        ) from None
    try:
        scenario.wiring(base)
    except ConfigError as exc:
        raise ConfigError.invalid(
            "scenario",
            label,
            [
                f"`topology`: {exc.message.rstrip('.')}. "
                f"Fix: {exc.fix or 'change [topology] (`lwd topologies` lists them)'}."
            ],
        ) from None
    return LoadedScenario(
        scenario=scenario,
        path=Path(source) if source is not None else None,
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        overrides=overrides,
    )


def _populations(tables: list[Any]) -> list[Any]:
    """[[agents]] tables with ``count = N`` expanded into N ordinary agents, ``{i}`` in the name numbering them
    0 … N − 1 (what the manifest records); tables without ``count`` are kept as they are."""
    out: list[Any] = []
    for k, table in enumerate(tables):
        if not isinstance(table, dict) or "count" not in table:
            out.append(table)
            continue
        count, name = table["count"], table.get("name")
        where = f"[[agents]] table {k + 1}"
        refuse_quoted([count], f"{where}: `count`: ")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_AGENTS:
            raise Invalid(
                f"{where}: expected `count` to be a whole number of agents from 1 to {MAX_AGENTS}, got {count!r}",
                fix="write e.g. `count = 100` (or remove `count` for a single agent)",
            )
        if not isinstance(name, str) or "{i}" not in name:
            raise Invalid(
                f"{where}: a table with `count = {count}` stands for {count} agents, so its `name` must hold "
                f"`{{i}}` (numbered 0 … {count - 1}), got name = {name!r}",
                fix='write e.g. `name = "agent-{i}"`',
            )
        rest = {key: value for key, value in table.items() if key != "count"}
        out += [{**rest, "name": name.replace("{i}", str(i))} for i in range(count)]
    return out


AGENTS_OVERRIDE = "agents.*"  # overrides[AGENTS_OVERRIDE] = {"backend": …, "base_url": …, "model": …}


def _set_override(raw: dict[str, Any], dotted: str, value: Any) -> None:
    if dotted == AGENTS_OVERRIDE:  # every agent: keep its common options, take the new backend's keys
        common = set(AgentBase.model_fields) | {"count"}  # a population stays one
        raw["agents"] = [
            {**{k: v for k, v in table.items() if k in common}, **value}
            for table in raw.get("agents", [])
            if isinstance(table, dict)
        ]
        return
    set_dotted(raw, dotted, value)
