"""Rolling restarts: which kubelets restart together, and which batch waits for which.

`rollout.batchSize` cuts the nodes, in the order the stack lists them, into batches; each
node's restart waits for every restart of the batch before it to pass its gate, so a bad
config stops at the first batch; the files it goes live with were staged until then
(templates/staging.sh.j2). Only restarts wait: a restart created acts only on staged files,
which a new node has none of, so installing new nodes is never held up, while a kubelet
started before the stack (adopted) restarts with its batch.
"""

from __future__ import annotations

from collections.abc import Sequence

BatchSize = int | str
"""A count of nodes (`2`), or a share of them (`"25%"`)."""


def nodes_per_batch(batch_size: BatchSize, node_count: int) -> int:
    """How many nodes one batch holds: a share is rounded down, but a batch has one at least,
    as Ansible's `serial` and a Deployment's `maxUnavailable` do."""
    if isinstance(batch_size, int):
        return batch_size
    share = int(batch_size.removesuffix("%"))
    return max(1, node_count * share // 100)


def batches(names: Sequence[str], batch_size: BatchSize | None) -> list[list[str]]:
    """The nodes' restart batches, in order; all nodes in one batch without a batch size."""
    if not names:
        return []
    size = len(names) if batch_size is None else nodes_per_batch(batch_size, len(names))
    return [list(names[start : start + size]) for start in range(0, len(names), size)]


def describe(groups: Sequence[Sequence[str]], batch_size: BatchSize) -> str:
    """What `pulumi preview` prints about the rollout, so an operator sees the order first."""
    listed = "; ".join(f"{number}: {', '.join(group)}" for number, group in enumerate(groups, 1))
    return (
        f"rollout.batchSize {batch_size}: kubelets that must restart do so in "
        f"{len(groups)} batch{'es' if len(groups) != 1 else ''}, each after the one before "
        f"passed its health gate ({listed})"
    )


def waits_for(groups: Sequence[Sequence[str]]) -> dict[str, list[str]]:
    """Each node -> the nodes whose restarts its own waits for: the batch before its own."""
    waiting: dict[str, list[str]] = {}
    previous: list[str] = []
    for group in groups:
        for name in group:
            waiting[name] = previous
        previous = list(group)
    return waiting
