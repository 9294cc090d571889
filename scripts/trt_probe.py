"""What NVIDIA's TensorRT binding module of one generation holds, as JSON on stdout: every public class with its
members (methods with their pybind11 signatures, properties), every enum with its members' values, and the module's
functions. Run in a process whose `tensorrt` is that module (tests/engine/real_trt.py sets one up)."""
import inspect
import json
import sys

import tensorrt as trt


def signatures(fn) -> list[str]:
    """pybind11 writes each overload's signature as a line of __doc__: `name(self: C, a: int, b: int = 0) -> R`,
    numbered `1. name(...)` when there are several (after a `name(*args, **kwargs)` header, left out)."""
    name, out = getattr(fn, "__name__", ""), []
    for line in (getattr(fn, "__doc__", None) or "").splitlines():
        line = line.strip()
        head, sep, rest = line.partition(". ")
        line = rest if sep and head.isdigit() else line
        if line.startswith(f"{name}(") and not line.startswith(f"{name}(*args, **kwargs)"):
            out.append(line.replace("tensorrt_bindings.tensorrt.", ""))
    return out


def members(cls) -> dict:
    out: dict = {}
    for klass in cls.__mro__:
        if klass.__module__ == "builtins" or klass.__name__.startswith("pybind11"):
            continue
        for name, value in vars(klass).items():
            if (name.startswith("_") and name != "__init__") or name in out:
                continue
            if inspect.isclass(value):
                out[name] = {"kind": "class"}
            elif isinstance(value, property):
                out[name] = {"kind": "property", "writable": value.fset is not None}
            elif isinstance(value, staticmethod) or callable(value) and not inspect.isclass(value):
                out[name] = {"kind": "method", "signatures": signatures(getattr(value, "__func__", value))}
            else:
                out[name] = {"kind": "attribute"}
    return out


api: dict = {"version": trt.__version__, "functions": {}, "classes": {}, "enums": {}}
for name, value in vars(trt).items():
    if name.startswith("_"):
        continue
    if inspect.isclass(value):
        api["classes"][name] = members(value)
        for qualified, klass in [(name, value), *((f"{name}.{n}", v) for n, v in vars(value).items()
                                                  if inspect.isclass(v) and not n.startswith("_"))]:
            if isinstance(getattr(klass, "__members__", None), dict):
                api["enums"][qualified] = {k: int(v) for k, v in klass.__members__.items()}
    elif callable(value):
        api["functions"][name] = signatures(value)
    else:
        api["functions"].setdefault(name, [])   # a module constant (DataType aliases, __version__ is left out)
json.dump(api, sys.stdout, sort_keys=True)
