"""Phase progress on stderr. Refreshed only when a phase starts (no refresh thread), so nothing of ours runs
while a backend is being timed, even with --in-process."""
from __future__ import annotations

import time
from typing import Optional


def eta_text(elapsed_s: float, done: int, total: Optional[int], per_phase_s: Optional[float] = None) -> str:
    """Elapsed, and a time left only where one can be believed: the phases left at the median length of the finished
    phases of the kind now running (a mean over unlike phases once said ~1 s before a 20 s measurement, and ~679 s
    for a run that took 134 s). None of this kind finished yet: no estimate."""
    text = f"{elapsed_s:.0f} s"
    if total and per_phase_s is not None and 0 < done < total:
        text += f", ~{per_phase_s * (total - done):.0f} s left"
    return text


class PhaseBar:
    """`live`: the bar's clock ticks once a second (a refresh thread in this process). Off under --in-process, where
    that thread would run beside the timed loop; on when the loop runs in a worker process."""

    def __init__(self, console, clock=time.monotonic, live: bool = True):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[left]}"), console=console, auto_refresh=live,
                                 refresh_per_second=1, transient=True)
        self.task: Optional[int] = None
        self.started = False
        self.clock, self.t0, self.done = clock, clock(), 0
        self.phase: Optional[tuple[str, float]] = None     # the running phase's kind and start
        self.lengths: dict[str, list[float]] = {}           # finished phases' lengths by kind

    def _next_phase(self, message: str) -> str:
        """Closes the running phase, opens this one; the timing text for its line."""
        now = self.clock()
        if self.phase is not None:
            self.lengths.setdefault(self.phase[0], []).append(now - self.phase[1])
        kind = message.split()[0] if message.split() else ""
        self.phase = (kind, now)
        if not self.done:   # the first phase: nothing to say yet
            return ""
        same = sorted(self.lengths.get(kind, ()))
        total = self.progress.tasks[self.task].total if self.task is not None else None
        return eta_text(now - self.t0, self.done, total, same[len(same) // 2] if same else None)

    def plan(self, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("starting", total=total, left="")
        else:
            self.progress.update(self.task, total=total)

    def __call__(self, message: str) -> None:
        if message.startswith(("warning:", "note:")):   # said, not a phase of the bar
            # one line however long (a log reader matches it whole), its text never taken for rich markup
            self.progress.console.print(message, style="yellow" if message.startswith("warning:") else "dim",
                                        markup=False, highlight=False, soft_wrap=True)
            return
        timing = self._next_phase(message)
        if not self.progress.console.is_terminal:  # CI logs and pipes: one plain line per phase, no bar
            total = self.progress.tasks[self.task].total if self.task is not None else None
            self.done += 1
            self.progress.console.print(f"[{self.done}/{total or '?'}] {message}{f' ({timing})' if timing else ''}",
                                        style="dim", markup=False, highlight=False, soft_wrap=True)
            return
        if not self.started:
            self.progress.start()
            self.started = True
        if self.task is None:
            self.task = self.progress.add_task(message, total=None, left="")
        task = self.progress.tasks[self.task]
        self.done += 1
        # The phase that just ended counts as done; the new one is named.
        left = timing.partition(", ")[2]
        self.progress.update(self.task, description=message, left=left,
                             completed=min(task.completed + (1 if task.description != "starting" else 0),
                                           task.total or float("inf")))
        self.progress.refresh()

    def close(self) -> None:
        if self.started:
            self.progress.stop()

    def __enter__(self) -> "PhaseBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
