"""Phase progress on stderr. Refreshed only when a phase starts (no refresh thread), so nothing of ours runs
while a backend is being timed, even with --in-process."""
from __future__ import annotations

from typing import Optional


class PhaseBar:
    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=console, auto_refresh=False, transient=True)
        self.task: Optional[int] = None
        self.started = False

    def plan(self, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("starting", total=total)
        else:
            self.progress.update(self.task, total=total)

    def __call__(self, message: str) -> None:
        if message.startswith("warning:"):
            self.progress.console.print(f"[yellow]{message}[/yellow]")
            return
        if not self.progress.console.is_terminal:  # CI logs and pipes: one plain line per phase, no bar
            self.done = getattr(self, "done", 0) + 1
            total = self.progress.tasks[self.task].total if self.task is not None else None
            self.progress.console.print(f"[dim][{self.done}/{total or '?'}] {message}[/dim]")
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
