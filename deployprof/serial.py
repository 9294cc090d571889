"""Dataclasses to JSON and back, and the JSON Schema of the same dataclasses: one mapping, so that what is written,
what is read and what is documented cannot drift apart."""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


def _inner(hint: Any) -> list:
    return [a for a in typing.get_args(hint) if a is not type(None)]


def _expect(ok: bool, where: str, what: str, value: Any) -> None:
    if not ok:
        shown = repr(value) if len(repr(value)) < 40 else f"a {type(value).__name__}"
        raise TypeError(f"{where} expects {what}, got {shown}")


def _build(hint: Any, value: Any, where: str) -> Any:
    """`value` read back as `hint`, its type checked (a string where a number belongs is an error naming the field,
    never a value that fails later)."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = _inner(hint)
        return _build(inner[0], value, where) if len(inner) == 1 else value
    if dataclasses.is_dataclass(hint):
        _expect(isinstance(value, dict), where, "an object", value)
        return from_dict(hint, value, where)
    if origin in (tuple, list):
        _expect(isinstance(value, list), where, "a list", value)
        if origin is list:
            return [_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
        if len(args) == 2 and args[1] is Ellipsis:
            if args[0] is float and all(type(v) is float for v in value):  # samples: millions of them, checked at once
                return tuple(value)
            return tuple(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        _expect(len(value) == len(args), where, f"{len(args)} items", value)
        return tuple(_build(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        _expect(isinstance(value, dict), where, "an object", value)
        return {k: _build(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        _expect(isinstance(value, (int, float)) and not isinstance(value, bool), where, "a number", value)
        return float(value)
    if hint is int:
        _expect(isinstance(value, int) and not isinstance(value, bool), where, "an integer", value)
    elif hint is str or typing.get_origin(hint) is typing.Literal and all(isinstance(a, str) for a in args):
        _expect(isinstance(value, str), where, "a string", value)
    elif hint is bool:
        _expect(isinstance(value, bool), where, "true or false", value)
    return value


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    where = where or cls.__name__
    kwargs = {f.name: _build(hints[f.name], data[f.name], f"{where}.{f.name}") for f in dataclasses.fields(cls)
              if f.name in data}
    return cls(**kwargs)


_SCALARS = {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"}, bool: {"type": "boolean"},
            type(None): {"type": "null"}}


def _schema(hint: Any, defs: dict) -> dict:
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if hint is Any or hint is object:
        return {}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if dataclasses.is_dataclass(hint):
        define(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema(a, defs) for a in args]}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema(args[0], defs)}
        if not args:
            return {"type": "array"}
        return {"type": "array", "prefixItems": [_schema(a, defs) for a in args], "items": False}
    if origin is list or hint is list:
        return {"type": "array", "items": _schema(args[0], defs) if args else {}}
    if origin is dict or hint is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs) if args else {}}
    raise TypeError(f"no JSON Schema mapping for {hint!r}")


def define(cls: type, defs: dict) -> dict:
    """Add `cls` (and every dataclass it holds) to `defs`: its fields, those without a default required."""
    if cls.__name__ in defs:
        return defs[cls.__name__]
    defs[cls.__name__] = {}  # placeholder against recursion
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    props = {f.name: _schema(hints[f.name], defs) for f in fields}
    required = [f.name for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]  # type: ignore[misc]
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    body = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
    if doc and not doc.startswith(cls.__name__ + "("):
        body["description"] = " ".join(doc.split())
    defs[cls.__name__] = body
    return body
