"""The program through the real Pulumi CLI, against a real control plane and real SSH nodes.

Scenarios a to g of issue 6, in order: each builds on the state the one before left. The
stack is configured the way the README tells users (`pulumi config set`, secrets with
`--secret`); the program runs unmodified from the repository.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lab import cluster, nodes, workers
from lab.stack import LabStack
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

RBAC_BINDINGS = (
    "kubelet-bootstrap",
    "auto-approve-csrs-for-group",
    "node-client-cert-renewal",
    "node-server-cert-renewal",
)
KUBELET_FILES = (
    "/etc/kubernetes/kubelet-bootstrap.kubeconfig",
    "/etc/kubernetes/kubelet-config.yaml",
    "/etc/systemd/system/kubelet.service",
)


def test_a_preview_changes_nothing(world: World, stack: LabStack) -> None:
    planned = stack.planned()
    for name in world.stack_nodes:
        for resource in ("start-kubelet", "prepare", "kubelet-config", "bootstrap-kubeconfig"):
            assert planned.get(f"{name}-{resource}") == "create", f"{name}-{resource} not planned"
    for name in world.stack_nodes:
        for path in KUBELET_FILES:
            assert not world.holds(name, path), f"preview wrote {path} on {name}"
        assert nodes.calls(name, world.lab.state_dir) == [], f"preview ran systemctl on {name}"
    assert cluster.bootstrap_token_secrets(world.plane) == []
    assert "kubelet-bootstrap" not in cluster.cluster_role_bindings(world.plane)


def test_b_up_joins_every_node(world: World, stack: LabStack) -> None:
    started = time.monotonic()
    stack.pulumi("up", "--yes", "--skip-preview")
    world.measure("pulumi up, 3 nodes, new stack (s)", time.monotonic() - started)
    world.remember_token_secrets()

    assert world.joined(world.stack_nodes) == {}
    requests = cluster.csrs(world.plane)
    for name in world.stack_nodes:
        username = f"system:node:{name}"
        client_csrs = [
            r
            for r in requests
            if r.spec.signer_name == "kubernetes.io/kube-apiserver-client-kubelet"
            and cluster.approved_and_issued(r)
            and r.spec.username.startswith("system:bootstrap:")
        ]
        assert client_csrs, "no client CSR was auto-approved through the program's RBAC"
        serving = [
            r
            for r in requests
            if r.spec.signer_name == "kubernetes.io/kubelet-serving"
            and r.spec.username == username
            and cluster.approved_and_issued(r)
        ]
        assert serving, f"{name}'s serving CSR was not approved and issued"
    outputs = stack.outputs()
    assert set(outputs["servingCertificates"]) == set(world.stack_nodes)
    # The verification identity does not outlive the check (issue 7, item 17).
    assert "kubelet-api-test" not in cluster.service_accounts(world.plane, "default")
    accounts = cluster.service_accounts(world.plane, "kube-system")
    bindings = cluster.cluster_role_bindings(world.plane)
    assert not [name for name in [*accounts, *bindings] if "kubelet-api-verification" in name]
    for name in world.stack_nodes:
        address = world.address(name)
        assert cluster.call_kubelet(address, world.plane) == 401
        assert cluster.call_kubelet(address, world.plane, client_cert=world.admin_cert) == 200


def test_c_no_change_rerun_restarts_nothing(world: World, stack: LabStack) -> None:
    before = {name: world.restarts(name) for name in world.stack_nodes}
    started = time.monotonic()
    stack.pulumi("up", "--yes", "--skip-preview")
    world.measure("pulumi up, 3 nodes, no change (s)", time.monotonic() - started)
    changes = stack.history()[0]["resourceChanges"]
    assert set(changes) == {"same"}, f"a no-change run changed {changes}"
    assert {name: world.restarts(name) for name in world.stack_nodes} == before


def test_c_a_change_of_the_gate_alone_restarts_nothing(world: World, stack: LabStack) -> None:
    """Only the unit, the config or the CA restart a kubelet (issue 7, item 16)."""
    before = {name: world.restarts(name) for name in world.stack_nodes}
    stack.set("kubelet.healthzTimeoutSeconds", "200", path=True)
    stack.pulumi("up", "--yes", "--skip-preview")
    assert {name: world.restarts(name) for name in world.stack_nodes} == before


def test_d_a_change_for_all_restarts_all(world: World, stack: LabStack) -> None:
    before = {name: world.restarts(name) for name in world.stack_nodes}
    stack.set("kubelet.maxPods", "110", path=True)
    planned = stack.planned()
    for name in world.stack_nodes:
        assert planned.get(f"{name}-restart-kubelet") == "update", f"{name} would not restart"
        assert planned.get(f"{name}-start-kubelet", "same") == "same", name
    stack.pulumi("up", "--yes", "--skip-preview")
    after = {name: world.restarts(name) for name in world.stack_nodes}
    assert after == {name: count + 1 for name, count in before.items()}


def test_d_a_change_for_one_node_after_the_csr_cleaner(world: World, stack: LabStack) -> None:
    """An extraSANs change concerns one node and restarts none; its serving certificate is
    judged again, an hour after approval, when the CSR cleaner has deleted every approved CSR:
    what the kubelet serves must then count (issue 7, items 8 and 9)."""
    target = world.stack_nodes[1]
    before = {name: world.restarts(name) for name in world.stack_nodes}
    cluster.delete_csrs(world.plane)
    index = world.stack_nodes.index(target)
    stack.set(f"nodes[{index}].extraSANs[0]", f"{target}.lab.internal", path=True)
    planned = stack.planned()
    assert planned.get("serving-csr-approval") == "update", "approval would not judge again"
    for name in world.stack_nodes:
        for command in ("start-kubelet", "restart-kubelet"):
            assert planned.get(f"{name}-{command}", "same") == "same", (
                f"an extraSANs change of {target} would restart {name}"
            )
    stack.pulumi("up", "--yes", "--skip-preview")
    assert {name: world.restarts(name) for name in world.stack_nodes} == before
    assert set(stack.outputs()["servingCertificates"]) == set(world.stack_nodes)


def test_e_a_fourth_node_added_then_removed(world: World, stack: LabStack) -> None:
    """The fourth node has a dotted name, as cloud nodes do (issue 7, item 3): it must join."""
    fourth = world.spare_node
    others = {name: world.restarts(name) for name in world.stack_nodes}
    world.add_to_stack(stack, fourth, f"{fourth}.lab.internal")
    stack.pulumi("up", "--yes", "--skip-preview")
    assert world.joined({fourth: f"{fourth}.lab.internal"}) == {}
    world.remove_from_stack(stack, fourth)
    stack.pulumi("up", "--yes", "--skip-preview")
    assert world.stops(fourth) >= 1, f"{fourth}'s kubelet was not stopped"
    for path in KUBELET_FILES:
        assert not world.holds(fourth, path), f"{path} is still on {fourth}"
    assert {name: world.restarts(name) for name in world.stack_nodes} == others


def test_f_destroy_removes_what_the_stack_made(world: World, stack: LabStack) -> None:
    stack.pulumi("destroy", "--yes", "--skip-preview")
    for name in world.stack_nodes:
        for path in KUBELET_FILES:
            assert not world.holds(name, path), f"{path} is still on {name}"
        assert world.stops(name) >= 1, f"{name}'s kubelet was not stopped"
    assert cluster.bootstrap_token_secrets(world.plane) == []
    assert {"system:node-bootstrapper", "system:node"} <= cluster.cluster_roles(world.plane)


def test_f_destroy_keeps_what_every_kubelet_still_needs(world: World) -> None:
    """The bootstrap RBAC lets every kubelet of the cluster renew (issue 7, item 14)."""
    bindings = cluster.cluster_role_bindings(world.plane)
    assert set(RBAC_BINDINGS) <= bindings, f"destroy deleted {set(RBAC_BINDINGS) - bindings}"


def test_f_destroy_leaves_the_control_planes_ca_on_the_master(world: World) -> None:
    """The stack found the CA file there: it is not the stack's to remove (issue 7, item 12)."""
    master = world.stack_nodes[0]
    assert world.holds(master, "/etc/kubernetes/cert/ca.pem"), (
        "destroy removed the control plane's CA file from the master node"
    )


def test_g_no_secret_in_state_or_output(world: World, stack: LabStack) -> None:
    secrets = world.secret_values()
    assert secrets, "the scenario collected no secret to look for"
    exported = stack.export()
    places = {"pulumi stack export": exported}
    for file in sorted(stack.backend.rglob("*")):
        if file.is_file():
            places[str(file)] = file.read_text(errors="replace")
    for index, call in enumerate(stack.calls):
        places[f"output of call {index}: {' '.join(Path(a).name for a in call.argv[:3])}"] = (
            call.output
        )
    leaks = [
        f"{label} holds the {what}"
        for label, text in places.items()
        for what, value in secrets.items()
        if value in text
    ]
    assert leaks == []


def test_h_a_new_cluster_without_cni_still_deploys(world: World) -> None:
    """On a new cluster the CNI plugin comes after the nodes join: its Node stays NotReady,
    and a first `pulumi up` must still succeed, reporting NotReady (issue 7, item 6)."""
    machine = world.spare_node
    world.reimage(machine)
    workers.equip(machine, world.root(machine), network_ready=False)
    with new_stack(world, "no-cni", [machine]) as stack:
        stack.set("csrApproval.timeoutSeconds", "60", path=True)
        stack.set("verification.timeoutSeconds", "30", path=True)
        up = stack.pulumi("up", "--yes", "--skip-preview", check=False)
        assert up.returncode == 0, "\n".join(
            line for line in up.output.splitlines() if "error" in line.lower()
        )
        assert machine in cluster.node_names(world.plane)
        assert "not Ready" in up.output, "the NotReady node was not reported"
