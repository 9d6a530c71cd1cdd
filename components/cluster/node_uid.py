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
has its Node deleted once no kubelet holds it: its Lease not renewed for a lease duration.
Every deletion carries the UID as a precondition, so a Node re-created meanwhile is never
the one deleted.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

REMOVAL_ANNOTATION = "kubelet-bootstrap.io/removal"
"""Set by a node's drain on the Node it judged this stack's: its UID."""
NODE_LEASE_NAMESPACE = "kube-node-lease"
DEFAULT_LEASE_SECONDS = 40
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


def held_by_a_kubelet(api: Any, name: str, now: datetime | None = None) -> str | None:
    """Why a kubelet still holds Node `name` (its Lease renewed within a lease duration), or
    None when none does."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    leases = client.CoordinationV1Api(api)
    try:
        lease = leases.read_namespaced_lease(
            name, NODE_LEASE_NAMESPACE, _request_timeout=REQUEST_SECONDS
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    renewed = lease.spec.renew_time
    if renewed is None:
        return None
    duration = lease.spec.lease_duration_seconds or DEFAULT_LEASE_SECONDS
    age = ((now or datetime.now(timezone.utc)) - renewed).total_seconds()
    if age >= duration:
        return None
    return f"its Lease was renewed {age:.0f}s ago (a lease lasts {duration}s)"
