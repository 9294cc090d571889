"""The `tensorrt-stubs` 10.13 type stubs, made usable by mypy: copied out of site-packages (where they sit in a
`tensorrt` folder without a py.typed marker, so mypy would not read them) and with their two kinds of syntax error
repaired: a parameter without a default after ones with defaults (`add_scale_nd`) gets `= ...`; a parameter named
after a Python keyword (`in` of the plugin API) gets a trailing underscore. And the module's `bool` (TensorRT's
DataType.BOOL) shadows the builtin in every `-> bool`, which mypy would read as no type at all: those say builtins.bool."""
from __future__ import annotations

import ast
import importlib.util
import keyword
import re
import shutil
from pathlib import Path
from typing import Optional


def stubs_root() -> Optional[Path]:
    spec = importlib.util.find_spec("tensorrt_bindings")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))).parent
    return root if (root / "tensorrt" / "__init__.pyi").exists() else None


def _repair(text: str, name: str) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(100):
        try:
            ast.parse("".join(lines), name)
            return "".join(lines)
        except SyntaxError as exc:
            i = (exc.lineno or 0) - 1
            line = lines[i]
            head, args, tail = re.match(r"(\s*def \w+\()(.*)(\)\s*->.*)", line, re.S).groups()
            parts, seen_default = [], False
            for part in args.split(", "):
                name = part.split(":")[0].strip()
                if keyword.iskeyword(name):
                    part = part.replace(name, name + "_", 1)
                seen_default |= "=" in part
                parts.append(part + " = ..." if seen_default and "=" not in part and part.strip() not in ("*", "self") else part)
            lines[i] = head + ", ".join(parts) + tail
    raise RuntimeError(f"{name}: could not repair the stubs")


def write_typings(dest: Path) -> Path:
    """dest/tensorrt and dest/tensorrt_bindings, parseable; dest is what mypy_path must name."""
    root = stubs_root()
    if root is None:
        raise FileNotFoundError("tensorrt-stubs is not installed (pip install --no-deps tensorrt-stubs==10.13.0.35.1)")
    for package in ("tensorrt", "tensorrt_bindings"):
        shutil.rmtree(dest / package, ignore_errors=True)
        (dest / package).mkdir(parents=True)
        for stub in (root / package).glob("*.pyi"):
            text = _repair(stub.read_text(), stub.name)
            if re.search(r"^bool: ", text, re.M):
                text = re.sub(r"(->\s*|:\s*|\[)bool\b", r"\1builtins.bool", text)
                text = re.sub(r"^(from __future__ import .*\n)?", lambda m: (m.group(0) or "") + "import builtins\n", text, count=1)
            (dest / package / stub.name).write_text(text)
    return dest
