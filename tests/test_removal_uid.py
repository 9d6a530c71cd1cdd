"""A removal acts on the Node this stack saw, not on another registered under its name.

Against the fake API server, whose Node deletion honours a UID precondition as the API
server does (409): a Node deleted and registered again has a new UID, and the drain, the Node's
deletion and the removal of labels and taints leave it alone.
"""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest

from components.cluster.node_metadata import NodeMetadataProvider
from components.cluster.node_uid import REMOVAL_ANNOTATION
from components.removal import node_removal
from components.removal.node_removal import NodeDrainProvider, NodeObjectProvider, _delete_node
from tests.factories import configured
from tests.fake_apiserver import FakeApiServer

NODE = "node-4"
DRAIN = {"node_name": NODE, "drain": True, "timeout_seconds": 30}


def uid(server: FakeApiServer) -> str:
    return server.get_node(NODE)["metadata"]["uid"]


def registered_again(server: FakeApiServer) -> str:
    """The Node deleted and registered anew under the same name: its new UID."""
    server.delete_node(NODE)
    server.add_node(NODE, ready=True)
    return uid(server)


def drain_provider(server: FakeApiServer) -> NodeDrainProvider:
    return configured(NodeDrainProvider(), server.kubeconfig())


def object_provider(server: FakeApiServer) -> NodeObjectProvider:
    return configured(NodeObjectProvider(), server.kubeconfig())


def test_the_uid_is_recorded_once_the_node_is_registered(server: FakeApiServer) -> None:
    provider = object_provider(server)
    created = provider.create({"node_name": NODE}).outs  # before its kubelet started
    server.add_node(NODE, ready=True)

    refreshed = provider.read(NODE, created).outs
    registered_again(server)
    refreshed_again = provider.read(NODE, refreshed).outs

    assert created["node_uid"] is None
    assert refreshed["node_uid"] is not None
    assert refreshed_again["node_uid"] == refreshed["node_uid"], "a refresh adopted a stranger"


def test_the_drain_waits_a_little_for_its_node_to_record_its_uid(
    server: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made once its kubelet passed the gate, a moment before that kubelet registers."""
    monkeypatch.setattr(node_removal, "POLL_SECONDS", 0.05)
    registering = threading.Timer(0.3, lambda: server.add_node(NODE, ready=True))
    registering.start()
    try:
        created = drain_provider(server).create(DRAIN).outs
    finally:
        registering.join()

    assert created["node_uid"] == uid(server)


def test_a_node_registered_again_is_neither_drained_nor_marked(
    server: FakeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add_node(NODE, ready=True)
    state = drain_provider(server).create(DRAIN).outs
    new_uid = registered_again(server)
    server.workloads.add_pod("default", "theirs", NODE)

    drain_provider(server).delete(NODE, state)

    node = server.get_node(NODE)
    assert server.workloads.pods() == ["default/theirs"]
    assert "unschedulable" not in node.get("spec", {})
    assert REMOVAL_ANNOTATION not in (node["metadata"].get("annotations") or {})
    logged = capsys.readouterr().err
    assert f"UID {new_uid}, this stack recorded {state['node_uid']}" in logged
    assert "it is left alone: neither drained nor deleted" in logged


def test_the_drain_marks_the_node_and_its_deletion_takes_the_mark_as_its_record(
    server: FakeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    node_object = object_provider(server).create({"node_name": NODE}).outs  # no UID yet
    server.add_node(NODE, ready=True)
    server.tokens.renew_lease(NODE)  # its kubelet was running a moment ago
    drained = drain_provider(server).create(DRAIN).outs

    drain_provider(server).delete(NODE, drained)
    annotations = server.get_node(NODE)["metadata"]["annotations"]
    object_provider(server).delete(NODE, node_object)

    assert annotations[REMOVAL_ANNOTATION] == drained["node_uid"]
    assert server.list_nodes() == []
    assert f"{NODE}: Node object deleted" in capsys.readouterr().err


def test_a_recorded_uid_deletes_that_node_and_spares_one_registered_again(
    server: FakeApiServer,
) -> None:
    server.add_node(NODE, ready=True)
    recorded = object_provider(server).create({"node_name": NODE}).outs
    registered_again(server)

    object_provider(server).delete(NODE, recorded)
    spared = uid(server)
    object_provider(server).delete(NODE, {**recorded, "node_uid": spared})

    assert spared and server.list_nodes() == []


def test_a_node_registered_again_between_read_and_delete_stays(
    server: FakeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add_node(NODE, ready=True)
    seen = server.get_node(NODE)
    registered_again(server)

    _delete_node(object_provider(server).admin_client(), seen)

    assert [n["metadata"]["name"] for n in server.list_nodes()] == [NODE]
    assert "registered again while it was being removed: left alone" in capsys.readouterr().err


def test_after_the_drain_left_a_node_alone_its_deletion_leaves_it_too(
    server: FakeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new stack's NodeObject was made before its Node: without the drain's mark, nothing
    says the Node is this stack's."""
    unrecorded = object_provider(server).create({"node_name": NODE}).outs
    server.add_node(NODE, ready=True)
    drained = drain_provider(server).create(DRAIN).outs
    registered_again(server)

    drain_provider(server).delete(NODE, drained)
    object_provider(server).delete(NODE, unrecorded)

    assert [n["metadata"]["name"] for n in server.list_nodes()] == [NODE]
    assert f"`kubectl delete node {NODE}` once you know" in capsys.readouterr().err


@pytest.fixture
def short_lease_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decommissioned node's Node waits for its Lease to go stale: not for 45 s here."""
    monkeypatch.setattr(node_removal, "LEASE_GRACE_SECONDS", -39.5)  # 40 s lease: 0.5 s
    monkeypatch.setattr(node_removal, "POLL_SECONDS", 0.1)


def lease_renewed(server: FakeApiServer, seconds_ago: float) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    server.tokens.renew_lease(NODE, at=now - datetime.timedelta(seconds=seconds_ago))


def decommission(server: FakeApiServer, state: dict[str, Any]) -> dict[str, Any]:
    """`nodes[].decommissioned: true`, applied: the NodeObject's update; its outputs."""
    news = {"node_name": NODE, "decommissioned": True}
    provider = object_provider(server)
    assert provider.diff(NODE, state, news).changes
    return provider.update(NODE, state, news).outs


def test_a_decommissioned_node_whose_kubelet_still_runs_fails_and_keeps_its_node(
    server: FakeApiServer, short_lease_wait: None
) -> None:
    """Its Lease renewed while watched, by the kubelet's clock, which here is an hour behind
    this machine's: compared with this clock, every renewal would look stale."""
    unrecorded = object_provider(server).create({"node_name": NODE}).outs
    server.add_node(NODE, ready=True)
    stop = threading.Event()

    def kubelet() -> None:
        while not stop.wait(0.05):
            lease_renewed(server, seconds_ago=3600)

    lease_renewed(server, seconds_ago=3600)
    renewing = threading.Thread(target=kubelet)
    renewing.start()
    try:
        with pytest.raises(RuntimeError) as failure:
            decommission(server, unrecorded)
    finally:
        stop.set()
        renewing.join()

    assert [n["metadata"]["name"] for n in server.list_nodes()] == [NODE]
    assert "a kubelet still holds its Node (its Lease was renewed while watched" in str(
        failure.value
    )


@pytest.mark.parametrize(
    "lease", [pytest.param(None, id="no-lease"), pytest.param(-3600, id="not-renewed-dated-ahead")]
)
def test_a_decommissioned_nodes_node_is_deleted_once_no_kubelet_holds_it(
    server: FakeApiServer, short_lease_wait: None, lease: Any
) -> None:
    unrecorded = object_provider(server).create({"node_name": NODE}).outs
    server.add_node(NODE, ready=True)
    if lease is not None:
        lease_renewed(server, seconds_ago=lease)

    retired = decommission(server, unrecorded)

    assert server.list_nodes() == []
    assert retired["node_uid"] is None, "a Node registered later would look like a stranger"


def test_a_decommissioned_node_registered_again_is_left_alone(server: FakeApiServer) -> None:
    server.add_node(NODE, ready=True)
    recorded = object_provider(server).create({"node_name": NODE}).outs
    registered_again(server)

    decommission(server, recorded)

    assert [n["metadata"]["name"] for n in server.list_nodes()] == [NODE]


def test_labels_and_taints_stay_on_a_node_registered_again(
    server: FakeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.add_node(NODE, ready=True)
    provider = configured(NodeMetadataProvider(), server.kubeconfig())
    props = {"node": NODE, "labels": {"gpu": "true"}, "taints": [], "timeout_seconds": 5}
    state = provider.create(props).outs
    server.delete_node(NODE)
    server.add_node(NODE, ready=True, labels={"gpu": "true"})

    provider.delete(NODE, state)

    assert server.get_node(NODE)["metadata"]["labels"]["gpu"] == "true"
    assert "its labels and taints are left alone" in capsys.readouterr().err
    assert state["node_uid"] != uid(server)
