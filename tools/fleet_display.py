"""How the fleet driver shows its stacks: a line per stack while they run, a table at the end.

On a terminal the lines are redrawn in place; anywhere else (a CI log) each line is printed as
a plain line when its stack changes phase, and its progress at most every `interval` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from tools.fleet_tally import Tally

RUNNING = "running"
FINAL = ("ok", "failed", "cancelled", "not started")


@dataclass
class StackRun:
    """One stack's run as the driver tracks it."""

    name: str
    operation: str
    tally: Tally = field(default_factory=Tally)
    phase: str = "queued"
    """queued, then running, then one of FINAL."""
    started: float | None = None
    ended: float | None = None
    error: list[str] = field(default_factory=list)

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.ended if self.ended is not None else now) - self.started


def duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def progress_line(run: StackRun, now: float, width: int) -> str:
    done, total = run.tally.progress()
    phase = run.operation if run.phase == RUNNING else run.phase
    resources = f"{done}/{total} resources" if run.started is not None else ""
    return f"{run.name:<{width}}  {phase:<11}  {resources:<16}  {duration(run.elapsed(now))}"


class Display:
    """Draws the progress lines; `note` prints a message between them."""

    def __init__(
        self,
        stream: TextIO,
        runs: Sequence[StackRun],
        clock: Callable[[], float],
        *,
        live: bool,
        interval: float = 10.0,
    ) -> None:
        self._stream = stream
        self._runs = runs
        self._clock = clock
        self._live = live
        self._interval = interval
        self._width = max((len(run.name) for run in runs), default=5)
        self._drawn = 0
        self._printed: dict[str, tuple[str, int, float]] = {}

    def refresh(self) -> None:
        if self._live:
            self._redraw()
        else:
            self._log()
        self._stream.flush()

    def note(self, message: str) -> None:
        """A line of its own; a live display draws its lines again below it."""
        self._stream.write(message + "\n")
        self._drawn = 0
        self._stream.flush()

    def _redraw(self) -> None:
        now = self._clock()
        if self._drawn:
            self._stream.write(f"\x1b[{self._drawn}F")  # back to the first line drawn
        for run in self._runs:
            self._stream.write("\x1b[2K" + progress_line(run, now, self._width) + "\n")
        self._drawn = len(self._runs)

    def _log(self) -> None:
        now = self._clock()
        for run in self._runs:
            done = run.tally.progress()[0]
            last = self._printed.get(run.name)
            if last is None and run.phase == "queued":
                continue
            if last is not None:
                phase, printed_done, at = last
                if phase == run.phase and (printed_done == done or now - at < self._interval):
                    continue
            self._stream.write(progress_line(run, now, self._width) + "\n")
            self._printed[run.name] = (run.phase, done, now)


def changes_text(changes: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(changes.items())) or "none"


def summary_table(runs: Sequence[StackRun], now: float) -> str:
    """Stack, result, changes, restarts, failures and time; then each failure's lines."""
    header = ("stack", "result", "changes", "restarts", "failures", "time")
    rows = [header]
    for run in runs:
        started = run.started is not None
        rows.append(
            (
                run.name,
                run.phase,
                changes_text(run.tally.changes()) if started else "-",
                str(run.tally.restart_count()) if started else "-",
                str(run.tally.failure_count()) if started else "-",
                duration(run.elapsed(now)) if started else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for run in runs:
        if run.error:
            lines.append("")
            lines.append(f"{run.name} {run.phase}:")
            lines.extend(f"  {line}" for line in run.error)
    return "\n".join(lines)
