"""Which Node object a removal may act on: the one this stack saw, known by its UID.

A Node's name is not its identity: a Node deleted and registered again, by another kubelet
given the same name (another stack's, or one started by hand), is a new object with a new
UID. The drain, the Node's deletion and the removal of labels and taints act only on the
object whose UID the stack recorded (`NodeDrain`, `NodeObject` and `NodeMetadata` record it
when they see the Node: at create once it is registered, at update, at refresh when none is
recorded yet).

`NodeObject` is made before its kubelet starts, so it often has none recorded; its drain,
which runs just before the kubelet stops, marks the Node it judged this stack's
(`REMOVAL_ANNOTATION` = the Node's UID), and the Node's deletion takes that as its record.
Without either, the Node is left, saying so. A decommissioned node, which no drain precedes,
has its Node deleted once no kubelet holds it: its Lease not renewed while watched for a lease
duration.
Every deletion carries the UID as a precondition, so a Node re-created meanwhile is never
the one deleted.
"""

from __future__ import annotations

from typing import Any

from components.cluster.node_identity import DEFAULT_LEASE_SECONDS

REMOVAL_ANNOTATION = "kubelet-bootstrap.io/removal"
"""Set by a node's drain on the Node it judged this stack's: its UID."""
NODE_LEASE_NAMESPACE = "kube-node-lease"
REQUEST_SECONDS = 30


def read_node(api: Any, name: str) -> dict[str, Any] | None:
    """The Node `name` as the API's JSON, or None when it does not exist."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        node = client.CoreV1Api(api).read_node(name, _request_timeout=REQUEST_SECONDS)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return api.sanitize_for_serialization(node)  # type: ignore[no-any-return]


def uid_of(node: dict[str, Any] | None) -> str | None:
    return None if node is None else node["metadata"]["uid"]


def stranger(name: str, live: dict[str, Any], recorded: str | None) -> str | None:
    """Why the live Node is not the one this stack recorded, or None when it is (or no UID
    is on record to tell)."""
    uid = live["metadata"]["uid"]
    if recorded is None or recorded == uid:
        return None
    return (
        f"{name}: the Node is not the one this stack saw (UID {uid}, this stack recorded "
        f"{recorded}): it was registered again, by another stack or by hand"
    )


def marked_for_removal(live: dict[str, Any]) -> bool:
    """Whether this stack's drain judged this very Node this stack's (see the module)."""
    annotations = live["metadata"].get("annotations") or {}
    return annotations.get(REMOVAL_ANNOTATION) == live["metadata"]["uid"]


def mark_for_removal(api: Any, live: dict[str, Any]) -> None:
    from kubernetes import client

    patch = {"metadata": {"annotations": {REMOVAL_ANNOTATION: live["metadata"]["uid"]}}}
    client.CoreV1Api(api).patch_node(
        live["metadata"]["name"],
        patch,
        _content_type="application/merge-patch+json",
        _request_timeout=REQUEST_SECONDS,
    )


def renewed_while_watched(api: Any, name: str, grace: float, poll: float) -> str | None:
    """Why a kubelet still holds Node `name`: its Lease renewed while watched for a lease
    duration and `grace` (a live kubelet renews it every quarter duration), or None when it
    was not renewed, or there is none. Watched rather than compared with this machine's clock,
    which may not be the kubelet's, as the node lifecycle controller watches it."""
    import time

    first = _lease(api, name)
    if first is None:
        return None
    duration = first.spec.lease_duration_seconds or DEFAULT_LEASE_SECONDS
    deadline = time.monotonic() + duration + grace
    while time.monotonic() < deadline:
        time.sleep(poll)
        now = _lease(api, name)
        if now is None:
            return None
        if now.spec.renew_time != first.spec.renew_time:
            return f"its Lease was renewed while watched (a lease lasts {duration}s)"
    return None


def _lease(api: Any, name: str) -> Any:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        return client.CoordinationV1Api(api).read_namespaced_lease(
            name, NODE_LEASE_NAMESPACE, _request_timeout=REQUEST_SECONDS
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
