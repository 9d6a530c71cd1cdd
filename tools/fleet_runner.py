"""Runs one operation on many stacks, at most `parallel` at a time, each independent of the
others: a stack that fails (or raises) is recorded, and the rest go on.

Ctrl-C (SIGINT, from a terminal, `kill -INT` or a CI runner): the first starts no more stacks
and hands each running CLI one Ctrl-C of its own (they run in their own session, see
`fleet_cli`): each cancels cleanly (operations in flight finish, the state is saved) while this
waits. A second Ctrl-C hands them another, which terminates them; only once a CLI has exited is
its stack cancelled (`Stack.cancel()`, which releases the lock a terminated update leaves):
`pulumi cancel` while the CLI still writes the state would unlock it under the writer. A stack
whose CLI does not exit in time is named, for the operator to cancel once it has.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Protocol

from pulumi.automation import EngineEvent
from pulumi.automation.errors import CommandError

from tools.fleet_display import FINAL, RUNNING, Display, StackRun
from tools.fleet_tally import MAX_ERROR_LINES, clean


class StackOps(Protocol):
    """One stack's preview or update, as the runner drives it."""

    def run(self, on_event: Callable[[EngineEvent], None]) -> None:
        """Run to the end, handing each engine event to `on_event`; raise if it failed."""

    def interrupt(self) -> None:
        """Hand the stack's CLI one Ctrl-C (SIGINT), if it runs."""

    def exited(self, timeout: float) -> bool:
        """Whether the stack's CLI has exited, waiting up to `timeout` seconds."""

    def cancel(self) -> None:
        """Release what a terminated run of this stack left held."""


def describe(error: BaseException) -> list[str]:
    """An exception as the lines that say why: the CLI's `error:` lines, else the end of what
    it printed (the engine redacts secrets from both), with the kind of a known CLI error."""
    text = str(error) if isinstance(error, CommandError) else f"{type(error).__name__}: {error}"
    printed = [line.strip() for line in clean(text)]
    lines = [line for line in printed if "error:" in line.lower()] or printed[-5:]
    if isinstance(error, CommandError) and type(error) is not CommandError:
        lines.insert(0, type(error).__name__)  # StackNotFoundError, ConcurrentUpdateError
    return lines


def error_lines(run: StackRun, error: BaseException) -> list[str]:
    """The failure reduced to its useful lines: the engine's error diagnostics, else the
    exception's; at most MAX_ERROR_LINES."""
    lines = run.tally.error_lines() or describe(error)
    if len(lines) > MAX_ERROR_LINES:
        more = len(lines) - MAX_ERROR_LINES + 1
        lines = [*lines[: MAX_ERROR_LINES - 1], f"... ({more} more lines)"]
    return lines


class Runner:
    """The stacks' runs on a pool of threads; the calling thread draws the display and is
    the one Ctrl-C interrupts."""

    def __init__(
        self,
        runs: Sequence[StackRun],
        make_ops: Callable[[str], StackOps],
        parallel: int,
        display: Display,
        clock: Callable[[], float],
        *,
        tick: float = 0.5,
        exit_timeout: float = 30.0,
    ) -> None:
        self._runs = runs
        self._make_ops = make_ops
        self._parallel = parallel
        self._display = display
        self._clock = clock
        self._tick = tick
        self._exit_timeout = exit_timeout
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, StackOps] = {}

    def run(self) -> bool:
        """Run every stack; True when interrupted (Ctrl-C)."""
        pool = ThreadPoolExecutor(max_workers=self._parallel, thread_name_prefix="stack")
        futures = [pool.submit(self._work, run) for run in self._runs]
        interrupts = 0
        try:
            while interrupts < 2:
                try:
                    self._wait(futures)
                    break
                except KeyboardInterrupt:
                    interrupts += 1
                    if interrupts == 1:
                        self._stopping.set()
                        self._interrupt_running()
                        self._display.note(
                            "interrupted: no more stacks start; each running CLI got Ctrl-C and"
                            " cancels cleanly. Ctrl-C again to terminate them."
                        )
                    else:
                        self._cancel_running()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        now = self._clock()
        for run in self._runs:
            if run.phase == "queued":
                run.phase, run.ended = "not started", now
        self._display.refresh()
        return interrupts > 0

    def _wait(self, futures: list[Future[None]]) -> None:
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=self._tick)
            self._display.refresh()

    def _work(self, run: StackRun) -> None:
        if self._stopping.is_set():
            return
        run.started, run.phase = self._clock(), RUNNING
        try:
            ops = self._make_ops(run.name)
            with self._lock:
                self._running[run.name] = ops
            ops.run(run.tally.on_event)
            outcome, error = "ok", []
        except Exception as failure:
            outcome = "cancelled" if self._stopping.is_set() else "failed"
            error = error_lines(run, failure)
        finally:
            with self._lock:
                self._running.pop(run.name, None)
        with self._lock:
            if run.phase not in FINAL:  # not already given up on by a second Ctrl-C
                run.phase, run.error, run.ended = outcome, error, self._clock()

    def _interrupt_running(self) -> None:
        with self._lock:
            running = dict(self._running)
        for ops in running.values():
            ops.interrupt()

    def _cancel_running(self) -> None:
        """Terminate the running CLIs (a second Ctrl-C), then cancel each stack whose CLI has
        exited; name those whose CLI has not."""
        with self._lock:
            running = dict(self._running)
            for name in running:
                run = next(r for r in self._runs if r.name == name)
                run.phase, run.ended = "cancelled", self._clock()
        for ops in running.values():
            ops.interrupt()
        for name, ops in running.items():
            if not ops.exited(self._exit_timeout):
                self._display.note(
                    f"{name}: its CLI has not exited; once it has, run `pulumi cancel --stack "
                    f"{name}` if the stack stays locked"
                )
                continue
            try:
                ops.cancel()
            except Exception as failure:
                self._display.note(
                    f"{name}: cancel failed ({'; '.join(describe(failure))}); run `pulumi "
                    f"cancel --stack {name}` if the stack stays locked"
                )
