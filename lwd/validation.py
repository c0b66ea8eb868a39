"""Validation errors told the way a user reads a TOML file: the key as written (``agents[1].n_ctx``), the table
it sits in, what was expected, what was got, where it came from (the file or the command line) and the fix —
with a "did you mean" for unknown keys. Used for scenario files and sweep files alike.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from lwd.agents.config import config_model
from lwd.internet import topologies
from lwd.internet.topologies import Topology, TopologyError

__all__ = ["describe"]


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: itself, or the element model of a tuple/list of models."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    if typing.get_origin(annotation) in (tuple, list) and len(args) == 1:
        return _inner_model(args[0])
    return None


def _walk(root: type[BaseModel], loc: tuple, raw: Any) -> tuple[str, type[BaseModel] | None]:
    """(the key as a user writes it, e.g. ``agents[1].n_ctx``; the model that owns the last part)."""
    model: type[BaseModel] | None = root
    shown: list[str] = []
    for depth, part in enumerate(loc):
        if isinstance(part, int):
            shown[-1] = f"{shown[-1]}[{part}]"
        elif model is not None and part in model.model_fields:
            shown.append(part)
            model = _inner_model(model.model_fields[part].annotation)
            if model is not None and issubclass(model, Topology):  # the class its `name` registers
                model = _topology_class(_lookup(raw, loc[: depth + 1])[1])
        elif config_model(str(part)) is not None:  # the backend tag pydantic puts in a union's path
            model = config_model(str(part))
        else:
            shown.append(str(part))
            model = None
    return ".".join(shown), model


def _topology_class(table: Any) -> type[BaseModel]:
    name = table.get("name") if isinstance(table, dict) else None
    try:
        return topologies.get(name) if isinstance(name, str) else Topology
    except TopologyError:
        return Topology


def _lookup(raw: Any, loc: tuple) -> tuple[bool, Any]:
    node = raw
    for part in loc:
        if isinstance(node, dict) and part not in node and config_model(str(part)) is not None:
            continue  # a backend tag in pydantic's path, not a key of the file
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


def describe(
    exc: ValidationError, raw: dict[str, Any], overrides: dict[str, Any], root: type[BaseModel]
) -> list[str]:
    """One line per problem: the key as written in the file, what was expected, what was got, the fix."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if not loc:  # a rule about the whole file; its message names the keys and the fix
            problems.append(err["msg"].removeprefix("Value error, ") + ".")
            continue
        if err["type"] == "unknown_backend":
            loc = (*loc, "backend")
        key, _ = _walk(root, loc, raw)
        parent_key, owner = _walk(root, loc[:-1], raw)
        leaf = str(loc[-1])
        table = f"under [{parent_key}]" if parent_key else "at the top level"
        if parent_key.startswith("agents["):
            found, name = _lookup(raw, (*loc[:2], "name"))
            table = f"in [[agents]] #{int(loc[1]) + 1}" + (f" (name = {name!r})" if found else "")
        if err["type"] == "extra_forbidden":
            allowed = list(owner.model_fields) if owner else []
            guess = difflib.get_close_matches(leaf, allowed, n=1)
            hint = f"; did you mean `{guess[0]}`?" if guess else "."
            problems.append(f"`{key}`: unknown key{hint} Allowed {table}: {', '.join(allowed)}.")
            continue
        field = owner.model_fields.get(leaf) if owner else None
        meaning = f" ({field.description})" if field is not None and field.description else ""
        if err["type"] == "missing":
            problems.append(f"`{key}`: missing{meaning}. Fix: add `{leaf} = ...` {table}.")
            continue
        origin = " (from the command line)" if key in overrides else ""
        said = err["msg"].removeprefix("Value error, ")
        if err["type"] == "value_error" and ("Fix:" in said or not said.startswith("expected")):
            fix = "" if "Fix:" in said else f". Fix: change `{leaf}` {table}"
            problems.append(f"`{key}`: {said}{origin}{fix}.")  # a message that already says it all
            continue
        expected = _expected(err, field.annotation if field is not None else None)
        found, value = _lookup(raw, loc)
        got = f", got {value!r}" if found and "got " not in expected else ""
        problems.append(f"`{key}`: expected {expected}{got}{origin}{meaning}. Fix: change `{leaf}` {table}.")
    return problems
