"""What one stack's engine events add up to: progress, changes, kubelet restarts, failures.

The Automation API hands every engine event of a preview or an update to a callback, from its
own thread; a `Tally` reads them and the display thread reads the tally, under one lock.

A restart is counted for a kubelet restart command (`command:remote:Command` named
`<node>-restart-kubelet`) that is updated and whose file digests changed: the lines
`<path> sha256 <hex>` its `update` script carries are what it compares with the kubelet's last
healthy start, and only when they differ does it restart the kubelet (any other change of the
command only re-runs its health gate). Created or replaced, it runs nothing (its `create` is
empty: a node's first start is its start command's). In a preview the count is what the
update would restart; in an update, the restarts it began.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pulumi.automation import EngineEvent, OpType, StepEventMetadata

RESTART_COMMAND_TYPE = "command:remote:Command"
RESTART_COMMAND_SUFFIX = "-restart-kubelet"
UNCHANGED_OPS = {"same", "read", "refresh"}
FILE_DIGEST = re.compile(r"(\S+) sha256 ([0-9a-f]{64})\b")
# Terminal colour: ANSI escapes, and the engine's own `<{%reset%}>` directives.
COLOUR = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|<\{%[a-z-]*%\}>")
MAX_ERROR_LINES = 12


def op_name(op: OpType | str) -> str:
    """An operation as the engine spells it (`create-replacement`): events carry `OpType`,
    summaries plain strings, and a str-Enum does not hash like its value."""
    return op.value if isinstance(op, OpType) else str(op)


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _digests(step: Any) -> frozenset[tuple[str, str]] | None:
    """The (path, sha256) pairs a restart command's script names; None when unknown."""
    inputs = getattr(step, "inputs", None) or {}
    script = inputs.get("update")
    if not isinstance(script, str):
        return None
    return frozenset(FILE_DIGEST.findall(script))


def is_restart(step: StepEventMetadata) -> bool:
    """Whether this step restarts a running kubelet (see the module's docstring)."""
    if step.type != RESTART_COMMAND_TYPE or op_name(step.op) != "update":
        return False
    if not _name(step.urn).endswith(RESTART_COMMAND_SUFFIX):
        return False
    old, new = _digests(step.old), _digests(step.new)
    # Unknown digests (a script not yet computed): it may restart, so it counts.
    return old is None or new is None or old != new


def clean(message: str) -> list[str]:
    """An engine message as plain, non-empty lines."""
    lines = (COLOUR.sub("", line).rstrip() for line in message.splitlines())
    return [line for line in lines if line.strip()]


@dataclass
class Tally:
    """The running count of one stack's preview or update."""

    expected: int = 0
    """Resources the stack held after its last update: the total until more are seen."""
    seen: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    ops: Counter[str] = field(default_factory=Counter)
    restarts: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    summary: dict[str, int] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_event(self, event: EngineEvent) -> None:
        with self.lock:
            if event.resource_pre_event is not None:
                step = event.resource_pre_event.metadata
                self.seen.add(step.urn)
                self.ops[op_name(step.op)] += 1
                if is_restart(step):
                    self.restarts.add(_name(step.urn))
            elif event.res_outputs_event is not None:
                self.done.add(event.res_outputs_event.metadata.urn)
            elif event.res_op_failed_event is not None:
                urn = event.res_op_failed_event.metadata.urn
                self.done.add(urn)
                self.failed.add(_name(urn))
            elif event.diagnostic_event is not None:
                self._diagnostic(event.diagnostic_event)
            elif event.summary_event is not None:
                changes = event.summary_event.resource_changes
                self.summary = {op_name(op): n for op, n in changes.items()}

    def _diagnostic(self, diagnostic: Any) -> None:
        if diagnostic.severity != "error":
            return
        prefix = f"{_name(diagnostic.urn)}: " if diagnostic.urn else ""
        for line in clean(diagnostic.message):
            text = prefix + line.strip()
            if text not in self.errors:
                self.errors.append(text)

    def progress(self) -> tuple[int, int]:
        """Resources done, and the total as far as it is known."""
        with self.lock:
            return len(self.done), max(len(self.seen), self.expected)

    def changes(self) -> dict[str, int]:
        """Operations other than `same`, by kind: the summary's, else the steps seen."""
        with self.lock:
            counts = self.summary if self.summary is not None else dict(self.ops)
            return {op: n for op, n in counts.items() if n and op not in UNCHANGED_OPS}

    def restart_count(self) -> int:
        with self.lock:
            return len(self.restarts)

    def failure_count(self) -> int:
        with self.lock:
            return len(self.failed)

    def error_lines(self) -> list[str]:
        with self.lock:
            return list(self.errors)
