"""`removal`: what happens to a node's workloads when it leaves the stack.

A node dropped from `nodes` is cordoned and drained before its kubelet stops (see
`node_drain`); the drain may be skipped, and is bounded so that a PodDisruptionBudget that
never allows the eviction stops the removal with its name instead of hanging the update.
"""

from __future__ import annotations

from pydantic import Field

from components.settings.base import StrictSettings


class RemovalSettings(StrictSettings):
    drain: bool = True
    """Cordon and drain a node before its kubelet stops; false skips both."""
    drain_timeout_seconds: int = Field(300, ge=10, le=7200)
    """How long a drain may wait for evictions (PodDisruptionBudgets) and terminating pods."""
    remove_containers: bool = False
    """Once a leaving node's kubelet stopped, remove the pods and containers it left running
    (`crictl rmp -af`), as `kubeadm reset` does, for a machine that stays up."""
