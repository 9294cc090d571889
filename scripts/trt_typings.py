"""pybind11-stubgen's stubs of NVIDIA's `tensorrt_bindings` made into a `tensorrt` package mypy reads:
- the folder and every qualified name renamed (`tensorrt_bindings.` -> `tensorrt.`);
- the two kinds of syntax error the generated stubs have repaired: a parameter named after a Python keyword (`in`,
  in the plugin API) gets a trailing underscore; a parameter without a default after ones with defaults
  (`add_scale_nd`) gets `= ...`;
- the module's `bool` (TensorRT's DataType.BOOL, which shadows the builtin in every `-> bool`) spelled
  `builtins.bool` where a type is meant.

    python scripts/trt_typings.py STUBS/tensorrt_bindings DEST    # writes DEST/tensorrt/*.pyi
"""
from __future__ import annotations

import ast
import keyword
import re
import shutil
import sys
from pathlib import Path


def _repair(text: str, name: str) -> str:
    """Mend each line Python cannot parse (one `def` line each), until the file parses."""
    lines = text.splitlines(keepends=True)
    for _ in range(1000):
        try:
            ast.parse("".join(lines), name)
            return "".join(lines)
        except SyntaxError as exc:
            i = (exc.lineno or 0) - 1
            m = re.match(r"(\s*def \w+\()(.*)(\)\s*->.*)", lines[i], re.S)
            if m is None:
                raise RuntimeError(f"{name}:{i + 1}: cannot repair: {lines[i].strip()}") from None
            head, args, tail = m.groups()
            parts, seen_default = [], False
            for part in args.split(", "):
                arg = part.split(":")[0].strip()
                if keyword.iskeyword(arg):
                    part = part.replace(arg, arg + "_", 1)
                seen_default |= "=" in part
                parts.append(part + " = ..." if seen_default and "=" not in part and part.strip() not in ("*", "self")
                             else part)
            lines[i] = head + ", ".join(parts) + tail
    raise RuntimeError(f"{name}: too many lines to repair")


def convert(text: str, name: str) -> str:
    text = _repair(re.sub(r"\btensorrt_bindings\b", "tensorrt", text), name)
    if re.search(r"^bool: ", text, re.M):
        text = re.sub(r"(->\s*|:\s*|\[|\|\s*|,\s*)bool\b", r"\1builtins.bool", text)
        text = re.sub(r"^(from __future__ import .*\n)?", lambda m: (m.group(0) or "") + "import builtins\n", text, count=1)
    return text


def main(src: str, dest: str) -> None:
    source, package = Path(src), Path(dest) / "tensorrt"
    if not (source / "__init__.pyi").exists():
        sys.exit(f"error: no stubs in {source} (pybind11-stubgen failed: see stubgen.log beside it)")
    shutil.rmtree(package, ignore_errors=True)
    package.mkdir(parents=True)
    for stub in source.glob("*.pyi"):
        (package / stub.name).write_text(convert(stub.read_text(), stub.name))


if __name__ == "__main__":
    main(*sys.argv[1:3])
