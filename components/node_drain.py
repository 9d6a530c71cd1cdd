"""Cordon and drain one node before its kubelet stops, as `kubectl drain` does.

The node is marked unschedulable, then every pod bound to it is evicted through the Eviction
API, which honours PodDisruptionBudgets: a budget that allows no disruption answers 429 and
the eviction is tried again until the deadline. DaemonSet pods (their controller would put
them back at once) and mirror pods (the kubelet's static pods, which the API cannot delete)
are left, as `kubectl drain --ignore-daemonsets` leaves them. Pods without a controller are
evicted too (`--force`): the node is leaving, and they would go with it. An evicted pod is
gone once its kubelet has stopped its containers, so the drain waits for that as well.

A drain that does not finish in time raises `DrainError` naming each pod still there and
what holds it (the API server's own words for a budget), before anything was stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
POLL_SECONDS = 2.0
REQUEST_SECONDS = 30


class DrainError(Exception):
    """The drain did not finish; the message names what is left and what blocks it."""


def drain(
    api: Any,
    node: str,
    timeout: float,
    log: Callable[[str], None],
    *,
    poll: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Cordon `node` and evict its pods within `timeout` seconds, with `api`, a
    `kubernetes.client.ApiClient`; a node without a Node object has nothing to drain."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    deadline = clock() + timeout
    if not _cordon(core, node):
        log(f"{node}: no Node object, nothing to drain")
        return
    log(f"{node}: cordoned")
    while True:
        pods = _pods_to_evict(core, node)
        if not pods:
            log(f"{node}: drained")
            return
        held = {_key(pod): _evict(core, pod) for pod in pods}
        if clock() + poll > deadline:
            raise DrainError(_report(node, timeout, held))
        sleep(poll)


def _cordon(core: Any, node: str) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        core.patch_node(
            node,
            {"spec": {"unschedulable": True}},
            _content_type="application/merge-patch+json",
            _request_timeout=REQUEST_SECONDS,
        )
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _pods_to_evict(core: Any, node: str) -> list[Any]:
    listed = core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={node}", _request_timeout=REQUEST_SECONDS
    )
    return [pod for pod in listed.items if not _stays(pod)]


def _stays(pod: Any) -> bool:
    """A mirror pod, or a pod of a DaemonSet."""
    if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
        return True
    return any(
        owner.controller and owner.kind == "DaemonSet"
        for owner in pod.metadata.owner_references or []
    )


def _evict(core: Any, pod: Any) -> str:
    """Ask for the pod's eviction (once it is terminating, wait); returns what holds it."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    meta = pod.metadata
    if meta.deletion_timestamp is not None:
        since = _rfc3339(meta.deletion_timestamp)
        return f"terminating since {since}: its kubelet has not finished it"
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=meta.name, namespace=meta.namespace))
    try:
        core.create_namespaced_pod_eviction(
            meta.name, meta.namespace, body, _request_timeout=REQUEST_SECONDS
        )
    except ApiException as error:
        if error.status == 404:
            return "gone"
        if error.status == 429:
            return f"eviction refused: {_causes(error)}"
        raise
    return "evicted, terminating"


def _causes(error: Any) -> str:
    """The API server's reason for a refused eviction: the budget's name and numbers."""
    import json

    try:
        status = json.loads(error.body or "{}")
    except ValueError:
        status = {}
    causes = [c.get("message", "") for c in (status.get("details") or {}).get("causes") or []]
    return "; ".join(filter(None, [status.get("message", ""), *causes])) or str(error.reason)


def _key(pod: Any) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def _rfc3339(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(moment, "strftime") else str(moment)


def _report(node: str, timeout: float, held: dict[str, str]) -> str:
    pods = "\n".join(f"  - {pod}: {why}" for pod, why in sorted(held.items()))
    return (
        f"{node}: drain did not finish within {timeout:g}s (removal.drainTimeoutSeconds); its "
        f"removal stopped before its kubelet was stopped, and it stays cordoned. Pods still on "
        f"it:\n{pods}\nLet the PodDisruptionBudget allow the eviction (more replicas elsewhere, "
        f"or a relaxed budget), or drain it yourself (`kubectl drain {node} "
        "--ignore-daemonsets --delete-emptydir-data --force`), then run `pulumi up` again. To "
        f"keep the node instead, put it back in `nodes` and `kubectl uncordon {node}`."
    )
