"""The directory a plan writes, `<out>/<stack>`, and the previous plan kept beside it.

Each plan starts from an empty directory, so a node removed from the stack or a file moved on
the nodes leaves no old copy behind to hide the removal; the last plan moves to
`<out>/<stack>.previous` for comparison. `--out` can point anywhere, so a directory is removed
or moved only if it holds the marker that a plan of the same stack wrote into it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

MARKER = ".kubelet-bootstrap-plan"


def start(plan: Path, stack: str) -> Path:
    """Make `plan` anew for `stack`, the last plan becoming the previous one; return that.

    Both directories are checked before either is touched: a refusal changes nothing.
    """
    previous = plan.with_name(f"{plan.name}.previous")
    for directory in (plan, previous):
        _check_own(directory, stack)
    if previous.exists():
        shutil.rmtree(previous)
    if plan.exists():
        plan.rename(previous)
    plan.mkdir(parents=True)
    (plan / MARKER).write_text(_marker_text(stack), encoding="utf-8")
    return previous


def _marker_text(stack: str) -> str:
    return f"plan of stack {stack!r}, written by make plan, replaced by its next plan\n"


def _check_own(directory: Path, stack: str) -> None:
    """Refuse a directory that is not this stack's plan; one that does not exist is fine."""
    if not directory.exists() and not directory.is_symlink():
        return
    marker = directory / MARKER
    # A link is refused even to a plan: moving it would leave its target, removing it fails.
    if directory.is_symlink() or not marker.is_file():
        raise ValueError(
            f"{directory}: not a plan directory (a link, or no {MARKER} in it); the plan neither "
            "clears nor moves it: remove it yourself, or plan into another --out"
        )
    text = marker.read_text(encoding="utf-8", errors="replace")
    if text != _marker_text(stack):
        raise ValueError(
            f"{directory}: its {MARKER} says {text.strip()!r}, not stack {stack!r}; the plan "
            "neither clears nor moves it: remove it yourself, or plan into another --out"
        )
