"""A node's drain and its Node object's deletion, against the fake API server.

The providers run as the engine runs them on delete, configured with the admin kubeconfig of
the fake; the drain's clock is a fake one that the sleeps move, so a timeout takes no time.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from components.removal.node_drain import DrainError, _DaemonSets, drain
from components.removal.node_removal import NodeDrainProvider, NodeObjectProvider
from tests.factories import configured
from tests.fake_apiserver import FakeApiServer

NODE = "node-4"


class FakeTime:
    """A clock that only the drain's sleeps move; `on_sleep` plays what happens meanwhile."""

    def __init__(self, on_sleep: Any = None) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep(self.sleeps)


def run_drain(api: client.ApiClient, timeout: float = 60, on_sleep: Any = None) -> list[str]:
    time = FakeTime(on_sleep)
    lines: list[str] = []
    drain(api, NODE, timeout, lines.append, clock=time.clock, sleep=time.sleep)
    return lines


@pytest.fixture
def node(server: FakeApiServer) -> str:
    server.add_node(NODE, ready=True)
    server.add_node("node-1", ready=True)
    return NODE


def test_a_drain_cordons_and_evicts_all_but_daemonset_and_mirror_pods(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    pods = server.workloads
    pods.add_pod("default", "web-0", node, owner_kind="StatefulSet")
    pods.add_pod("default", "bare", node)
    pods.add_pod("default", "done", node, phase="Succeeded", ready=False)
    pods.add_daemonset("kube-system", "proxy")
    pods.add_pod("kube-system", "proxy-x", node, owner_kind="DaemonSet", owner_name="proxy")
    mirror = {"kubernetes.io/config.mirror": "abc"}
    pods.add_pod("kube-system", "static-node-4", node, annotations=mirror)
    pods.add_pod("default", "elsewhere", "node-1")

    lines = run_drain(api)

    assert server.get_node(node)["spec"]["unschedulable"] is True
    assert "unschedulable" not in server.get_node("node-1").get("spec", {})
    assert pods.pods() == ["default/elsewhere", "kube-system/proxy-x", "kube-system/static-node-4"]
    assert lines == [f"{node}: cordoned", f"{node}: drained"]


def test_a_node_without_a_node_object_has_nothing_to_drain(
    server: FakeApiServer, api: client.ApiClient
) -> None:
    assert run_drain(api) == [f"{NODE}: no Node object, nothing to drain"]


def test_a_budget_that_allows_no_disruption_fails_the_drain_naming_the_pod_and_budget(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    server.workloads.add_pod("shop", "db-0", node, labels={"app": "db"}, owner_kind="StatefulSet")
    server.workloads.add_budget("shop", "db-pdb", {"app": "db"}, min_available=1)

    with pytest.raises(DrainError) as failure:
        run_drain(api, timeout=20)

    message = str(failure.value)
    assert f"{node}: drain did not finish within 20s" in message
    assert "before its kubelet was stopped" in message
    assert (
        "shop/db-0: eviction refused: Cannot evict pod as it would violate the pod's disruption "
        "budget.; The disruption budget db-pdb needs 1 healthy pods and has 1 currently"
    ) in message
    assert f"kubectl uncordon {node}" in message
    assert server.workloads.pods() == ["shop/db-0"]
    assert server.get_node(node)["spec"]["unschedulable"] is True


def test_a_budget_the_disruption_controller_has_not_processed_blocks_too(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    server.workloads.add_pod("shop", "db-0", node, labels={"app": "db"})
    server.workloads.add_budget("shop", "db-pdb", {"app": "db"}, 0, processed=False)

    with pytest.raises(DrainError, match="db-pdb is still being processed by the server"):
        run_drain(api, timeout=10)


def test_the_drain_goes_on_once_the_budget_allows_it(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    server.workloads.add_pod("shop", "db-0", node, labels={"app": "db"})
    server.workloads.add_budget("shop", "db-pdb", {"app": "db"}, min_available=1)

    def meanwhile(sleeps: int) -> None:
        if sleeps == 3:  # a second replica came up elsewhere
            server.workloads.add_pod("shop", "db-1", "node-1", labels={"app": "db"})

    lines = run_drain(api, on_sleep=meanwhile)

    assert lines[-1] == f"{node}: drained"
    assert server.workloads.pods() == ["shop/db-1"]


def test_a_pod_its_kubelet_does_not_finish_is_waited_for_and_reported(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    server.workloads.add_pod("default", "slow", node)
    server.workloads.stop_kubelet(node)

    with pytest.raises(DrainError) as failure:
        run_drain(api, timeout=10)

    assert "default/slow: terminating since" in str(failure.value)
    assert "its kubelet has not finished it" in str(failure.value)


def test_finished_and_orphaned_daemonset_pods_are_evicted_as_kubectl_does(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    pods = server.workloads
    pods.add_daemonset("kube-system", "proxy")
    owned = {"owner_kind": "DaemonSet"}
    pods.add_pod("kube-system", "proxy-x", node, owner_name="proxy", **owned)
    pods.add_pod("kube-system", "proxy-old", node, owner_name="proxy", phase="Failed", **owned)
    pods.add_pod("kube-system", "agent-x", node, owner_name="agent", **owned)

    lines = run_drain(api)

    assert pods.pods() == ["kube-system/proxy-x"]
    assert (
        f"{node}: kube-system/agent-x belongs to DaemonSet agent, which is gone: evicted" in lines
    )


def test_a_daemonset_lookup_leaves_its_connection_fit_for_the_next_request(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    """One pooled connection, so every request reuses the one before's, and each lookup's body
    comes a moment after its headers: a lookup that gave its connection back with the body
    unread made the next request read that body as its status line (BadStatusLine)."""
    server.workloads.add_daemonset("kube-system", "proxy")
    server.delay_bodies("daemonset-get", 0.3)
    configuration = api.configuration
    configuration.connection_pool_maxsize = 1
    one_connection = client.ApiClient(configuration)
    daemonsets = _DaemonSets(client.AppsV1Api(one_connection))
    core = client.CoreV1Api(one_connection)

    for name in ("proxy", "gone-1", "gone-2"):
        daemonsets.exists("kube-system", name)
        assert core.read_node(node).metadata.name == node


def test_a_daemonset_of_another_api_group_is_any_other_controller(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    """As kubectl's filter: only apps/v1 DaemonSets are looked up (and left)."""
    pods = server.workloads
    pods.add_pod("kube-system", "kruise-x", node, owner_kind="DaemonSet", owner_name="kruise")
    pods.pod("kube-system", "kruise-x")["metadata"]["ownerReferences"][0]["apiVersion"] = (
        "apps.kruise.io/v1alpha1"
    )

    lines = run_drain(api)

    assert pods.pods() == []
    assert not any("which is gone" in line for line in lines)


def test_an_eviction_refused_in_a_terminating_namespace_is_tried_again(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    """The namespace controller deletes the pod meanwhile; the drain waits for that."""
    server.workloads.add_pod("old-team", "job-7", node)
    server.workloads.terminate_namespace("old-team")

    def meanwhile(sleeps: int) -> None:
        if sleeps == 3:
            server.workloads.delete_pod("old-team", "job-7")

    lines = run_drain(api, on_sleep=meanwhile)

    assert lines[-1] == f"{node}: drained"
    assert server.workloads.pods() == []


def test_a_namespace_that_stays_terminating_is_named_when_the_drain_times_out(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    server.workloads.add_pod("old-team", "job-7", node)
    server.workloads.terminate_namespace("old-team")

    with pytest.raises(DrainError) as failure:
        run_drain(api, timeout=10)

    assert "old-team/job-7: its namespace is being deleted, which refuses evictions" in str(
        failure.value
    )


def test_pods_of_a_node_whose_kubelet_the_controller_gave_up_on_are_not_waited_for(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    server.workloads.add_pod("default", "web-1", node)
    server.workloads.stop_kubelet(node)
    server.set_node_unknown(node)

    lines = run_drain(api, timeout=60)

    assert lines[-1] == f"{node}: drained"
    assert (
        f"{node}: default/web-1 is terminating; not waited for, as its kubelet stopped posting "
        "the node's status (Ready Unknown since"
    ) in lines[1]
    assert server.workloads.pods() == ["default/web-1"]  # deleted with the Node, by PodGC


def test_pods_of_a_node_whose_lease_stops_being_renewed_are_not_waited_for(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    """A machine renamed in place, or a kubelet that died a moment ago: the Node still says
    Ready, but its Lease is not renewed for 40 s of the drain's own clock (polls of 2 s)."""
    server.workloads.add_pod("default", "web-1", node)
    server.workloads.stop_kubelet(node)
    server.tokens.renew_lease(node)
    time = FakeTime()
    lines: list[str] = []

    drain(api, NODE, 120, lines.append, clock=time.clock, sleep=time.sleep)

    assert lines[-1] == f"{node}: drained"
    assert "its kubelet has not renewed its Lease for 40s" in lines[1]
    assert 40 <= time.now <= 44


def test_a_kubelet_that_keeps_renewing_its_lease_is_waited_for(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    server.workloads.add_pod("default", "slow", node)
    server.workloads.stop_kubelet(node)
    server.tokens.renew_lease(node)

    def renew(sleeps: int) -> None:
        if sleeps % 5 == 0:
            server.tokens.renew_lease(node)

    with pytest.raises(DrainError, match="default/slow: terminating since"):
        run_drain(api, timeout=120, on_sleep=renew)


def props(**extra: Any) -> dict[str, Any]:
    return {"node_name": NODE, **extra}


def test_the_drain_provider_drains_on_delete(
    server: FakeApiServer, node: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server.workloads.add_pod("default", "bare", node)

    configured(NodeDrainProvider(), server.kubeconfig()).delete(
        NODE, props(drain=True, timeout_seconds=30)
    )

    assert server.workloads.pods() == []
    assert f"{node}: drained" in capsys.readouterr().err


def test_with_removal_drain_false_the_node_is_neither_cordoned_nor_drained(
    server: FakeApiServer, node: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server.workloads.add_pod("default", "bare", node)

    configured(NodeDrainProvider(), server.kubeconfig()).delete(
        NODE, props(drain=False, timeout_seconds=30)
    )

    assert server.workloads.pods() == ["default/bare"]
    assert "unschedulable" not in server.get_node(node).get("spec", {})
    assert "not drained (removal.drain is false)" in capsys.readouterr().err


def test_the_node_object_provider_deletes_the_node_and_tolerates_its_absence(
    server: FakeApiServer, node: str
) -> None:
    provider = configured(NodeObjectProvider(), server.kubeconfig())
    recorded = provider.create(props()).outs

    provider.delete(NODE, recorded)
    provider.delete(NODE, recorded)

    assert [n["metadata"]["name"] for n in server.list_nodes()] == ["node-1"]


def test_create_and_update_only_read_the_node_to_record_its_uid(
    server: FakeApiServer, node: str
) -> None:
    provider = configured(NodeDrainProvider(), server.kubeconfig())
    inputs = props(drain=True, timeout_seconds=30)
    uid = server.get_node(node)["metadata"]["uid"]
    server.reset_counts()

    created = provider.create(inputs)
    changed = provider.diff(NODE, created.outs, {**inputs, "timeout_seconds": 60})
    updated = provider.update(NODE, created.outs, {**inputs, "timeout_seconds": 60})

    assert (created.id, created.outs["node_uid"], updated.outs["node_uid"]) == (NODE, uid, uid)
    assert (changed.changes, changed.replaces) == (True, [])
    assert not provider.diff(NODE, created.outs, dict(inputs)).changes
    assert server.counts() == {"node-get": 1}  # the update keeps the UID on record


def test_the_fake_refuses_an_eviction_naming_another_pod_as_the_api_server_does(
    server: FakeApiServer, api: client.ApiClient, node: str
) -> None:
    server.workloads.add_pod("default", "bare", node)
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name="other", namespace="default"))

    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).create_namespaced_pod_eviction("bare", "default", body)

    assert refused.value.status == 400
    assert server.workloads.pods() == ["default/bare"]
