"""Per-node settings through the real CLI, API server and kubelet (issue 8, point 3).

One node of three gets labels, a taint and its own maxPods: the real Node carries them and
only that kubelet restarts. Then its labels and taint change while it is registered, which
the kubelet itself would not apply to an existing Node: the stack's `<node>-metadata`
resource does, removing what the stack no longer names and keeping what others set.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from lab import cluster
from lab.stack import LabStack
from tests.e2e.world import World

pytestmark = pytest.mark.e2e

BIG = 1  # the index, in the stack's nodes, of the node with settings of its own
ROLE = "node-role.kubernetes.io/big"


def _node(world: World, name: str) -> Any:
    return client.CoreV1Api(cluster.api(world.plane)).read_node(name)


def _taints(node: Any) -> set[tuple[str, str, str]]:
    return {(t.key, t.value or "", t.effect) for t in node.spec.taints or []}


def _set(stack: LabStack, key: str, value: str) -> None:
    stack.set(f"nodes[{BIG}].{key}", value, path=True)


def test_one_node_gets_its_labels_taint_and_max_pods_and_only_it_restarts(
    world: World, stack: LabStack
) -> None:
    stack.pulumi("up", "--yes", "--skip-preview")
    big, others = world.stack_nodes[BIG], [n for i, n in enumerate(world.stack_nodes) if i != BIG]
    for name in others:
        assert _node(world, name).status.capacity["pods"] == "220"
    before = {name: world.restarts(name) for name in world.stack_nodes}

    _set(stack, "labels.gpu", "true")
    _set(stack, f'labels["{ROLE}"]', "true")
    _set(stack, "taints[0].key", "dedicated")
    _set(stack, "taints[0].value", "big")
    _set(stack, "taints[0].effect", "NoSchedule")
    _set(stack, "kubelet.maxPods", "500")
    planned = stack.planned()
    assert planned[f"{big}-restart-kubelet"] == "update"
    assert all(planned.get(f"{name}-restart-kubelet", "same") == "same" for name in others)
    stack.pulumi("up", "--yes", "--skip-preview")

    node = _node(world, big)
    assert node.metadata.labels["gpu"] == "true"
    assert node.metadata.labels[ROLE] == "true"  # applied as admin: the kubelet may not
    assert ("dedicated", "big", "NoSchedule") in _taints(node)
    assert node.status.capacity["pods"] == "500"
    after = {name: world.restarts(name) for name in world.stack_nodes}
    assert after[big] == before[big] + 1
    assert {n: after[n] for n in others} == {n: before[n] for n in others}
    for name in others:
        other = _node(world, name)
        assert "gpu" not in other.metadata.labels and not _taints(other)


def test_a_change_on_a_registered_node_reaches_its_node_object(
    world: World, stack: LabStack
) -> None:
    big = world.stack_nodes[BIG]
    # Someone else's label and taint on the same Node: the stack leaves them alone.
    api = cluster.api(world.plane)
    taints = api.sanitize_for_serialization(_node(world, big).spec.taints or [])
    taints.append({"key": "ops", "effect": "PreferNoSchedule"})
    client.CoreV1Api(api).patch_node(
        big,
        {"metadata": {"labels": {"owner": "ops"}}, "spec": {"taints": taints}},
        _content_type="application/merge-patch+json",
    )

    _set(stack, "labels.gpu", "false")
    stack.pulumi("config", "rm", "--path", f'kubelet-bootstrap:nodes[{BIG}].labels["{ROLE}"]')
    _set(stack, "labels.rack", "r12")
    _set(stack, "taints[0].value", "huge")
    stack.pulumi("up", "--yes", "--skip-preview")

    node = _node(world, big)
    labels = node.metadata.labels
    assert (labels["gpu"], labels["rack"], labels["owner"]) == ("false", "r12", "ops")
    assert ROLE not in labels
    assert ("dedicated", "huge", "NoSchedule") in _taints(node)
    assert ("dedicated", "big", "NoSchedule") not in _taints(node)
    assert ("ops", "", "PreferNoSchedule") in _taints(node)

    # No labels or taints left in the stack: what it applied is removed, the rest stays.
    stack.pulumi("config", "rm", "--path", f"kubelet-bootstrap:nodes[{BIG}].labels")
    stack.pulumi("config", "rm", "--path", f"kubelet-bootstrap:nodes[{BIG}].taints")
    stack.pulumi("up", "--yes", "--skip-preview")
    node = _node(world, big)
    assert not {"gpu", "rack"} & set(node.metadata.labels)
    assert node.metadata.labels["owner"] == "ops"
    assert {t[0] for t in _taints(node)} == {"ops"}
    assert node.status.capacity["pods"] == "500"  # maxPods is a setting of the kubelet's
