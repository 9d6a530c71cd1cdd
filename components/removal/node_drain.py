"""Cordon and drain one node before its kubelet stops, as `kubectl drain` does.

The node is marked unschedulable, then every pod bound to it is evicted through the Eviction
API, which honours PodDisruptionBudgets: a budget that allows no disruption answers 429 and
the eviction is tried again until the deadline, as is one refused (403) because its namespace
is being deleted (the namespace controller deletes the pod meanwhile). Pods of a running
DaemonSet (their controller would put them back at once) and mirror pods (the kubelet's static
pods, which the API cannot delete) are left, as `kubectl drain --ignore-daemonsets` leaves
them; a finished DaemonSet pod is evicted, and so is one whose DaemonSet is gone (`--force`),
as kubectl does (a "DaemonSet" of another API group is any other controller). Pods without a
controller are evicted too (`--force`): the node is leaving, and they would go with it.

An evicted pod is gone once its kubelet has stopped its containers, so the drain waits for
that, unless the kubelet is gone: the node lifecycle controller marked the Node's Ready
condition Unknown, or its Lease was not renewed for a lease duration while the drain watched
(a clock of its own, so clock skew does not matter). Such pods never finish terminating; the
pod garbage collector deletes them once the Node object is, which the removal does after the
kubelet's stop (what kubectl's `--skip-wait-for-delete-timeout` is for). A machine renamed in
place is such a node: its kubelet now renews the new name's Lease.

A drain that does not finish in time raises `DrainError` naming each pod still there and
what holds it (the API server's own words for a budget), before anything was stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
NODE_LEASE_NAMESPACE = "kube-node-lease"
DEFAULT_LEASE_SECONDS = 40
FINISHED = ("Succeeded", "Failed")
# What an eviction left: the pod is gone, terminating (its kubelet must finish it), or held.
GONE, TERMINATING, HELD = "gone", "terminating", "held"
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
    kubelet = KubeletWatch(node, client.CoordinationV1Api(api), core, clock)
    daemonsets = _DaemonSets(client.AppsV1Api(api))
    skipped: set[str] = set()
    while True:
        gone = kubelet.gone()
        held = {}
        for pod in _pods_to_evict(core, node, daemonsets, log):
            state, why = _evict(core, pod)
            if state == TERMINATING and gone is not None:
                if _key(pod) not in skipped:
                    skipped.add(_key(pod))
                    log(
                        f"{node}: {_key(pod)} is terminating; not waited for, as {gone} (the "
                        "pod garbage collector deletes it once the Node object is deleted)"
                    )
                continue
            if state != GONE:
                held[_key(pod)] = why
        if not held:
            log(f"{node}: drained")
            return
        if clock() + poll > deadline:
            raise DrainError(_report(node, timeout, held))
        sleep(poll)


class KubeletWatch:
    """Whether a node's kubelet is gone, by its Node's Ready condition and its Lease."""

    def __init__(self, node: str, coordination: Any, core: Any, clock: Callable[[], float]):
        self._node = node
        self._coordination = coordination
        self._core = core
        self._clock = clock
        self._renewal: tuple[Any, float] | None = None
        """The Lease's renewTime as last read, and when the drain first read it."""

    def gone(self) -> str | None:
        """Why the kubelet is gone, or None while it may still finish its pods."""
        from kubernetes.client.exceptions import ApiException

        try:
            status = self._core.read_node(self._node, _request_timeout=REQUEST_SECONDS).status
        except ApiException as error:
            if error.status == 404:
                return f"the Node object {self._node} is gone"
            raise
        ready = next((c for c in (status.conditions or []) if c.type == "Ready"), None)
        if ready is not None and ready.status == "Unknown":
            return (
                f"its kubelet stopped posting the node's status (Ready Unknown since "
                f"{_rfc3339(ready.last_transition_time)})"
            )
        return self._stale_lease()

    def _stale_lease(self) -> str | None:
        from kubernetes.client.exceptions import ApiException

        try:
            lease = self._coordination.read_namespaced_lease(
                self._node, NODE_LEASE_NAMESPACE, _request_timeout=REQUEST_SECONDS
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        renewed = lease.spec.renew_time
        duration = lease.spec.lease_duration_seconds or DEFAULT_LEASE_SECONDS
        if self._renewal is None or self._renewal[0] != renewed:
            self._renewal = (renewed, self._clock())
            return None
        if self._clock() - self._renewal[1] < duration:
            return None
        return (
            f"its kubelet has not renewed its Lease for {duration}s (last at {_rfc3339(renewed)})"
        )


class _DaemonSets:
    """Whether a DaemonSet still exists, asked once a drain."""

    def __init__(self, apps: Any) -> None:
        self._apps = apps
        self._known: dict[tuple[str, str], bool] = {}

    def exists(self, namespace: str, name: str) -> bool:
        from kubernetes.client.exceptions import ApiException

        if (namespace, name) not in self._known:
            try:
                # Only whether it exists matters: the object is not parsed. Its body is read
                # all the same: a connection given back with bytes unread would hand them to
                # the next request on it as its status line.
                answer = self._apps.read_namespaced_daemon_set(
                    name, namespace, _request_timeout=REQUEST_SECONDS, _preload_content=False
                )
                answer.read()
                answer.release_conn()
                self._known[namespace, name] = True
            except ApiException as error:
                if error.status != 404:
                    raise
                self._known[namespace, name] = False
        return self._known[namespace, name]


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


def _pods_to_evict(
    core: Any, node: str, daemonsets: _DaemonSets, log: Callable[[str], None]
) -> list[Any]:
    listed = core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={node}", _request_timeout=REQUEST_SECONDS
    )
    return [pod for pod in listed.items if _evicted(pod, daemonsets, node, log)]


def _evicted(pod: Any, daemonsets: _DaemonSets, node: str, log: Callable[[str], None]) -> bool:
    """Whether the drain evicts `pod`: not a mirror pod, nor a running pod of a DaemonSet
    that exists (kubectl drain's filters, with --ignore-daemonsets and --force)."""
    if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
        return False
    owner = next(
        (
            o
            for o in pod.metadata.owner_references or []
            if o.controller and o.kind == "DaemonSet" and o.api_version == "apps/v1"
        ),
        None,
    )
    if owner is None or (pod.status and pod.status.phase in FINISHED):
        return True
    if daemonsets.exists(pod.metadata.namespace, owner.name):
        return False
    log(f"{node}: {_key(pod)} belongs to DaemonSet {owner.name}, which is gone: evicted")
    return True


def _evict(core: Any, pod: Any) -> tuple[str, str]:
    """Ask for the pod's eviction (once it is terminating, wait): its state (GONE,
    TERMINATING or HELD) and what holds it."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    meta = pod.metadata
    if meta.deletion_timestamp is not None:
        since = _rfc3339(meta.deletion_timestamp)
        return TERMINATING, f"terminating since {since}: its kubelet has not finished it"
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=meta.name, namespace=meta.namespace))
    try:
        core.create_namespaced_pod_eviction(
            meta.name, meta.namespace, body, _request_timeout=REQUEST_SECONDS
        )
    except ApiException as error:
        if error.status == 404:
            return GONE, "gone"
        if error.status == 429:
            return HELD, f"eviction refused: {_causes(error)}"
        if error.status == 403 and _namespace_terminating(error):
            return HELD, f"its namespace is being deleted, which refuses evictions: {error.reason}"
        raise
    return TERMINATING, "evicted, terminating"


def _namespace_terminating(error: Any) -> bool:
    """Whether a refusal names the NamespaceTerminating cause, as kubectl drain checks."""
    import json

    try:
        status = json.loads(error.body or "{}")
    except ValueError:
        return False
    causes = (status.get("details") or {}).get("causes") or []
    return any(cause.get("reason") == "NamespaceTerminating" for cause in causes)


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
