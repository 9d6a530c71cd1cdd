"""Preflight through the real CLI on the lab's SSH nodes (issue 8, item 1).

A node whose `address` is on none of its interfaces fails its preflight: with
`pulumi up --continue-on-error` nothing of its own is written or started, while the other
nodes join; once its address is fixed, the next `pulumi up` joins it too, and a run that
changes nothing runs no check again.
"""

from __future__ import annotations

import pytest

from lab import cluster, nodes
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

# What the stack writes or makes on a node: its files, the prepared kubelet directory, and
# the records of its scripts.
NODE_PATHS = (
    "/etc/kubernetes/kubelet-bootstrap.kubeconfig",
    "/etc/kubernetes/kubelet-config.yaml",
    "/etc/systemd/system/kubelet.service",
    "/data/k8s/k8s/kubelet",
    "/var/lib/kubelet-bootstrap",
)
ELSEWHERE = "10.77.0.250"  # in the lab's network, on no node


def _found(world: World, name: str) -> dict[str, list[str] | None]:
    """What is at each of NODE_PATHS on the node: nothing, or the files under it (the node's
    root is an overlay of the host's, so a path may be there from the host already)."""
    found: dict[str, list[str] | None] = {}
    for path in NODE_PATHS:
        where = world.root(name) / path.lstrip("/")
        if not where.exists():
            found[path] = None
        else:
            found[path] = sorted(str(p.relative_to(where)) for p in where.rglob("*"))
    return found


def test_a_node_failing_preflight_is_left_untouched_while_the_others_join(world: World) -> None:
    bad = world.stack_nodes[1]
    good = [name for name in world.stack_nodes if name != bad]
    with new_stack(world, "preflight") as stack:
        stack.set("nodes[1].sshHost", world.address(bad), path=True)
        stack.set("nodes[1].address", ELSEWHERE, path=True)

        before = _found(world, bad)
        up = stack.pulumi("up", "--yes", "--skip-preview", "--continue-on-error", check=False)

        assert up.returncode != 0, "an up with a failing preflight succeeded"
        assert (
            f"{bad}: preflight nodeAddress failed: {ELSEWHERE} is on none of its interfaces"
            in up.output
        ), up.output[-3000:]
        assert f"{bad}: preflight failed: nodeAddress; nothing was written to {bad}" in up.output
        assert _found(world, bad) == before, f"the stack wrote on {bad}"
        assert not world.holds(bad, "/etc/kubernetes/kubelet-config.yaml")
        assert nodes.calls(bad, world.lab.state_dir) == [], f"systemctl ran on {bad}"
        for name in good:
            assert f"{name}: preflight passed" in up.output
        assert world.joined(good) == {}
        assert bad not in cluster.node_names(world.plane)

        stack.pulumi("config", "rm", "--path", "kubelet-bootstrap:nodes[1].sshHost")
        stack.set("nodes[1].address", world.address(bad), path=True)
        stack.pulumi("up", "--yes", "--skip-preview")

        assert world.joined(world.stack_nodes) == {}
        assert set(stack.outputs()["servingCertificates"]) == set(world.stack_nodes)

        again = stack.pulumi("up", "--yes", "--skip-preview")
        assert ": preflight " not in again.output, "a run that changes nothing checked again"
        assert set(stack.history()[0]["resourceChanges"]) == {"same"}
