"""Phase progress on stderr. Refreshed only when a phase starts (no refresh thread), so nothing of ours runs
while a backend is being timed, even with --in-process."""
from __future__ import annotations

import time
from typing import Optional


def eta_text(elapsed_s: float, done: int, total: Optional[int]) -> str:
    """Elapsed, and a rough time left from the mean phase so far (phases differ: said as '~')."""
    text = f"{elapsed_s:.0f} s"
    if total and 0 < done < total:
        text += f", ~{elapsed_s / done * (total - done):.0f} s left"
    return text


class PhaseBar:
    def __init__(self, console, clock=time.monotonic):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("left"), TimeRemainingColumn(), console=console, auto_refresh=False,
                                 transient=True)
        self.task: Optional[int] = None
        self.started = False
        self.clock, self.t0, self.done = clock, clock(), 0

    def plan(self, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("starting", total=total)
        else:
            self.progress.update(self.task, total=total)

    def __call__(self, message: str) -> None:
        if message.startswith(("warning:", "note:")):   # said, not a phase of the bar
            # one line however long (a log reader matches it whole), its text never taken for rich markup
            self.progress.console.print(message, style="yellow" if message.startswith("warning:") else "dim",
                                        markup=False, highlight=False, soft_wrap=True)
            return
        if not self.progress.console.is_terminal:  # CI logs and pipes: one plain line per phase, no bar
            total = self.progress.tasks[self.task].total if self.task is not None else None
            timing = eta_text(self.clock() - self.t0, self.done, total) if self.done else ""
            self.done += 1
            self.progress.console.print(f"[{self.done}/{total or '?'}] {message}{f' ({timing})' if timing else ''}",
                                        style="dim", markup=False, highlight=False, soft_wrap=True)
            return
        if not self.started:
            self.progress.start()
            self.started = True
        if self.task is None:
            self.task = self.progress.add_task(message, total=None)
        task = self.progress.tasks[self.task]
        # The phase that just ended counts as done; the new one is named.
        self.progress.update(self.task, description=message, completed=min(task.completed + (1 if task.description != "starting" else 0),
                                                                            task.total or float("inf")))
        self.progress.refresh()

    def close(self) -> None:
        if self.started:
            self.progress.stop()

    def __enter__(self) -> "PhaseBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
