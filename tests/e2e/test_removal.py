"""Removal through the real CLI, control plane and kubelets (issue 8, point 5).

In order, on the module's fresh nodes: a fourth node joins and is removed with a pod on it
(drained, its kubelet stopped, its Node object, token and identity gone, the others
untouched); the same machine joins again under another name as that node; then it joins a
third time, is cut off the network, and is decommissioned and dropped without any command
reaching it. (A budget blocking the drain is proved against the fake API server: the lab's
pods never leave Pending, see `put_pod`.)
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable

import pytest
from cryptography import x509
from kubernetes import client

from lab import cluster, node_network, nodes
from lab.stack import LabStack
from tests.e2e.world import World

pytestmark = pytest.mark.e2e

IDENTITY = (
    "etc/kubernetes/kubelet.kubeconfig",
    "etc/kubernetes/cert/kubelet-client-current.pem",
    "etc/kubernetes/cert/kubelet-server-current.pem",
)
STACK_FILES = (
    "etc/kubernetes/kubelet-bootstrap.kubeconfig",
    "etc/kubernetes/kubelet-config.yaml",
    "etc/systemd/system/kubelet.service",
)


def core(world: World) -> client.CoreV1Api:
    return client.CoreV1Api(cluster.api(world.plane))


def wait_for(what: str, check: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds:g}s"
        time.sleep(1)


def put_pod(world: World, node: str, name: str) -> None:
    """A pod bound to `node` (no scheduler needed). The lab's runtime reports images without a
    size, so the kubelet never starts its container: it stays Pending, which the Eviction API
    evicts without consulting budgets (eviction.go canIgnorePDB), and its kubelet finishes."""
    wait_for("the default ServiceAccount", lambda: _has_default_account(world))
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            node_name=node,
            containers=[client.V1Container(name="main", image="registry.k8s.io/pause:3.10")],
            termination_grace_period_seconds=1,
            automount_service_account_token=False,
        ),
    )
    core(world).create_namespaced_pod("default", pod)
    wait_for(f"pod {name} seen by {node}'s kubelet", lambda: _reported(world, name))


def _has_default_account(world: World) -> bool:
    return "default" in cluster.service_accounts(world.plane, "default")


def _reported(world: World, name: str) -> bool:
    return bool(core(world).read_namespaced_pod(name, "default").status.container_statuses)


def pod_names(world: World) -> set[str]:
    return {p.metadata.name for p in core(world).list_namespaced_pod("default").items}


def token_groups(world: World) -> set[str]:
    return {
        base64.b64decode(secret.data["auth-extra-groups"]).decode()
        for secret in cluster.bootstrap_token_secrets(world.plane)
    }


def held(world: World, machine: str, paths: tuple[str, ...]) -> list[str]:
    root = world.root(machine)
    return [p for p in paths if (root / p).exists() or (root / p).is_symlink()]


def client_certificate_subject(world: World, machine: str) -> str:
    root = world.root(machine)
    target = os.readlink(root / "etc/kubernetes/cert/kubelet-client-current.pem")  # in the node
    pem = (root / target.lstrip("/")).read_bytes()
    certificate = x509.load_pem_x509_certificates(pem)[0]
    return certificate.subject.rfc4514_string()


def test_the_stack_is_up(stack: LabStack) -> None:
    stack.pulumi("up", "--yes", "--skip-preview")


def test_a_removed_node_is_drained_stopped_and_leaves_nothing(
    world: World, stack: LabStack
) -> None:
    machine = world.spare_node
    others = {name: world.restarts(name) for name in world.stack_nodes}
    world.add_to_stack(stack, machine, machine)
    stack.pulumi("up", "--yes", "--skip-preview")
    assert held(world, machine, IDENTITY) == list(IDENTITY)
    put_pod(world, machine, "bare")
    world.remove_from_stack(stack, machine)

    planned = stack.planned()
    for resource in ("drain", "start-kubelet", "node-object", "bootstrap-token", "kubelet-config"):
        assert planned.get(f"{machine}-{resource}") == "delete", (resource, planned)
    assert {op for name, op in planned.items() if name.startswith(world.stack_nodes[0])} <= {"same"}
    up = stack.pulumi("up", "--yes", "--skip-preview")

    assert "bare" not in pod_names(world), "the pod was not evicted"
    assert f"{machine}: drained" in up.output
    assert world.stops(machine) >= 1, "its kubelet was not stopped"
    assert machine not in cluster.node_names(world.plane), "its Node object lingers"
    assert f"system:bootstrappers:{machine}" not in token_groups(world), "its token lingers"
    assert held(world, machine, IDENTITY + STACK_FILES) == []
    assert (world.root(machine) / "opt/k8s/bin/kubelet").exists()  # not the stack's
    assert set(world.stack_nodes) <= cluster.node_names(world.plane)
    assert {name: world.restarts(name) for name in world.stack_nodes} == others


def test_the_same_machine_joins_again_as_the_node_it_is_now_named_and_leaves_again(
    world: World, stack: LabStack
) -> None:
    machine = world.spare_node
    world.add_to_stack(stack, machine, f"{machine}-again")
    stack.pulumi("up", "--yes", "--skip-preview")

    assert f"{machine}-again" in cluster.node_names(world.plane)
    assert machine not in cluster.node_names(world.plane)
    subject = client_certificate_subject(world, machine)
    assert subject == f"CN=system:node:{machine}-again,O=system:nodes", subject

    world.remove_from_stack(stack, machine)
    stack.pulumi("up", "--yes", "--skip-preview")
    assert f"{machine}-again" not in cluster.node_names(world.plane)
    assert held(world, machine, IDENTITY) == []


def test_a_machine_renamed_in_place_joins_under_its_new_name_in_one_update(
    world: World, stack: LabStack
) -> None:
    """The new name's start runs before the old name's stop, on a kubelet that holds the old
    node's client certificate: it drops that identity and the kubelet bootstraps anew. The
    old name's pod, evicted, is left to the pod garbage collector: no kubelet will finish it,
    as the old name's Lease (or Node) shows."""
    machine = world.spare_node
    world.add_to_stack(stack, machine, f"{machine}-a")
    stack.pulumi("up", "--yes", "--skip-preview")
    before = client_certificate_subject(world, machine)
    assert before == f"CN=system:node:{machine}-a,O=system:nodes", before
    put_pod(world, f"{machine}-a", "renamed")

    stack.set(f"nodes[{len(world.stack_nodes)}].name", f"{machine}-b", path=True)
    renamed = stack.pulumi("up", "--yes", "--skip-preview")

    assert f"holds the identity of system:node:{machine}-a: it goes" in renamed.output
    # Its Lease going stale or its Node going Unknown, whichever the drain sees first.
    assert f"{machine}-a: default/renamed is terminating; not waited for, as " in renamed.output
    wait_for("the pod garbage collector", lambda: "renamed" not in pod_names(world))
    names = cluster.node_names(world.plane)
    assert f"{machine}-b" in names and f"{machine}-a" not in names
    subject = client_certificate_subject(world, machine)
    assert subject == f"CN=system:node:{machine}-b,O=system:nodes", subject
    assert f"{machine}-b" in stack.outputs()["servingCertificates"]

    world.remove_from_stack(stack, machine)
    stack.pulumi("up", "--yes", "--skip-preview")
    assert held(world, machine, IDENTITY) == []


def test_a_reachable_node_whose_kubelet_is_dead_is_removed_in_one_update(
    world: World, stack: LabStack
) -> None:
    """Its pod, evicted, would never finish terminating: the drain does not wait for it once
    the kubelet's Lease or the Node's Ready condition says the kubelet is gone."""
    machine, node = world.spare_node, f"{world.spare_node}-dead"
    world.add_to_stack(stack, machine, node)
    stack.pulumi("up", "--yes", "--skip-preview")
    put_pod(world, node, "orphan")
    nodes.node_exec(machine, ["systemctl", "stop", "kubelet.service"])
    world.remove_from_stack(stack, machine)

    up = stack.pulumi("up", "--yes", "--skip-preview")

    assert f"{node}: default/orphan is terminating; not waited for, as " in up.output
    assert f"{node}: drained" in up.output
    assert node not in cluster.node_names(world.plane)
    wait_for("the pod garbage collector", lambda: "orphan" not in pod_names(world))
    assert held(world, machine, IDENTITY) == []


def test_a_node_registered_again_by_someone_else_is_left_alone(
    world: World, stack: LabStack
) -> None:
    """Its Node is deleted and registered anew under the node's name (here by the admin, as a
    kubelet of another stack would): the removal stops this machine's kubelet, and neither
    drains nor deletes that Node, whose UID is not the one the stack recorded."""
    machine, node = world.spare_node, f"{world.spare_node}-twin"
    world.add_to_stack(stack, machine, node)
    stack.pulumi("up", "--yes", "--skip-preview")
    api = core(world)
    api.delete_node(node)
    theirs = api.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=node)))
    stops = world.stops(machine)
    world.remove_from_stack(stack, machine)

    up = stack.pulumi("up", "--yes", "--skip-preview")

    try:
        live = api.read_node(node)
        assert live.metadata.uid == theirs.metadata.uid
        assert not live.spec.unschedulable, "the drain cordoned a Node that is not the stack's"
        assert f"{node}: the Node is not the one this stack saw (UID {theirs.metadata.uid}" in (
            up.output
        )
        assert world.stops(machine) > stops, "its kubelet was not stopped"
        assert held(world, machine, IDENTITY) == []
    finally:
        api.delete_node(node)


def test_a_decommissioned_node_is_dropped_without_ssh(world: World, stack: LabStack) -> None:
    machine, node = world.spare_node, f"{world.spare_node}-gone"
    world.add_to_stack(stack, machine, node)
    stack.pulumi("up", "--yes", "--skip-preview")
    assert node in cluster.node_names(world.plane)
    veth = f"{node_network.VETH_PREFIX}{world.records.index(world.record(machine)) + 1}"
    node_network.ip("link", "set", veth, "down")  # the machine is gone: no SSH, no kubelet
    try:
        index = len(world.stack_nodes)
        stack.set(f"nodes[{index}].decommissioned", "true", path=True)
        stack.set("kubelet.maxPods", "111", path=True)  # a change every other node takes
        planned = stack.planned()
        assert planned.get(f"{node}-node-object") == "update"  # it deletes the Node
        assert planned.get(f"{node}-bootstrap-token") == "delete"
        for resource in ("start-kubelet", "restart-kubelet", "kubelet-config", "drain", "prepare"):
            assert planned.get(f"{node}-{resource}", "same") == "same", (resource, planned)
        assert planned.get(f"{world.stack_nodes[0]}-restart-kubelet") == "update"

        stack.pulumi("up", "--yes", "--skip-preview")
        assert node not in cluster.node_names(world.plane)
        assert f"system:bootstrappers:{node}" not in token_groups(world)

        world.remove_from_stack(stack, machine)
        planned = stack.planned()
        assert planned.get(f"{node}-start-kubelet") == "delete"
        forgotten = stack.pulumi("up", "--yes", "--skip-preview")
        assert node not in stack.export(), "the state still holds the decommissioned node"
        assert f"{node}: not drained" not in forgotten.output  # its drain did not even run
    finally:
        node_network.ip("link", "set", veth, "up")
        nodes.node_exec(machine, ["systemctl", "stop", "kubelet.service"])
