"""The table `make plan` starts with: per node, what changes, whether it restarts, its batch.

A reviewer wants "what will restart, where and in which batch" in a minute, not a tree of 2,000
lines. The plan keeps each node's restart files (their sha256, from the stack output
`nodes.<node>.filesSha256`) and batch in `plan.json`; the table compares them with the
previous plan of the stack. Offline, the previous plan stands in for what the nodes have: the
first plan of a stack shows every node as new, and `pulumi preview` remains the word on what
the live stack changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "plan.json"


@dataclass(frozen=True)
class NodePlan:
    """One node of a plan: its restart files by what they are, and its rollout batch."""

    files: dict[str, str]
    batch: int


def node_plans(outputs: dict[str, Any], kinds: dict[str, str]) -> dict[str, NodePlan]:
    """Each node's plan from the stack outputs, in the stack's order (its batches');
    `kinds` names a file path (`config`)."""
    batches = {
        name: number
        for number, names in enumerate(outputs.get("rolloutBatches") or [], 1)
        for name in names
    }
    nodes = outputs.get("nodes") or {}
    in_order = [*batches, *(name for name in nodes if name not in batches)]
    return {
        name: NodePlan(
            _by_kind(nodes[name].get("filesSha256", {}), kinds),
            batches.get(name, 1),
        )
        for name in in_order
        if name in nodes
    }


def _by_kind(files: dict[str, str], kinds: dict[str, str]) -> dict[str, str]:
    """`{path: sha256}` as `{kind: sha256}`, in the order of the kinds' names."""
    named = {kinds.get(path, path): sha for path, sha in files.items()}
    return dict(sorted(named.items(), key=lambda item: item[0].lower()))


def save(plans: dict[str, NodePlan], directory: Path) -> None:
    document = {name: {"files": p.files, "batch": p.batch} for name, p in plans.items()}
    (directory / MANIFEST).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def load(directory: Path) -> dict[str, NodePlan] | None:
    """The plans a previous plan kept, or None when there is none to compare with."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    document = json.loads(path.read_text())
    return {name: NodePlan(dict(p["files"]), int(p["batch"])) for name, p in document.items()}


def render(plans: dict[str, NodePlan], previous: dict[str, NodePlan] | None) -> str:
    """The table, nodes in the stack's order, then those that leave it."""
    rows = [("node", "batch", "restart", "what changes")]
    for name, plan in plans.items():
        before = (previous or {}).get(name)
        if before is None:
            rows.append((name, str(plan.batch), "start", "new node: " + ", ".join(plan.files)))
            continue
        changed = [kind for kind, sha in plan.files.items() if before.files.get(kind) != sha]
        changed += [
            f"{kind} (no longer written)" for kind in before.files if kind not in plan.files
        ]
        rows.append((name, str(plan.batch), "yes" if changed else "no", ", ".join(changed) or "-"))
    for name in (previous or {}).keys() - plans.keys():
        rows.append((name, "-", "-", "leaves the stack: drained, kubelet stopped, Node deleted"))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    against = (
        "against the previous plan of this stack"
        if previous is not None
        else "the first plan of this stack here: every node is new"
    )
    restarts = sum(row[2] == "yes" for row in rows[1:])
    return f"Rollout ({against}; {restarts} to restart):\n" + "\n".join(lines)
