"""Where the time of a `pulumi up` goes: the engine's events, as spans per resource.

`pulumi up --event-log FILE` writes one JSON event a line as the engine goes; their own
timestamps are whole seconds, so each event is stamped with the moment it was read here
instead (a tail of the file, polled every 20 ms). A resource's span runs from its
`resourcePreEvent` to its `resOutputsEvent` (or `resOpFailedEvent`). `summary` folds the
spans of every node into one row per step (`start-kubelet`, `kubelet-config`, ...): how long
it took, when it began and ended after the update began, and how many steps ran at once.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.stack import Call, LabStack

POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Span:
    """One resource's operation: its name, type, operation, and when it began and ended
    (seconds after the first event)."""

    name: str
    type: str
    op: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def run_with_events(
    stack: LabStack, log: Path, *args: str
) -> tuple[Call, list[tuple[float, dict]]]:
    """`pulumi <args> --event-log <log>`, and each event with the moment it was read."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    events: list[tuple[float, dict]] = []
    done = threading.Event()

    def tail() -> None:
        while not log.exists():
            if done.wait(POLL_SECONDS):
                return
        with log.open() as stream:
            pending = ""
            while True:
                chunk = stream.readline()
                if chunk:
                    pending += chunk
                    if pending.endswith("\n"):
                        events.append((time.monotonic(), json.loads(pending)))
                        pending = ""
                elif done.is_set():
                    return
                else:
                    time.sleep(POLL_SECONDS)

    reader = threading.Thread(target=tail, name="event-log")
    reader.start()
    try:
        # The CLI offers --event-log (the Automation API's) with its debug commands only.
        call = stack.pulumi(
            *args,
            "--event-log",
            str(log),
            check=False,
            extra_env={"PULUMI_DEBUG_COMMANDS": "true"},
        )
    finally:
        done.set()
        reader.join()
    return call, events


def spans(events: Sequence[tuple[float, dict]]) -> list[Span]:
    """The spans of every resource that had a step, in the order they began."""
    if not events:
        return []
    origin = events[0][0]
    began: dict[str, tuple[float, dict]] = {}
    found = []
    for moment, event in events:
        if "resourcePreEvent" in event:
            metadata = event["resourcePreEvent"]["metadata"]
            began[metadata["urn"]] = (moment - origin, metadata)
            continue
        finished = event.get("resOutputsEvent") or event.get("resOpFailedEvent")
        if finished is None:
            continue
        urn = finished["metadata"]["urn"]
        if urn in began:
            start, metadata = began.pop(urn)
            name = urn.rsplit("::", 1)[-1]
            found.append(Span(name, metadata["type"], metadata["op"], start, moment - origin))
    return sorted(found, key=lambda span: span.start)


def step_of(name: str, nodes: Iterable[str]) -> str:
    """A resource's step: its name without the node's (`node-1-start-kubelet` ->
    `start-kubelet`); a resource of no node keeps its name."""
    for node in sorted(nodes, key=len, reverse=True):
        if name.startswith(f"{node}-"):
            return name.removeprefix(f"{node}-")
    return name


def most_at_once(found: Sequence[Span]) -> int:
    """The most spans that ran at one moment."""
    edges = sorted([(s.start, 1) for s in found] + [(s.end, -1) for s in found])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


def summary(found: Sequence[Span], nodes: Iterable[str]) -> list[str]:
    """One line a step, in the order steps first began: how many ran (`same` steps are not
    counted), their median and longest duration, when the first began and the last ended,
    and how many of them ran at once at most."""
    nodes = list(nodes)
    steps: dict[str, list[Span]] = {}
    for span in found:
        if span.op != "same":
            steps.setdefault(step_of(span.name, nodes), []).append(span)
    lines = [
        f"{'step':32} {'count':>5} {'median s':>9} {'max s':>7} {'first':>7} {'last':>7} "
        f"{'at once':>7}"
    ]
    for step, group in steps.items():
        durations = [span.seconds for span in group]
        lines.append(
            f"{step:32} {len(group):5d} {statistics.median(durations):9.1f} "
            f"{max(durations):7.1f} {min(s.start for s in group):7.1f} "
            f"{max(s.end for s in group):7.1f} {most_at_once(group):7d}"
        )
    busy = [span for span in found if span.op != "same"]
    lines.append(f"{'all steps':32} {len(busy):5d} {'':>9} {'':>7} {'':>7} {'':>7} "
                 f"{most_at_once(busy):7d}")  # fmt: skip
    return lines
