"""torch's layer-time pass: torch.profiler over the eager module, with a record_function range per
submodule call (forward hooks, by qualified name, so the paths match the dynamo exporter's name scopes). Each
operator called directly by a module (not inside another operator) is one unit: its CPU time, or on CUDA the time
of the kernels it launched (device time, not launch time). On the CPU, a module's own Python between its operators
(the interpreter, the dispatcher) is a unit of its own, `(python)`: time the module's forward took."""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Callable

from .layer_pass import PROFILE_WARMUP, Timed, Unit, timed_calls

PREFIX = "deployprof.module:"
PYTHON = "(python)"
# bytes per element of the dtypes torch.profiler names (record_shapes); an input of another type counts nothing
DTYPE_BYTES = {"float": 4, "double": 8, "c10::Half": 2, "c10::BFloat16": 2, "long int": 8, "int": 4, "short int": 2,
               "signed char": 1, "unsigned char": 1, "bool": 1, "c10::Float8_e4m3fn": 1, "c10::Float8_e5m2": 1}


def _flops(event) -> int:
    """What torch counted for an operator: its own and every operator it called (aten::linear's are its addmm's)."""
    return int(event.flops or 0) + sum(_flops(c) for c in event.cpu_children)


def _input_bytes(event) -> int:
    """The bytes of an operator's tensor inputs (record_shapes gives no outputs); scalars and lists count nothing."""
    return sum(math.prod(shape) * DTYPE_BYTES.get(dtype, 0)
               for shape, dtype in zip(event.input_shapes or (), event.input_dtypes or ())
               if isinstance(shape, (list, tuple)) and shape and all(isinstance(d, int) for d in shape))


def torch_layer_times(module, call: Callable[[], object], sync: Callable[[], None], runs: int, budget_s: float,
                      cuda: bool) -> Timed:
    from torch.profiler import ProfilerActivity, profile, record_function

    names = {m: n for n, m in module.named_modules() if n}
    ranges: list = []

    def enter(m, args):
        r = record_function(PREFIX + names[m])
        r.__enter__()
        ranges.append(r)

    def leave(m, args, out):
        ranges.pop().__exit__(None, None, None)

    handles = [h for m in names for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
    try:
        for _ in range(PROFILE_WARMUP):
            call()
            sync()
        def step() -> None:
            call()
            sync()

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities, record_shapes=True, with_flops=True) as prof:
            walls = timed_calls(step, runs, budget_s, warmup=0)
    finally:
        for h in handles:
            h.remove()
        ranges.clear()
    totals: defaultdict[tuple[tuple[str, ...], str], float] = defaultdict(float)
    work: defaultdict[tuple[tuple[str, ...], str], list[int]] = defaultdict(lambda: [0, 0])
    for e in prof.events():
        path: list[str] = [e.name[len(PREFIX):]] if e.name.startswith(PREFIX) else []
        parent = e.cpu_parent
        while parent is not None and parent.name.startswith(PREFIX):
            path.append(parent.name[len(PREFIX):])
            parent = parent.cpu_parent
        if parent is not None:  # inside an operator: counted in that one's time
            continue
        if not e.name.startswith(PREFIX):
            us = e.device_time_total if cuda else e.cpu_time_total
            key = (tuple(reversed(path)), e.name)
            totals[key] += us / 1e3
            work[key][0] += _flops(e)
            work[key][1] += _input_bytes(e)
        elif not cuda:  # the module's own Python between its operators and submodules: its time too, on the CPU
            own = e.cpu_time_total - sum(c.cpu_time_total for c in e.cpu_children)
            totals[(tuple(reversed(path)), PYTHON)] += max(own, 0.0) / 1e3
    n = max(len(walls), 1)
    units = tuple(Unit(f"{path[-1] if path else '(stage)'}/{op}", ms / n, op_type=op, module_path=path,
                       **({} if op == PYTHON else {"flops": work[(path, op)][0] // n, "bytes": work[(path, op)][1] // n}))
                  for (path, op), ms in totals.items())
    return Timed("torch-profiler", len(walls), statistics.fmean(walls) if walls else 0.0, units)
