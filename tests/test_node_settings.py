"""Per-node settings (issue 8, point 3): `nodes[].labels`, `nodes[].taints`, `nodes[].kubelet`.

Bad ones are refused naming the node's key, before any resource; good ones reach that node's
unit and config only, so only its start command changes (only its kubelet restarts); and the
`<node>-metadata` resource keeps them on a registered Node, which the kubelet itself does not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from components.cluster.node_metadata import ConflictError, metadata_patch, reconcile
from components.node import rendering
from components.settings.kubelet_fields import default_catalog
from components.settings.kubelet_types import type_errors
from components.settings.loading import load_settings
from offline.engine import Recording
from tests.factories import HOST_KEY, admin_kubeconfig, node_list
from tests.test_artifacts import exec_start, parse_unit, systemd_verify
from tests.test_settings import problems, run_failing

METADATA = "pulumi-python:dynamic/kubelet-bootstrap:NodeMetadata"
NAME_HINT = "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
BIG = {
    "labels": {"gpu": True, "node-role.kubernetes.io/big": "", "topology.kubernetes.io/zone": "a"},
    "taints": [{"key": "dedicated", "value": "big", "effect": "NoSchedule"}],
    "kubelet": {"maxPods": 500, "extraConfig": {"evictionHard": {"memory.available": "1Gi"}}},
}


def with_node(index: int, **changes: Any) -> list[dict[str, Any]]:
    nodes = node_list(3)
    nodes[index] = {**nodes[index], **changes}
    return nodes


def file_of(recording: Recording, node: str, key: str) -> str:
    return recording.named(f"{node}-{key}").inputs["stdin"]  # type: ignore[no-any-return]


# --- refused ----------------------------------------------------------------------------------

KUBERNETES_NAMESPACE = (
    "is in the kubernetes.io and k8s.io namespaces, where a kubelet may register only"
    " kubelet.kubernetes.io/*, node.kubernetes.io/*, beta.kubernetes.io/instance-type,"
    " failure-domain.beta.kubernetes.io/region, failure-domain.beta.kubernetes.io/zone,"
    " topology.kubernetes.io/region, topology.kubernetes.io/zone (and the stack applies"
    " node-role.kubernetes.io/* and node-restriction.kubernetes.io/* itself, as admin)"
)
FLEET_WIDE = "is the same on every node (the scripts, approval and verification rely on it)"

BAD = [
    pytest.param(
        {"labels": {"kubernetes.io/role": "big"}},
        f"nodes[1].labels.kubernetes.io/role: {KUBERNETES_NAMESPACE}",
        id="label-in-kubernetes-namespace",
    ),
    pytest.param(
        {"labels": {"team.k8s.io/owner": "a"}},
        f"nodes[1].labels.team.k8s.io/owner: {KUBERNETES_NAMESPACE}",
        id="label-in-k8s-io-subdomain",
    ),
    pytest.param(
        {"labels": {"kubernetes.io/hostname": "other"}},
        "nodes[1].labels.kubernetes.io/hostname: is set by the kubelet itself, from the machine",
        id="label-the-kubelet-sets",
    ),
    pytest.param(
        {"labels": {"Bad Key": "x"}},
        f"nodes[1].labels.Bad Key: is not a qualified name: the name must be at most 63"
        f" characters: {NAME_HINT}",
        id="label-key-with-a-space",
    ),
    pytest.param(
        {"labels": {"a" * 64: "x"}},
        f"nodes[1].labels.{'a' * 64}: is not a qualified name: the name must be at most 63"
        f" characters: {NAME_HINT}",
        id="label-name-over-63",
    ),
    pytest.param(
        {"labels": {"Example.com/x": "y"}},
        "nodes[1].labels.Example.com/x: is not a qualified name: the prefix before '/' must be"
        " a DNS-1123 subdomain",
        id="label-prefix-not-dns",
    ),
    pytest.param(
        {"labels": {"tier": "front end"}},
        f"nodes[1].labels.tier: 'front end' is not a label value: empty, or at most 63"
        f" characters: {NAME_HINT}",
        id="label-value-with-a-space",
    ),
    pytest.param(
        {"labels": {"tier": "v" * 64}},
        f"nodes[1].labels.tier: '{'v' * 64}' is not a label value: empty, or at most 63"
        f" characters: {NAME_HINT}",
        id="label-value-over-63",
    ),
    pytest.param(
        {"labels": {"tier": 1.5}},
        "nodes[1].labels.tier: 1.5 is not a string",
        id="label-value-a-float",
    ),
    pytest.param(
        {"taints": [{"key": "dedicated", "effect": "NoScheduel"}]},
        "nodes[1].taints[0].effect: 'NoScheduel' is not 'NoSchedule', 'PreferNoSchedule' or"
        " 'NoExecute'",
        id="taint-effect-misspelt",
    ),
    pytest.param(
        {"taints": [{"key": "dedicated"}]},
        "nodes[1].taints[0].effect: is required",
        id="taint-without-effect",
    ),
    pytest.param(
        {"taints": [{"key": "-x", "effect": "NoSchedule"}]},
        f"nodes[1].taints[0].key: is not a qualified name: the name must be at most 63"
        f" characters: {NAME_HINT}",
        id="taint-key-bad",
    ),
    pytest.param(
        {"taints": [{"key": "a", "value": "b c", "effect": "NoSchedule"}]},
        f"nodes[1].taints[0].value: 'b c' is not a label value: empty, or at most 63"
        f" characters: {NAME_HINT}",
        id="taint-value-bad",
    ),
    pytest.param(
        {"taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]},
        "nodes[1].taints[0].key: is a taint that Kubernetes' node controllers add and remove"
        " themselves",
        id="taint-of-the-node-controllers",
    ),
    pytest.param(
        {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}]},
        "nodes[1].taints: 'a' with effect NoSchedule is given twice",
        id="taint-twice",
    ),
    pytest.param(
        {"taints": [{"key": "a", "effect": "NoSchedule", "operator": "Exists"}]},
        "nodes[1].taints[0].operator: unknown key",
        id="taint-unknown-key",
    ),
    pytest.param(
        {"kubelet": {"maxPods": 5000}},
        "nodes[1].kubelet.maxPods: 5000 is more than 2000, the most it may be",
        id="node-max-pods-over-2000",
    ),
    pytest.param(
        {"kubelet": {"cgroupDriver": "docker"}},
        "nodes[1].kubelet.cgroupDriver: 'docker' is not 'systemd' or 'cgroupfs'",
        id="node-cgroup-driver",
    ),
    pytest.param(
        {"kubelet": {"resolvConf": "resolv.conf"}},
        "nodes[1].kubelet.resolvConf: 'resolv.conf' is neither 'auto' nor an absolute path"
        " without spaces or shell characters",
        id="node-resolv-conf",
    ),
    pytest.param(
        {"kubelet": {"port": 10260}},
        f"nodes[1].kubelet.port: {FLEET_WIDE}; set kubelet.port",
        id="node-port-fleet-wide",
    ),
    pytest.param(
        {"kubelet": {"configFile": "/etc/kubelet.yaml"}},
        f"nodes[1].kubelet.configFile: {FLEET_WIDE}; set kubelet.configFile",
        id="node-config-file-fleet-wide",
    ),
    pytest.param(
        {"kubelet": {"maxPod": 500}},
        "nodes[1].kubelet.maxPod: unknown key; did you mean 'maxPods'?",
        id="node-kubelet-typo",
    ),
    pytest.param(
        {"kubelet": {"extraConfig": {"maxPods": 500}}},
        "nodes[1].kubelet.extraConfig.maxPods: is set from nodes[1].kubelet.maxPods; use"
        " nodes[1].kubelet.maxPods",
        id="node-extra-config-owned",
    ),
    pytest.param(
        {"kubelet": {"extraConfig": {"port": 1}}},
        "nodes[1].kubelet.extraConfig.port: is set from kubelet.port; use kubelet.port",
        id="node-extra-config-fleet-wide",
    ),
    pytest.param(
        {"kubelet": {"extraConfig": {"registerWithTaints": []}}},
        "nodes[1].kubelet.extraConfig.registerWithTaints: is set from nodes[].taints; use"
        " nodes[].taints",
        id="node-extra-config-taints",
    ),
    pytest.param(
        {"kubelet": {"extraConfig": {"readOnlyPort": 10255}}},
        "nodes[1].kubelet.extraConfig.readOnlyPort: is set by kubelet-bootstrap for security;"
        " it cannot be overridden",
        id="node-extra-config-protected",
    ),
    pytest.param(
        {"kubelet": {"extraConfig": {"imageGCHighThresholdPrecent": 80}}},
        "nodes[1].kubelet.extraConfig.imageGCHighThresholdPrecent: unknown KubeletConfiguration"
        " field; did you mean 'imageGCHighThresholdPercent'?",
        id="node-extra-config-misspelt",
    ),
    pytest.param(
        {"lables": {"a": "b"}},
        "nodes[1].lables: unknown key; did you mean 'labels'?",
        id="node-labels-typo",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), BAD)
def test_bad_node_settings_fail_naming_the_nodes_key_and_register_nothing(
    changes: dict[str, Any], expected: str, config: Callable[..., dict[str, Any]]
) -> None:
    message, recording = run_failing(config(nodes=with_node(1, **changes)))
    assert problems(message) == [expected]
    assert recording.resources == []


# --- rendered for that node only --------------------------------------------------------------


def test_a_nodes_settings_reach_its_files_and_only_its_start_changes(
    config: Callable[..., dict[str, Any]], run: Callable[..., Recording]
) -> None:
    extra = {"evictionHard": {"nodefs.available": "10%"}}
    plain = run(config(nodes=3, kubelet={"extraConfig": extra}))
    big = run(config(nodes=with_node(1, **BIG), kubelet={"extraConfig": extra}))

    document = yaml.safe_load(file_of(big, "node-1", "kubelet-config"))
    assert document["maxPods"] == 500
    assert document["evictionHard"] == {"nodefs.available": "10%", "memory.available": "1Gi"}
    assert document["registerWithTaints"] == [
        {"key": "dedicated", "value": "big", "effect": "NoSchedule"}
    ]
    flags = exec_start(parse_unit(file_of(big, "node-1", "kubelet-unit")))
    # The kubelet refuses node-role.kubernetes.io labels: the stack applies that one itself.
    assert "--node-labels=gpu=true,topology.kubernetes.io/zone=a" in flags
    for key in ("kubelet-config", "kubelet-unit", "restart-kubelet", "prepare"):
        changed = {
            node: plain.named(f"{node}-{key}").inputs != big.named(f"{node}-{key}").inputs
            for node in ("node-0", "node-1", "node-2")
        }
        assert changed == {"node-0": False, "node-1": key != "prepare", "node-2": False}, key


def test_a_node_overrides_what_its_preparation_does(
    config: Callable[..., dict[str, Any]], run: Callable[..., Recording]
) -> None:
    recording = run(config(nodes=with_node(2, kubelet={"failSwapOn": False})))
    assert "swapoff" in recording.named("node-0-prepare").inputs["create"]
    assert "swapoff" not in recording.named("node-2-prepare").inputs["create"]
    assert yaml.safe_load(file_of(recording, "node-2", "kubelet-config"))["failSwapOn"] is False


def test_a_node_without_labels_gets_no_node_labels_flag(
    config: Callable[..., dict[str, Any]], run: Callable[..., Recording]
) -> None:
    recording = run(config(nodes=with_node(0, labels={"node-role.kubernetes.io/x": "y"})))
    assert not any(
        flag.startswith("--node-labels")
        for node in ("node-0", "node-1")
        for flag in exec_start(parse_unit(file_of(recording, node, "kubelet-unit")))
    )


def test_node_metadata_is_kept_after_the_restart_for_nodes_with_labels_or_taints(
    config: Callable[..., dict[str, Any]], run: Callable[..., Recording]
) -> None:
    recording = run(config(nodes=with_node(1, **BIG)))
    [metadata] = recording.of_type(METADATA)
    assert metadata.name == "node-1-metadata"
    assert metadata.dependencies == [recording.named("node-1-restart-kubelet").urn]
    assert "kubeconfig" not in metadata.inputs  # read from the configuration when it acts
    assert metadata.inputs["labels"] == {
        "gpu": "true",
        "node-role.kubernetes.io/big": "",
        "topology.kubernetes.io/zone": "a",
    }
    assert metadata.inputs["taints"] == [
        {"key": "dedicated", "value": "big", "effect": "NoSchedule"}
    ]
    assert run(config(nodes=3)).of_type(METADATA) == []


# --- artifacts --------------------------------------------------------------------------------


def test_a_unit_with_node_labels_passes_systemd_analyze_verify(
    tmp_path: Path, ca_file: Path, ssh_key: str
) -> None:
    settings = load_settings(
        {
            "apiServer": "https://10.0.0.10:6443",
            "caCertFile": str(ca_file),
            "kubeconfig": admin_kubeconfig(ca_file.read_text()),
            "ssh": {"privateKey": ssh_key, "hostKey": HOST_KEY},
            "cluster": {"dnsServiceIP": "10.254.0.2"},
            "nodes": with_node(0, **BIG),
        },
        environ={},
    )
    node = settings.nodes[0]
    unit = rendering.kubelet_unit(settings.kubelet_for(node), node)
    assert "--node-labels=" in unit
    assert systemd_verify(tmp_path / "root", unit, settings.kubelet) == ""


def test_register_with_taints_is_what_the_kubelet_and_the_api_read(
    config: Callable[..., dict[str, Any]], run: Callable[..., Recording]
) -> None:
    taints = [
        {"key": "dedicated", "value": "big", "effect": "NoSchedule"},
        {"key": "example.com/maintenance", "effect": "NoExecute"},
    ]
    document = yaml.safe_load(
        file_of(run(config(nodes=with_node(0, taints=taints))), "node-0", "kubelet-config")
    )
    assert (
        type_errors(default_catalog(), {"registerWithTaints": document["registerWithTaints"]}) == []
    )
    parsed = [client.V1Taint.from_dict(t) for t in document["registerWithTaints"]]
    assert [(t.key, t.value, t.effect) for t in parsed] == [
        ("dedicated", "big", "NoSchedule"),
        ("example.com/maintenance", None, "NoExecute"),
    ]


# --- keeping them on a registered Node ---------------------------------------------------------


def live(labels: dict[str, str], taints: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": "7", "labels": labels}, "spec": {"taints": taints}}


KUBELET_OWN = {"kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux"}
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": "t0"}


def test_a_new_label_and_taint_are_added_and_the_rest_kept() -> None:
    node = live(dict(KUBELET_OWN), [NOT_READY])
    taint = {"key": "dedicated", "value": "big", "effect": "NoSchedule"}
    patch = metadata_patch(node, {"gpu": "true"}, [taint], {})
    assert patch == {
        "metadata": {"labels": {"gpu": "true"}, "resourceVersion": "7"},
        "spec": {"taints": [NOT_READY, taint]},
    }


def test_what_the_stack_no_longer_names_is_removed_and_changes_are_applied() -> None:
    previous = {
        "labels": {"gpu": "true", "node-role.kubernetes.io/big": ""},
        "taints": [{"key": "dedicated", "value": "big", "effect": "NoSchedule"}],
    }
    old_taint = {"key": "dedicated", "value": "big", "effect": "NoSchedule"}
    ops = {"key": "ops", "effect": "PreferNoSchedule"}
    node = live(
        {**KUBELET_OWN, "gpu": "true", "node-role.kubernetes.io/big": "", "owner": "ops"},
        [old_taint, ops],
    )
    new_taint = {"key": "dedicated", "value": "huge", "effect": "NoSchedule"}
    patch = metadata_patch(node, {"gpu": "false"}, [new_taint], previous)
    assert patch == {
        "metadata": {
            "labels": {"gpu": "false", "node-role.kubernetes.io/big": None},
            "resourceVersion": "7",
        },
        "spec": {"taints": [ops, new_taint]},
    }


def test_nothing_is_patched_when_the_node_has_them() -> None:
    taint = {"key": "x", "effect": "NoExecute"}
    node = live({**KUBELET_OWN, "gpu": "true"}, [{**taint, "timeAdded": "t1"}])
    assert metadata_patch(node, {"gpu": "true"}, [taint], {"labels": {"gpu": "true"}}) is None


def test_a_removed_label_already_gone_is_not_patched() -> None:
    node = live(dict(KUBELET_OWN), [])
    assert metadata_patch(node, {}, [], {"labels": {"gpu": "true"}, "taints": []}) is None


class FakeNodes:
    """Nodes as `reconcile` reads and patches them: registered after `appears_after` reads,
    and changed by someone else before the first `conflicts` patches."""

    def __init__(self, appears_after: int = 0, conflicts: int = 0) -> None:
        self.reads, self.appears_after, self.conflicts = 0, appears_after, conflicts
        self.patches: list[dict[str, Any]] = []

    def read(self, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return live(dict(KUBELET_OWN), []) if self.reads > self.appears_after else None

    def patch(self, name: str, body: dict[str, Any]) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise ConflictError(name)
        self.patches.append(body)


PROPS = {"node": "node-1", "labels": {"gpu": "true"}, "taints": [], "timeout_seconds": 30}


def test_reconcile_waits_for_the_node_to_register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("components.cluster.node_metadata.RETRY_SECONDS", 0)
    nodes, lines = FakeNodes(appears_after=3), []
    reconcile(nodes.read, nodes.patch, PROPS, {}, lines.append)
    assert nodes.reads == 4
    assert nodes.patches == [{"metadata": {"labels": {"gpu": "true"}, "resourceVersion": "7"}}]
    assert lines == ["node-1: labels and taints applied (gpu=true)"]


def test_reconcile_reads_again_after_a_conflict() -> None:
    nodes = FakeNodes(conflicts=2)
    reconcile(nodes.read, nodes.patch, PROPS, {}, lambda _: None)
    assert nodes.reads == 3 and len(nodes.patches) == 1


def test_reconcile_fails_naming_the_node_when_it_never_registers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("components.cluster.node_metadata.RETRY_SECONDS", 0)
    nodes = FakeNodes(appears_after=10**9)
    with pytest.raises(TimeoutError, match="node-1: no Node registered within 0s"):
        reconcile(nodes.read, nodes.patch, {**PROPS, "timeout_seconds": 0}, {}, print)


def test_removing_from_a_node_that_is_gone_does_nothing() -> None:
    nodes = FakeNodes(appears_after=10**9)
    reconcile(nodes.read, nodes.patch, {**PROPS, "labels": {}}, PROPS, print, wait=False)
    assert nodes.reads == 1 and nodes.patches == []
