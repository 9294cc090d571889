"""The command line's machinery: how errors become exit codes, the shared options (generated from the option table,
deployprof/options.py) and parameter types."""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import sys
from typing import Optional

import click

from .config import LIMITS, parse_depth
from .errors import ConfigError, DeployprofError
from . import results
from .options import OPTIONS, Option
from .report.progress import PhaseBar


_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EPIPE, errno.EFBIG}


class Group(click.Group):
    """The one place errors become exit codes: a DeployprofError is one `error:` line (exit 1); anything else is
    a bug, still one line unless -v asks for the traceback; Ctrl-C is `error: interrupted` (exit 130), also when a
    library caught the KeyboardInterrupt and raised something else (torch's exporter does)."""

    def invoke(self, ctx: click.Context):
        interrupted: list[bool] = []

        def on_sigint(signum, frame):
            interrupted.append(True)
            raise KeyboardInterrupt

        import signal
        import threading

        previous = signal.getsignal(signal.SIGINT)
        own = previous is signal.default_int_handler and threading.current_thread() is threading.main_thread()
        if own:  # a SIGINT the caller chose to ignore (nohup, `cmd &`) stays ignored
            signal.signal(signal.SIGINT, on_sigint)
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BaseException as exc:
            if interrupted or isinstance(exc, KeyboardInterrupt):
                click.echo("error: interrupted (an output folder being written is marked INCOMPLETE)", err=True)
                ctx.exit(130)
            if isinstance(exc, DeployprofError):
                lines = str(exc).splitlines() or [type(exc).__name__]
                click.echo(f"error: {lines[0]}", err=True)
                if ctx.meta.get("verbose") and len(lines) > 1:
                    click.echo("\n".join(lines[1:]), err=True)
                ctx.exit(1)
            if not isinstance(exc, Exception):  # SystemExit, GeneratorExit: not ours to reword
                raise
            if isinstance(exc, OSError) and exc.errno in _CANNOT_WRITE:  # the machine's state, not a bug
                where = exc.filename or "the output"
                if not exc.filename:  # stdout itself: drop what is still buffered so the exit does not fail again
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 1)
                    os.close(devnull)
                click.echo(f"error: cannot write {where}: {exc.strerror}; free space, or write somewhere else", err=True)
                ctx.exit(1)
            if ctx.meta.get("verbose"):
                import traceback
                traceback.print_exc()
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            click.echo(f"error: internal error ({type(exc).__name__}: {first}); this is a deployprof bug, please "
                       "report it with the command (-v prints the traceback)", err=True)
            ctx.exit(1)
        finally:
            if own:
                signal.signal(signal.SIGINT, previous)


class Finite(click.ParamType):
    """A finite float within [lo, hi] (click's FloatRange lets nan through)."""
    name = "number"

    def __init__(self, lo: Optional[float] = None, hi: Optional[float] = None, open_lo: bool = False):
        self.lo, self.hi, self.open_lo = lo, hi, open_lo

    def convert(self, value, param, ctx):
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(v) or (self.lo is not None and (v < self.lo or (self.open_lo and v == self.lo))) \
                or (self.hi is not None and v > self.hi):
            lo = "" if self.lo is None else f"{'>' if self.open_lo else '>='} {self.lo:g}"
            hi = "" if self.hi is None else f"<= {self.hi:g}"
            self.fail(f"{value!r} must be a finite number {' and '.join(x for x in (lo, hi) if x)}", param, ctx)
        return v


POSITIVE = Finite(0, open_lo=True)
COUNT = click.IntRange(min=1)


def within(key: str) -> click.ParamType:
    """The click type of a measurement setting, from its range in config.LIMITS (which sweep files obey too)."""
    lo, hi = LIMITS[key]
    return click.IntRange(lo, hi) if isinstance(lo, int) else Finite(lo, hi, open_lo=True)


class _Depth(click.ParamType):
    """--depth: config.parse_depth, its refusal as a usage error."""
    name = "auto|N"

    def convert(self, value, param, ctx):
        try:
            return parse_depth(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


DEPTH = _Depth()


def _apply(f, opts):
    for o in reversed(opts):
        f = o(f)
    return f


def table_option(opt: Option):
    """The click option of one entry of the option table (deployprof/options.py)."""
    kwargs: dict = dict(help=opt.help or None, metavar=opt.metavar)
    if opt.kind == "flag":
        return click.option(opt.flag, opt.name, is_flag=True, **kwargs)
    if opt.kind == "repeat":
        return click.option(opt.flag, opt.name, multiple=True, **kwargs)
    lo, hi, open_lo = opt.range()
    kinds = {"int": lambda: click.IntRange(lo, hi), "float": lambda: Finite(lo, hi, open_lo=open_lo),
             "choice": lambda: click.Choice(opt.choices), "depth": lambda: DEPTH,
             "path": lambda: click.Path(exists=True, dir_okay=opt.folder_ok)}
    decl = f"{opt.flag}/--no-{opt.flag[2:]}" if opt.kind == "switch" else opt.flag
    return click.option(decl, opt.name, type=kinds[opt.kind]() if opt.kind in kinds else None, default=opt.default,
                        show_default=opt.default not in (None, ""), **kwargs)


def _table(group: str, names: Optional[set] = None):
    def decorate(f):
        return _apply(f, [table_option(o) for o in OPTIONS if o.group == group and (names is None or o.name in names)])
    return decorate


shape_options = _table("measure", {"dim", "shape"})
measure_options = _table("measure")
precision_options = _table("precision")
reference_option = _table("accuracy")
profile_options = _table("profile")
export_options = _table("profile", {"exporter", "task"})


def force_option(f):
    """--force for a command that writes a run folder (deployprof/runfolder.py decides what it may replace)."""
    return click.option("--force", is_flag=True,
                        help="Replace another run's files in --out (files deployprof did not write are never touched).")(f)


def store_options(f):
    """Where the result is also appended (results store, history, baselines); popped with cli.storing.store_from()."""
    return _apply(f, [
        click.option("--store", "store_where", default=None, metavar="PATH|URL",
                     help="Results store: a SQLite file or a database URL (default: $DEPLOYPROF_STORE, else "
                          "~/.local/share/deployprof/results.sqlite)."),
        click.option("--no-store", is_flag=True, help="Do not append this result to the results store."),
        click.option("--commit", default=None, envvar="DEPLOYPROF_COMMIT", metavar="REV",
                     help="The policy's commit or version this result belongs to (history; $DEPLOYPROF_COMMIT)."),
    ])


def json_option(f):
    """--json: stdout carries the one JSON object and nothing else. While the command works, stdout (Python's and
    file descriptor 1, which C libraries and child processes write to) goes to stderr; `emit_json` writes to the
    real one."""
    def redirect(ctx: click.Context, param, value: bool) -> bool:
        if value:
            ctx.meta["json_stdout"] = ctx.with_resource(stdout_to_stderr())
        return value

    return click.option("--json", "as_json", is_flag=True, callback=redirect, expose_value=True,
                        help="Print one JSON object on stdout (schema: docs/schema.json).")(f)


@contextlib.contextmanager
def stdout_to_stderr():
    """Everything written to stdout goes to stderr; yields a file on the real stdout."""
    real = sys.stdout
    real.flush()
    try:
        fd = real.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (click's test runner): Python's stdout only
        fd = None
    saved = None
    if fd is not None:
        saved = os.dup(fd)
        os.dup2(sys.stderr.fileno(), fd)
        out = os.fdopen(os.dup(saved), "w", encoding="utf-8")
    else:
        out = real
    sys.stdout = sys.stderr
    try:
        yield out
    finally:
        sys.stdout.flush()
        sys.stdout = real
        if saved is not None:
            out.close()
            os.dup2(saved, fd)
            os.close(saved)


def emit_json(text: str) -> None:
    """The --json document, on the real stdout (see json_option)."""
    ctx = click.get_current_context(silent=True)
    out = ctx.meta.get("json_stdout") if ctx is not None else None
    click.echo(text, file=out)
    if out is not None:
        out.flush()


def train_options(f):
    return _apply(f, [
        click.option("--batch", type=COUNT, default=8, show_default=True),
        click.option("--steps", type=COUNT, default=30, show_default=True, help="Training steps (warm-up included)."),
        click.option("--warmup-steps", type=click.IntRange(min=0), default=3, show_default=True, help="Steps left out of the step-time statistics."),
        click.option("--dataset-size", type=COUNT, default=256, show_default=True, help="Synthetic samples (for time per epoch)."),
        click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), default="adamw", show_default=True),
        click.option("--lr", type=POSITIVE, default=1e-3, show_default=True),
        click.option("--mixed-precision", is_flag=True, help="bf16 autocast on CPU, fp16 autocast with grad scaling on CUDA."),
        click.option("--grad-checkpointing", is_flag=True, help="Recompute each stage's activations in the backward pass."),
        click.option("--freeze-vision", is_flag=True, help="Freeze the vision encoder (fine-tune the rest)."),
        click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1."),
        click.option("--converge-fraction", type=Finite(0, 1, open_lo=True), default=0.5, show_default=True,
                     help="Converged when the loss (3-step mean) falls below this fraction of the first step's..."),
        click.option("--loss-threshold", type=POSITIVE, default=None, help="...or below this absolute value."),
        click.option("--target", "target_name", default=None, help="Target profile for model FLOPs utilisation (e.g. cpu, h100-sxm)."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True),
    ])


def emit(result) -> None:
    """A command's --json: its result in the one versioned envelope (docs/schema.json; read from the package at each
    call, where the tests check every document against the schema)."""
    emit_json(json.dumps(results.document(result), indent=1))


def terminal():
    """report/terminal, loaded by the commands that print tables or progress only (it brings rich), and told -q."""
    from .report import terminal as module

    ctx = click.get_current_context(silent=True)
    module.QUIET = bool(ctx is not None and ctx.meta.get("quiet"))
    return module


def progress(live: bool = True) -> PhaseBar:
    """live=False where the timed work runs in this very process (--in-process, precision-debug, train-bench): the
    bar then moves between phases only."""
    return PhaseBar(terminal().stderr_console(), live=live)
