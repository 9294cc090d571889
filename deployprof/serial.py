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


def _build(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = _inner(hint)
        return _build(inner[0], value) if len(inner) == 1 else value
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in value)
        return tuple(_build(a, v) for a, v in zip(args, value))
    if origin is list:
        return [_build(args[0], v) for v in value]
    if origin is dict:
        return {k: _build(args[1], v) for k, v in value.items()}
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def from_dict(cls: type, data: dict) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _build(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data}
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
