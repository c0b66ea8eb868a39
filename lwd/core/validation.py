"""Validation as a user reads a TOML file: the key as written (``agents[1].n_ctx``), the table it sits in, what
was expected, what was got, where it came from (the file or the command line) and the fix — with a "did you
mean" for unknown keys. Used for scenario files and sweep files alike.

A validator that knows the fix raises :class:`Invalid` (a ``ValueError`` carrying ``fix``); the message of any
other ``ValueError`` gets the generic fix "change the key". Numbers are numbers: ``true``/``false`` is refused
where an integer or a number is expected (pydantic would read ``true`` as 1).

Knows nothing of lwd's own models: a tagged union (pydantic ``Discriminator`` + ``Tag``) is read from its
annotation, and a table whose class depends on its content (a topology chosen by ``name``) names its class
through a ``resolve_class(table)`` classmethod on the model the field declares.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Tag, ValidationError, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from lwd.core.errors import ConfigError

__all__ = [
    "FrozenModel",
    "Invalid",
    "describe",
    "parse_toml",
    "read_toml",
    "set_dotted",
    "finite",
    "validate_each",
    "number_in_quotes",
    "refuse_quoted",
]


class Invalid(ValueError):
    """A validator's refusal that says its own fix (printed as ``… Fix: <fix>.``, by :func:`describe` and by
    pydantic's own message alike)."""

    def __init__(self, message: str, fix: str | None = None):
        self.message = message.rstrip(". ")
        self.fix = fix.rstrip(". ") if fix else None
        super().__init__(f"{self.message}. Fix: {self.fix}" if self.fix else self.message)


def _numeric(annotation: Any) -> bool:
    """Whether a field takes numbers (int or float, alone or in a union or a container) and not booleans."""
    annotation = _unwrap(annotation)
    if annotation is bool:
        return False
    if annotation in (int, float):
        return True
    args = typing.get_args(annotation)
    return bool(args) and bool not in args and any(_numeric(a) for a in args if a is not Ellipsis)


def _takes_text(annotation: Any) -> bool:
    """Whether a field takes strings somewhere (str, a str enum, a path, a Literal of strings, in a union or a
    container): a quoted value there may be meant as text."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type):
        return issubclass(annotation, str | Path)
    if typing.get_origin(annotation) is typing.Literal:
        return any(isinstance(a, str) for a in typing.get_args(annotation))
    return any(_takes_text(a) for a in typing.get_args(annotation) if a is not Ellipsis)


def number_in_quotes(value: Any) -> str | None:
    """``value`` as a TOML number if it is a string that holds one (``"0.5"`` -> ``0.5``), else None."""
    if not isinstance(value, str):
        return None
    try:
        number = tomllib.loads(f"x = {value.strip()}")["x"]
    except (tomllib.TOMLDecodeError, ValueError):
        return None
    return value.strip() if isinstance(number, int | float) and not isinstance(number, bool) else None


class FrozenModel(BaseModel):
    """Base of every table a user writes: immutable, unknown keys refused, NaN and infinity refused; numbers
    are TOML numbers: no ``true``/``false`` and no quoted number (``"0.5"``) where a number is expected —
    one rule for every key (pydantic would read ``true`` as 1 and ``"3"`` as 3 in some fields only)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        items = value if isinstance(value, list | tuple) else [value]
        field = cls.model_fields.get(info.field_name or "")
        if field is None or not _numeric(field.annotation):
            return value
        if any(isinstance(v, bool) for v in items):
            raise ValueError(f"expected a number, not true or false, got {json.dumps(value)}")
        if not _takes_text(field.annotation):
            refuse_quoted(items)
        return value


def refuse_quoted(values: list[Any], where: str = "") -> None:
    """An :class:`Invalid` for numbers written in quotes (``"0.5"``) among ``values``: TOML numbers are
    numbers, everywhere in a scenario."""
    quoted = [v for v in values if number_in_quotes(v) is not None]
    if quoted:
        raise Invalid(
            f"{where}expected a number, got the quoted text {', '.join(json.dumps(v) for v in quoted)}",
            fix=f"write the number without quotes: {', '.join(number_in_quotes(v) for v in quoted)}",
        )


def validate_each(
    items: Any, choose: typing.Callable[[Any], type[BaseModel]], title: str, unknown: str
) -> tuple[BaseModel, ...]:
    """Each table of a list validated by the model ``choose(table)`` names (a model open to other packages,
    where a tagged union would be closed), every problem kept with its place: ``(index, key, …)``. ``choose``
    raising ConfigError is reported at the table as the error type ``unknown`` with its message."""
    done, problems = [], []
    for index, table in enumerate(items):
        if isinstance(table, BaseModel):
            done.append(table)
            continue
        try:
            model = choose(table if isinstance(table, dict) else {})
        except ConfigError as exc:
            problems.append(
                InitErrorDetails(
                    type=PydanticCustomError(unknown, "{said}", {"said": exc.message}),
                    loc=(index,),
                    input=table,
                )
            )
            continue
        try:
            done.append(model.model_validate(table))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                kind = err["type"]
                try:
                    ValidationError.from_exception_data(title, [{"type": kind, "ctx": err.get("ctx") or {}}])
                except (KeyError, TypeError):  # a custom type: its message as it was
                    kind = PydanticCustomError(kind, "{said}", {"said": err["msg"]})
                except ValidationError:
                    pass  # a known type: kept with its context
                problems.append(
                    InitErrorDetails(
                        type=kind, loc=(index, *err["loc"]), input=err.get("input"), ctx=err.get("ctx") or {}
                    )
                )
    if problems:
        raise ValidationError.from_exception_data(title, problems)
    return tuple(done)


def finite(value: Any) -> bool:
    """A real number (not a bool), neither NaN nor infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# -- reading files ------------------------------------------------------------------------------------------


def read_toml(path: Path, what: str, hint: str) -> tuple[str, dict[str, Any]]:
    """(text, parsed table) of a TOML file; a :class:`ConfigError` naming the file for anything unreadable.

    ``what`` is "scenario" or "sweep"; ``hint`` says where to find valid files."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError.invalid(
            what,
            str(path),
            [f"file not found: expected a TOML {what} file at {path}, but it {problem}. {hint}"],
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError.invalid(
            what,
            str(path),
            [
                f"not UTF-8 text (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r}): expected a TOML "
                f"file. Fix: save it as UTF-8, or check that {path.name} is the file you meant"
            ],
        ) from None
    except OSError as exc:
        raise ConfigError.invalid(what, str(path), [f"cannot read it: {exc.strerror}"]) from None
    return text, parse_toml(text, str(path), what)


def parse_toml(text: str, source: str, what: str) -> dict[str, Any]:
    """TOML text parsed, or a :class:`ConfigError` with the position of the syntax error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.invalid(
            what,
            source,
            [
                f"malformed TOML: {exc}. Fix the syntax at that position "
                "(strings need quotes, tables are written [name], keys as key = value)."
            ],
        ) from None


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """``raw["a"]["b"] = value`` for ``dotted = "a.b"``, creating tables on the way."""
    *parents, leaf = dotted.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


# -- walking a model along an error's location ---------------------------------------------------------------

Target = type[BaseModel] | dict[str, type[BaseModel]] | None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _target(annotation: Any) -> Target:
    """What a field holds: a model, a tagged union of models (tag -> model), or neither. Containers (tuples,
    lists) are looked through: their elements are what an index in an error's location points at."""
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (tuple, list):
        elements = [a for a in args if a is not Ellipsis]
        return _target(elements[0]) if len(elements) == 1 else None
    if origin in (typing.Union, types.UnionType):
        tagged = {}
        for arg in args:
            if typing.get_origin(arg) is Annotated:
                base, *meta = typing.get_args(arg)
                tagged.update({m.tag: base for m in meta if isinstance(m, Tag)})
        return tagged or None
    return None


def _resolve(model: type[BaseModel], table: Any) -> type[BaseModel]:
    resolve = getattr(model, "resolve_class", None)
    return resolve(table) if resolve is not None and isinstance(table, dict) else model


class _Walk(typing.NamedTuple):
    key: str  # as a user writes it: agents[1].n_ctx
    owner: type[BaseModel] | None  # the model the location ends in (whose fields are the next keys)
    found: bool  # the location exists in the raw table
    value: Any  # what the raw table holds there


def _walk(root: type[BaseModel], loc: tuple, raw: Any) -> _Walk:
    target: Target = root
    node, found, shown = raw, True, []
    for part in loc:
        if isinstance(target, dict) and not isinstance(part, int):  # a tagged union: pydantic puts the tag
            if part in target:  # in its path, the file does not
                target = _resolve(target[part], node)
                continue
            target = None
        if found:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                found, node = False, None
        if isinstance(part, int):
            shown[-1:] = [f"{shown[-1]}[{part}]"] if shown else [f"[{part}]"]
            if isinstance(target, type):  # an element of a list of tables: its own content names its class
                target = _resolve(target, node)
            continue
        shown.append(str(part))
        model = target if isinstance(target, type) else None
        if model is not None and part in model.model_fields:
            target = _target(model.model_fields[part].annotation)
            if isinstance(target, type):
                target = _resolve(target, node)
        else:
            target = None
    return _Walk(".".join(shown), target if isinstance(target, type) else None, found, node)


def _get(raw: Any, path: tuple) -> tuple[bool, Any]:
    node = raw
    for part in path:
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
    "finite_number": "a finite number (not nan or inf)",
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
    exc: ValidationError,
    raw: dict[str, Any],
    overrides: dict[str, Any],
    root: type[BaseModel],
    origin: str = "the command line",
) -> list[str]:
    """One line per problem: the key as written in the file, what was expected, what was got, the fix. A value
    that came from ``overrides`` says it came from ``origin``."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        told = cause if isinstance(cause, Invalid) else None  # a refusal that says its own fix
        if not loc:  # a rule about the whole file; its message names the keys (and its fix)
            said = told.message if told else err["msg"].removeprefix("Value error, ").rstrip(".")
            problems.append(f"{said}." + (f" Fix: {told.fix}." if told and told.fix else ""))
            continue
        if err["type"] == "unknown_backend":
            loc = (*loc, "backend")
        here = _walk(root, loc, raw)
        parent = _walk(root, loc[:-1], raw)
        leaf, owner = str(loc[-1]), parent.owner
        table = f"under [{parent.key}]" if parent.key else "at the top level"
        if parent.key.startswith("agents["):
            found, name = _get(raw, (*loc[:2], "name"))
            table = f"in [[agents]] #{int(loc[1]) + 1}" + (f" (name = {name!r})" if found else "")
        source = f" (from {origin})" if here.key in overrides else ""
        if err["type"] == "extra_forbidden":
            allowed = list(owner.model_fields) if owner else []
            guess = difflib.get_close_matches(leaf, allowed, n=1)
            hint = f"; did you mean `{guess[0]}`?" if guess else "."
            problems.append(f"`{here.key}`: unknown key{source}{hint} Allowed {table}: {', '.join(allowed)}.")
            continue
        field = owner.model_fields.get(leaf) if owner else None
        meaning = f" ({field.description})" if field is not None and field.description else ""
        if err["type"] == "missing":
            problems.append(f"`{here.key}`: missing{meaning}. Fix: add `{leaf} = ...` {table}.")
            continue
        said = err["msg"].removeprefix("Value error, ")
        if told is not None:
            problems.append(
                f"`{here.key}`: {told.message}{source}. Fix: {told.fix or f'change `{leaf}` {table}'}."
            )
            continue
        if err["type"] == "value_error" and not said.startswith("expected"):
            problems.append(f"`{here.key}`: {said}{source}. Fix: change `{leaf}` {table}.")
            continue
        expected = _expected(err, field.annotation if field is not None else None)
        got = f", got {here.value!r}" if here.found and "got " not in expected else ""
        problems.append(
            f"`{here.key}`: expected {expected}{got}{source}{meaning}. Fix: change `{leaf}` {table}."
        )
    return problems
