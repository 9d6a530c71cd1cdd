"""`make plan PLAN_ARGS=--diff`: what a plan changes in the written files since the last one.

A review of a stack change wants every file and script that a node gains, loses or sees
changed, removals included; a unified diff per file says it in a form everyone reads, and
needs no `diff` program on the machine.
"""

from __future__ import annotations

import difflib
from collections import Counter
from pathlib import Path


def compare(previous: Path, plan: Path) -> str:
    """A unified diff of each file added, removed or changed, then a count of each."""
    before, after = _files(previous), _files(plan)
    lines: list[str] = []
    counts: Counter[str] = Counter()
    for name in sorted(before | after):
        old = _read(previous / name) if name in before else None
        new = _read(plan / name) if name in after else None
        if old == new:
            continue
        counts["added" if old is None else "removed" if new is None else "changed"] += 1
        old_label = "/dev/null" if old is None else f"{previous.name}/{name}"
        new_label = "/dev/null" if new is None else f"{plan.name}/{name}"
        hunks = difflib.unified_diff(
            (old or "").splitlines(), (new or "").splitlines(), old_label, new_label, lineterm=""
        )
        # A change with no line to show (an empty file, a final newline) gets its header alone.
        lines.extend(list(hunks) or [f"--- {old_label}", f"+++ {new_label}"])
    if not counts:
        return "no file changed since the previous plan"
    kinds = ", ".join(f"{counts[kind]} {kind}" for kind in ("added", "removed", "changed"))
    return "\n".join([*lines, f"since the previous plan: {kinds}"])


def _files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")
