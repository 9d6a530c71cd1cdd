"""What the fake API server adds for draining a node: Pods, PodDisruptionBudgets, the
Eviction subresource, and cordoning (PATCH) and deleting (DELETE) Nodes.

It follows kube-apiserver 1.34 (`pkg/registry/core/pod/storage/eviction.go`) where a drain can
observe it:

- an Eviction whose name differs from the URL's is a 400; a missing pod a 404;
- a pod that is Pending, Succeeded, Failed or already terminating is deleted without looking
  at budgets; otherwise more than one matching budget is a 500, a budget not yet processed by
  the disruption controller (observedGeneration < generation) a 429 "still being processed",
  and one with no disruption allowed a 429 whose cause names it ("The disruption budget X needs
  N healthy pods and has M currently"); an unready pod passes when the budget is met anyway;
- a deletion is graceful for a pod bound to a node: it gets a deletionTimestamp and stays until
  its kubelet confirms (here at once, unless the test stopped that node's kubelet);
- a budget's status is what the disruption controller would compute from the pods now
  (`processed=False` plays a controller that has not caught up);
- Node PATCH takes merge patches only (a JSON patch must be a list), and a missing Node is 404;
- a DaemonSet is there to GET or 404 (a pod's controller may be gone: an orphan);
- in a terminating namespace, NamespaceLifecycle refuses the Eviction (a create) with a 403
  whose cause is NamespaceTerminating; the namespace controller deletes the pods meanwhile
  (a test plays it with `delete_pod`).
"""

from __future__ import annotations

import datetime
import re
import threading
import uuid
from typing import Any

from tests.fake_nodes import NODE_TYPE
from tests.fake_status import ApiError, Json, bad_request, deleted_status, not_found
from tests.fake_store import ObjectStore, Revision

PODS_PATH = "/api/v1/pods"
_EVICTION_PATH = re.compile(
    r"/api/v1/namespaces/(?P<namespace>[^/]+)/pods/(?P<name>[^/]+)/eviction"
)
_NODE_PATH = re.compile(r"/api/v1/nodes/(?P<name>[^/]+)")
_DAEMONSET_PATH = re.compile(
    r"/apis/apps/v1/namespaces/(?P<namespace>[^/]+)/daemonsets/(?P<name>[^/]+)"
)
MERGE_PATCH = ("application/merge-patch+json", "application/strategic-merge-patch+json")
TOO_MANY = "Cannot evict pod as it would violate the pod's disruption budget."


def workload_route(method: str, path: str) -> tuple[str, Json] | None:
    """(kind, path parameters) for the requests this module serves, else None."""
    if path == PODS_PATH and method == "GET":
        return "pod-list", {}
    eviction = _EVICTION_PATH.fullmatch(path)
    if eviction is not None and method == "POST":
        return "pod-eviction", eviction.groupdict()
    node = _NODE_PATH.fullmatch(path)
    if node is not None and method in ("PATCH", "DELETE"):
        return f"node-{method.lower()}", node.groupdict()
    daemonset = _DAEMONSET_PATH.fullmatch(path)
    if daemonset is not None and method == "GET":
        return "daemonset-get", daemonset.groupdict()
    return None


class FakeWorkloads:
    """Pods and budgets of the fake cluster; the Node store is the fake API server's."""

    def __init__(self, nodes: ObjectStore, revision: Revision) -> None:
        self._nodes = nodes
        self._revision = revision
        self._lock = threading.Lock()
        self._pods: dict[tuple[str, str], Json] = {}
        self._budgets: dict[tuple[str, str], Json] = {}
        self._stopped_kubelets: set[str] = set()
        self._daemonsets: set[tuple[str, str]] = set()
        self._terminating_namespaces: set[str] = set()

    # test hooks

    def add_pod(
        self,
        namespace: str,
        name: str,
        node: str,
        *,
        labels: dict[str, str] | None = None,
        phase: str = "Running",
        ready: bool = True,
        owner_kind: str | None = None,
        owner_name: str | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Json:
        metadata: Json = {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "labels": labels or {},
            "annotations": annotations or {},
        }
        if owner_kind is not None:
            metadata["ownerReferences"] = [
                {"apiVersion": "apps/v1", "kind": owner_kind, "name": owner_name or f"{name}-owner",
                 "uid": str(uuid.uuid4()), "controller": True}
            ]  # fmt: skip
        condition = {"type": "Ready", "status": "True" if ready else "False"}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "pause"}]},
            "status": {"phase": phase, "conditions": [condition]},
        }
        with self._lock:
            self._pods[(namespace, name)] = pod
        return pod

    def add_budget(
        self, namespace: str, name: str, labels: dict[str, str], min_available: int,
        *, processed: bool = True,
    ) -> None:  # fmt: skip
        self._budgets[(namespace, name)] = {
            "metadata": {"name": name, "namespace": namespace, "generation": 1},
            "spec": {"selector": {"matchLabels": labels}, "minAvailable": min_available},
            "processed": processed,
        }

    def remove_budget(self, namespace: str, name: str) -> None:
        del self._budgets[(namespace, name)]

    def add_daemonset(self, namespace: str, name: str) -> None:
        self._daemonsets.add((namespace, name))

    def terminate_namespace(self, namespace: str) -> None:
        """The namespace is being deleted: evictions in it are refused (403)."""
        self._terminating_namespaces.add(namespace)

    def delete_pod(self, namespace: str, name: str) -> None:
        """A controller deletes the pod (gracefully, as the API server does)."""
        with self._lock:
            self._delete(self._pods[(namespace, name)])

    def stop_kubelet(self, node: str) -> None:
        """The node's kubelet no longer confirms deletions: evicted pods stay terminating."""
        self._stopped_kubelets.add(node)

    def pods(self) -> list[str]:
        with self._lock:
            return sorted(f"{ns}/{name}" for ns, name in self._pods)

    def pod(self, namespace: str, name: str) -> Json:
        with self._lock:
            return self._pods[(namespace, name)]

    # HTTP

    def serve(self, kind: str, params: Json, body: Any, query: dict[str, list[str]],
              content_type: str) -> tuple[int, Json]:  # fmt: skip
        if kind == "pod-list":
            return 200, self._list(query)
        if kind == "pod-eviction":
            return self._evict(params["namespace"], params["name"], body)
        if kind == "daemonset-get":
            return self._daemonset(params["namespace"], params["name"])
        name = params["name"]
        if kind == "node-delete":
            _check_uid_precondition(self._nodes.get(name), body)
            deleted = self._nodes.delete(name)
            return 200, deleted_status(NODE_TYPE, name, deleted["metadata"]["uid"])
        if content_type not in MERGE_PATCH:
            if content_type == "application/json-patch+json" and not isinstance(body, list):
                raise bad_request(
                    "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
                )
            accepted = ", ".join(MERGE_PATCH)
            message = "the body of the request was in an unknown format - accepted media types"
            raise ApiError(415, "UnsupportedMediaType", f"{message} include: {accepted}", {})
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        try:
            return 200, self._nodes.mutate(name, lambda node: _merge(node, body))
        except ApiError:
            raise not_found(name, NODE_TYPE) from None

    def _list(self, query: dict[str, list[str]]) -> Json:
        selector = query.get("fieldSelector", [""])[0]
        node = selector.removeprefix("spec.nodeName=") if selector else None
        with self._lock:
            items = [
                p for p in self._pods.values() if node is None or p["spec"]["nodeName"] == node
            ]
            items = [{k: v for k, v in p.items() if k not in ("kind", "apiVersion")} for p in items]
        metadata = {"resourceVersion": str(self._revision.current)}
        return {"kind": "PodList", "apiVersion": "v1", "metadata": metadata, "items": items}

    def _daemonset(self, namespace: str, name: str) -> tuple[int, Json]:
        if (namespace, name) not in self._daemonsets:
            raise ApiError(404, "NotFound", f'daemonsets.apps "{name}" not found',
                           {"name": name, "group": "apps", "kind": "daemonsets"})  # fmt: skip
        labels = {"app": name}
        template = {"metadata": {"labels": labels}, "spec": {"containers": []}}
        return 200, {
            "kind": "DaemonSet",
            "apiVersion": "apps/v1",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": labels}, "template": template},
        }

    def _evict(self, namespace: str, name: str, body: Any) -> tuple[int, Json]:
        if not isinstance(body, dict) or (body.get("metadata") or {}).get("name") != name:
            raise bad_request("name in URL does not match name in Eviction object")
        if namespace in self._terminating_namespaces:
            message = (
                f'pods "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated"
            )
            cause = {"reason": "NamespaceTerminating", "field": "metadata.namespace",
                     "message": f"namespace {namespace} is being terminated"}  # fmt: skip
            raise ApiError(403, "Forbidden", message,
                           {"name": name, "kind": "pods", "causes": [cause]})  # fmt: skip
        with self._lock:
            pod = self._pods.get((namespace, name))
            if pod is None:
                raise ApiError(404, "NotFound", f'pods "{name}" not found',
                               {"name": name, "kind": "pods"})  # fmt: skip
            if not _pdb_ignorable(pod):
                budgets = [b for b in self._budgets.values() if _covers(b, pod)]
                if len(budgets) > 1:
                    message = ("This pod has more than one PodDisruptionBudget, which the "
                               "eviction subresource does not support.")  # fmt: skip
                    raise ApiError(500, "", message, {})
                if budgets:
                    self._check(budgets[0], pod)
            self._delete(pod)
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                     "status": "Success", "code": 201}  # fmt: skip

    def _check(self, budget: Json, pod: Json) -> None:
        name = budget["metadata"]["name"]
        if not budget["processed"]:
            raise _too_many(f"The disruption budget {name} is still being processed by the server.")
        healthy = sum(
            1 for p in self._pods.values()
            if _covers(budget, p) and _ready(p) and "deletionTimestamp" not in p["metadata"]
        )  # fmt: skip
        desired = budget["spec"]["minAvailable"]
        if not _ready(pod) and healthy >= desired > 0:
            return
        if healthy - desired <= 0:
            raise _too_many(
                f"The disruption budget {name} needs {desired} healthy pods and has {healthy} "
                "currently"
            )

    def _delete(self, pod: Json) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        graceful = pod["spec"].get("nodeName") and pod["status"]["phase"] not in (
            "Succeeded",
            "Failed",
        )
        if graceful and pod["spec"]["nodeName"] in self._stopped_kubelets:
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            pod["metadata"].setdefault("deletionTimestamp", now)
            pod["metadata"]["deletionGracePeriodSeconds"] = 30
            return
        del self._pods[key]


def _too_many(cause: str) -> Exception:
    details = {"causes": [{"reason": "DisruptionBudget", "message": cause}]}
    return ApiError(429, "TooManyRequests", TOO_MANY, details)


def _pdb_ignorable(pod: Json) -> bool:
    return pod["status"]["phase"] in ("Pending", "Succeeded", "Failed") or (
        "deletionTimestamp" in pod["metadata"]
    )


def _ready(pod: Json) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])


def _covers(budget: Json, pod: Json) -> bool:
    labels = pod["metadata"]["labels"]
    wanted = budget["spec"]["selector"]["matchLabels"]
    return budget["metadata"]["namespace"] == pod["metadata"]["namespace"] and all(
        labels.get(key) == value for key, value in wanted.items()
    )


def _merge(target: Json, patch: Json) -> None:
    """RFC 7386 merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _check_uid_precondition(node: Json, options: Any) -> None:
    """DeleteOptions `preconditions.uid`, as the API server checks it (storage.Preconditions:
    an InvalidObj error, which the registry answers 409 Conflict)."""
    wanted = (
        ((options or {}).get("preconditions") or {}).get("uid")
        if isinstance(options, dict)
        else None
    )
    uid = node["metadata"]["uid"]
    if wanted is not None and wanted != uid:
        message = (
            f'Operation cannot be fulfilled on nodes "{node["metadata"]["name"]}": Precondition '
            f"failed: UID in precondition: {wanted}, UID in object meta: {uid}"
        )
        raise ApiError(409, "Conflict", message, NODE_TYPE.details(node["metadata"]["name"]))
