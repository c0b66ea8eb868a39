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

Overrides from the command line (``--rounds``, ``--seed`` …) are applied to the raw TOML before validation, so
they are checked by the same rules and named in the same way.
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from lwd.gmm.config import GMMConfig

__all__ = ["Network", "Scenario", "ScenarioError", "LoadedScenario", "load_scenario", "parse_scenario"]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Network(Frozen):
    """Who reads what: n models, each reading k_t = ⌊β·|A_t|⌋ posts and answering L times per round, T rounds."""

    n: int = Field(ge=1, description="number of models (agents) in the network")
    beta: float = Field(
        gt=0, le=1, description="fraction β of the Internet each model reads: k_t = ⌊β·|A_t|⌋"
    )
    samples: int = Field(ge=1, description="L, responses (points) each model generates per round")
    rounds: int = Field(ge=1, description="T, the last round; rounds 0..T are simulated")


class Scenario(Frozen):
    """One experiment: the network, its seeds and the GMM proxy's mixture."""

    name: str | None = Field(default=None, description="short name; defaults to the file name without .toml")
    description: str = Field(min_length=1, description="one line shown by `lwd scenarios`")
    paper_figure: str | None = Field(default=None, description="the paper figure this scenario reproduces")
    seed: int = Field(default=0, ge=0, description="root seed; replicate r uses the r-th spawned stream")
    replicates: int = Field(default=1, ge=1, description="independent repetitions of the whole simulation")
    network: Network
    gmm: GMMConfig = Field(default_factory=GMMConfig, description="the GMM proxy (Algorithms 2-3)")

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str, info: ValidationInfo) -> str:
        return value.strip()


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario plus where it came from (for manifests and error messages)."""

    scenario: Scenario
    path: Path | None
    text: str
    sha256: str
    overrides: dict[str, Any]

    @property
    def name(self) -> str:
        if self.scenario.name:
            return self.scenario.name
        return self.path.stem if self.path else "scenario"


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message lists every problem with its key and a fix."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid scenario {source}:\n{lines}")


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> LoadedScenario:
    """Read and validate a scenario file.

    ``overrides`` maps dotted keys to values (``{"network.rounds": 3, "seed": 7}``) and is applied before
    validation. Raises :class:`ScenarioError` for a missing file, malformed TOML or invalid values.
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(
            str(path),
            [
                f"file not found: expected a TOML scenario file at {path}. "
                "Run `lwd scenarios` to list the shipped scenarios."
            ],
        )
    text = path.read_text(encoding="utf-8")
    return parse_scenario(text, source=path, overrides=overrides)


def parse_scenario(
    text: str, source: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> LoadedScenario:
    """Validate scenario TOML text; ``source`` is only used to name the file in errors."""
    label = str(source) if source is not None else "<text>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(
            label,
            [
                f"malformed TOML: {exc}. Fix the syntax at that position "
                "(strings need quotes, tables are written [name], keys as key = value)."
            ],
        ) from None
    overrides = dict(overrides or {})
    for dotted, value in overrides.items():
        _set_dotted(raw, dotted, value)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(label, _describe(exc, raw, overrides)) from None
    return LoadedScenario(
        scenario=scenario,
        path=Path(source) if source is not None else None,
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        overrides=overrides,
    )


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the key at ``loc`` (for listing allowed keys)."""
    model: type[BaseModel] | None = Scenario
    for part in loc[:-1]:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


def _lookup(raw: Any, loc: tuple) -> tuple[bool, Any]:
    node = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node


_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", "≥"),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "≤"),
}
_TYPES = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a text in quotes",
    "string_too_short": "a non-empty text",
    "dict_type": "a table",
    "model_type": "a table",
    "list_type": "a list",
    "tuple_type": "a list",
}


def _expected(err: dict, annotation: Any) -> str:
    """What a key should hold, in words: 'an integer ≥ 1', 'a number ≤ 1', 'a table'."""
    kind = {int: "an integer", float: "a number"}.get(annotation, "a value")
    if err["type"] in _BOUNDS:
        name, symbol = _BOUNDS[err["type"]]
        return f"{kind} {symbol} {err['ctx'][name]}"
    if err["type"] in _TYPES:
        return _TYPES[err["type"]]
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
    return msg.removeprefix("expected ")


def _describe(exc: ValidationError, raw: dict[str, Any], overrides: dict[str, Any]) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        leaf = str(loc[-1]) if loc else key
        table = f"under [{'.'.join(str(p) for p in loc[:-1])}]" if len(loc) > 1 else "at the top level"
        model = _model_at(loc)
        if err["type"] == "extra_forbidden":
            allowed = list(model.model_fields) if model else []
            guess = difflib.get_close_matches(leaf, allowed, n=1)
            hint = f"; did you mean `{guess[0]}`?" if guess else "."
            problems.append(f"`{key}`: unknown key{hint} Allowed {table}: {', '.join(allowed)}.")
            continue
        field = model.model_fields.get(leaf) if model else None
        meaning = f" ({field.description})" if field is not None and field.description else ""
        if err["type"] == "missing":
            problems.append(f"`{key}`: missing{meaning}. Fix: add `{leaf} = ...` {table}.")
            continue
        expected = _expected(err, field.annotation if field is not None else None)
        found, value = _lookup(raw, loc)
        got = f", got {value!r}" if found and "got " not in expected else ""
        origin = " (from the command line)" if key in overrides else ""
        problems.append(f"`{key}`: expected {expected}{got}{origin}{meaning}. Fix: change `{leaf}` {table}.")
    return problems
