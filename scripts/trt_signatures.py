"""The TensorRT methods the TensorRT layer calls (deployprof/engine/, backends/trt.py), each call's arity and keywords
against the pybind11 signature (`__doc__`) of every overload in NVIDIA's bindings of 8.6, 10.13 and 11.4, as the
Markdown table between the markers of docs/TENSORRT.md. tests/engine/test_real_trt.py keeps that table in step and
fails on a call that fits no overload in a generation that has the method.

    python scripts/trt_signatures.py [--write] API_8.6.json API_10.13.json API_11.4.json   # trt_probe.py's output
prints the table, or with --write puts it into docs/TENSORRT.md.

A call is matched by method name to the TensorRT classes the layer works with: those it names (`trt.ICudaEngine`),
and what the methods it calls on them return (ICudaEngine.create_engine_inspector -> EngineInspector), in any
generation. Receivers are not typed here; mypy, run per generation, checks them. A call on a line marked as a
generation-specific branch (`# type: ignore[..., unused-ignore]`, behind engine/api.py's probes) may be absent from or
not fit the generations the branch does not serve."""
from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = (*sorted((ROOT / "deployprof" / "engine").glob("*.py")), ROOT / "deployprof" / "backends" / "trt.py")
BEGIN, END = "<!-- signatures: begin (scripts/trt_signatures.py) -->", "<!-- signatures: end -->"
# A branch for some generations only (behind engine/api.py's probes) says so to mypy with this code.
GENERATION_BRANCH = "unused-ignore"


@dataclass(frozen=True)
class Call:
    where: str                 # file:line
    name: str                  # method name, or the class of a constructor (`trt.Runtime(...)`)
    positional: int
    keywords: tuple[str, ...]
    starred: bool              # *args or **kwargs: arity unknown
    branch: bool               # marked as a generation-specific branch
    receiver: str = ""         # `trt.ILogger.__init__(self)`: the class, called unbound (self is the first argument)


def calls(files=FILES) -> list[Call]:
    out = []
    for path in files:
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                starred = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
                owner = node.func.value
                receiver = owner.attr if isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name) \
                    and owner.value.id == "trt" else ""
                out.append(Call(f"{path.relative_to(ROOT)}:{node.lineno}", node.func.attr,
                                len(node.args) - bool(receiver), tuple(k.arg for k in node.keywords if k.arg), starred,
                                GENERATION_BRANCH in lines[node.lineno - 1], receiver))
    return out


def split_params(text: str) -> list[str]:
    """Top-level commas only: types hold brackets (`typing.Union[int, str]`)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[(" and 1 or 0
        depth -= ch in "])" and 1 or 0
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [p for p in [*parts, cur.strip()] if p]


def parameters(signature: str) -> list[tuple[str, bool]]:
    """`name(self: C, a: T, b: T = x) -> R` -> [(a, False), (b, True)]: names and whether each has a default."""
    inner = signature[signature.index("(") + 1:signature.rindex(")")]
    params = [(p.split(":")[0].split("=")[0].strip(), "=" in p) for p in split_params(inner)]
    return [p for p in params if p[0] not in ("self", "*", "/")]


def fits(call: Call, params: list[tuple[str, bool]]) -> bool:
    if call.starred:
        return True
    names = [n for n, _ in params]
    rest = params[call.positional:]
    return (call.positional <= len(names) and all(k in [n for n, _ in rest] for k in call.keywords)
            and all(n in call.keywords for n, default in rest if not default))


def named_classes(files=FILES) -> set[str]:
    return {m for path in files for m in re.findall(r"\btrt\.([A-Z]\w*)", path.read_text())}


def overloads(api: dict, name: str, classes: set[str]) -> dict[str, list[str]]:
    """Class -> signatures of `name` (a method of one of `classes`, or a class's constructor) in one generation."""
    if name in api["classes"]:
        return {name: api["classes"][name].get("__init__", {}).get("signatures", [])} if name in classes else {}
    return {c: api["classes"][c][name]["signatures"] for c in sorted(classes & set(api["classes"]))
            if api["classes"][c].get(name, {}).get("kind") == "method"}


def used_classes(apis: dict[str, dict], code: list[Call]) -> set[str]:
    """The classes the layer names, and what the methods it calls on them return, until nothing new is reached."""
    classes = named_classes()
    while True:
        returned = {re.match(r"[\w:]*?(\w+)$", s.rsplit("-> ", 1)[-1].strip()).group(1)
                    for api in apis.values() for call in code for ss in overloads(api, call.name, classes).values()
                    for s in ss if "-> " in s}
        new = {c for c in returned if any(c in api["classes"] for api in apis.values())} - classes
        if not new:
            return classes
        classes |= new


VERDICTS = ("fits", "not in this generation's branch", "absent", "MISMATCH")   # best to worst


def rows(apis: dict[str, dict], code: list[Call]) -> list[dict]:
    """One row per TensorRT method the code calls: where, how, and each generation's verdict (the worst of its calls)
    and signatures."""
    classes, out = used_classes(apis, code), {}
    for call in code:
        found = {gen: overloads(api, call.name, {call.receiver} if call.receiver else classes)
                 for gen, api in apis.items()}
        if not any(found.values()):
            continue  # not a TensorRT method
        key = f"{call.receiver}.{call.name}" if call.receiver else call.name
        row = out.setdefault(key, {"name": key, "calls": [], "generations": {}})
        row["calls"].append(call)
        for gen, by_class in found.items():
            sigs = [(c, s) for c, ss in by_class.items() for s in ss]
            verdict = ("fits" if any(fits(call, parameters(s)) for _, s in sigs) else
                       "not in this generation's branch" if call.branch else "MISMATCH" if sigs else "absent")
            prev = row["generations"].get(gen, {"verdict": "fits", "signatures": []})
            row["generations"][gen] = {"verdict": max(prev["verdict"], verdict, key=VERDICTS.index),
                                       "signatures": sorted({*prev["signatures"], *(f"{c}.{s}" for c, s in sigs)})}
    return sorted(out.values(), key=lambda r: r["name"])


def table(apis: dict[str, dict], code: list[Call]) -> str:
    gens = list(apis)
    lines = ["| method | calls (args, keywords) | " + " | ".join(f"TensorRT {g}" for g in gens) + " |",
             "|---|---|" + "---|" * len(gens)]
    for r in rows(apis, code):
        # file names without line numbers: the table changes when a call does, not when a line above it moves
        shapes = sorted({f"`{Path(c.where.split(':')[0]).name}` ({c.positional}"
                         f"{', ' + ', '.join(c.keywords) if c.keywords else ''})" for c in r["calls"]})
        cells = []
        for g in gens:
            v = r["generations"][g]
            sig = "<br>".join(f"`{_short(s)}`" for s in v["signatures"]) or ""
            cells.append(f"{v['verdict']}" + (f": {sig}" if sig else ""))
        lines.append(f"| `{r['name']}` | {'<br>'.join(shapes)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _short(signature: str) -> str:
    return re.sub(r"self: \w+(, )?", "", signature).replace("typing.", "").replace("|", "\\|")


def replace_section(doc: str, body: str) -> str:
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{body}{END}{tail}"


DOC = ROOT / "docs" / "TENSORRT.md"

if __name__ == "__main__":
    write = "--write" in sys.argv
    files = [a for a in sys.argv[1:] if a != "--write"]
    apis = {re.search(r"(\d+\.\d+)\.json$", p).group(1): json.loads(Path(p).read_text()) for p in files}
    body = table(apis, calls())
    if write:
        DOC.write_text(replace_section(DOC.read_text(), body))
    else:
        print(body, end="")
