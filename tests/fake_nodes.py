"""The fake API server's Nodes: registered, kept and judged as a kubelet and the node
lifecycle controller keep them.

- core/v1 Nodes over HTTP: LIST (with `metadata.name` and `spec.unschedulable` field selectors
  and equality-based label selectors, as the real API supports them for Nodes; anything else
  is a 400), WATCH (the same selectors) and GET; PATCH and DELETE are `tests.fake_workloads`';
- their resourceVersion is the cluster's (`Revision`), as etcd's revision is: a Node's version
  is never reused by a CSR and vice versa;
- they change only through test hooks, the way their actors change them: `add` registers a
  Node as its kubelet does (the labels, addresses, capacity and nodeInfo a kubelet posts),
  `set_ready` is the kubelet posting its status, `set_unknown` the node lifecycle controller
  giving up on a kubelet; the not-ready and unreachable taints follow the Ready condition.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable, Sequence

from tests.fake_http import Query, Route, flag
from tests.fake_status import (
    Json,
    ResourceType,
    bad_request,
    method_not_allowed,
    no_such_resource,
)
from tests.fake_store import Clock, ObjectStore, Revision, list_body, rfc3339

NODE_TYPE = ResourceType("", "v1", "Node", "nodes")
NODES_PATH = "/api/v1/nodes"
KUBELET_PORT = 10250
FAKE_KUBELET_VERSION = "v1.31.4"


def node_route(method: str, path: str, query: Query) -> Route | None:
    """node-list, node-watch or node-get; None for other paths.

    Nodes are read-only over HTTP here (PATCH and DELETE aside, which `tests.fake_workloads`
    serves first): the tests play the kubelets through hooks.
    """
    if path != NODES_PATH and not path.startswith(NODES_PATH + "/"):
        return None
    if path == NODES_PATH:
        if method == "GET":
            return Route("node-watch" if flag(query, "watch") else "node-list")
        raise method_not_allowed()
    name, _, subresource = path.removeprefix(NODES_PATH + "/").partition("/")
    if subresource not in ("", "status"):
        raise no_such_resource()
    if method != "GET":
        raise method_not_allowed()
    return Route("node-get", name)


class FakeNodes:
    """The Nodes of one fake cluster: their store, and what their kubelets and the node
    lifecycle controller do to them (test hooks, no HTTP, not counted)."""

    def __init__(self, clock: Clock, revision: Revision) -> None:
        self._clock = clock
        self.store = ObjectStore(clock, NODE_TYPE, revision)

    def serve(self, target: Route, query: Query) -> tuple[int, Json]:
        """node-list or node-get (a node-watch is streamed from `store`)."""
        if target.kind == "node-list":
            accepts = node_selector(query)
            nodes, rv = self.store.list()
            items = [node for node in nodes if accepts is None or accepts(node)]
            return 200, list_body("NodeList", "v1", items, rv)
        return 200, self.store.get(target.name or "")

    def add(
        self,
        name: str,
        *,
        ready: bool,
        addresses: Sequence[tuple[str, str]] | None = None,
        kubelet_port: int = KUBELET_PORT,
        labels: dict[str, str] | None = None,
    ) -> Json:
        """Register a Node as its kubelet does (ADDED): the stored object.

        `addresses` are (type, address) pairs, default InternalIP 127.0.0.1 and the Hostname;
        `kubelet_port` is status.daemonEndpoints.kubeletEndpoint.Port, so a test can point a
        program at a FakeKubelet listening on an ephemeral port.
        """
        if addresses is None:
            addresses = [("InternalIP", "127.0.0.1"), ("Hostname", name)]
        node = node_object(
            name,
            addresses=addresses,
            kubelet_port=kubelet_port,
            labels=labels,
            ready=ready,
            now=self._clock(),
        )
        return self.store.create(node)

    def set_ready(self, name: str, ready: bool) -> Json:
        """The kubelet posts its status: Ready True (KubeletReady) or False (KubeletNotReady).

        Always a MODIFIED event with a new resourceVersion (the heartbeat time moves too);
        lastTransitionTime only changes when the status does, and the not-ready taints follow.
        """
        now = rfc3339(self._clock())
        status = "True" if ready else "False"
        return self.store.mutate(name, lambda node: _set_node_readiness(node, status, now))

    def set_unknown(self, name: str) -> Json:
        """The node lifecycle controller gave up on the kubelet: every condition Unknown."""
        now = rfc3339(self._clock())
        return self.store.mutate(name, lambda node: _set_node_readiness(node, "Unknown", now))


# --- the Node a kubelet registers, and its readiness -------------------------------------------

# (type, reason, message) of the conditions a kubelet posts besides Ready, all "False" when fine.
_PRESSURE_CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)
# status -> (reason, message) of the Ready condition.
_READY_CONDITION = {
    "True": ("KubeletReady", "kubelet is posting ready status"),
    "False": (
        "KubeletNotReady",
        "container runtime network not ready: NetworkReady=false "
        "reason:NetworkPluginNotReady message:Network plugin returns error: "
        "cni plugin not initialized",
    ),
    "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status."),
}
# Ready status -> the taint key the node lifecycle controller puts on a node that is not Ready.
_NOT_READY_TAINTS = {
    "False": "node.kubernetes.io/not-ready",
    "Unknown": "node.kubernetes.io/unreachable",
}


def node_object(
    name: str,
    *,
    addresses: Sequence[tuple[str, str]],
    kubelet_port: int,
    ready: bool,
    now: datetime.datetime,
    labels: dict[str, str] | None = None,
) -> Json:
    """A Node as a kubelet registers it and keeps it (metadata filled in by the store)."""
    node: Json = {
        "kind": NODE_TYPE.kind,
        "apiVersion": NODE_TYPE.api_version,
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                **(labels or {}),
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {},
        "status": {
            "capacity": {"cpu": "2", "memory": "4015948Ki", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "3913548Ki", "pods": "110"},
            "conditions": [],
            "addresses": [{"type": kind, "address": address} for kind, address in addresses],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": "6.1.0-18-amd64",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": FAKE_KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
    _set_node_readiness(node, "True" if ready else "False", rfc3339(now))
    return node


def _set_node_readiness(node: Json, ready: str, now: str) -> None:
    """Post a Ready status ("True"/"False": the kubelet; "Unknown": the lifecycle controller).

    lastTransitionTime moves only when a condition's status changes; the kubelet moves
    lastHeartbeatTime, the controller does not. The not-ready/unreachable taints follow Ready.
    """
    old = {c["type"]: c for c in node["status"].get("conditions", [])}
    wanted = [(kind, "False", reason, message) for kind, reason, message in _PRESSURE_CONDITIONS]
    wanted.append(("Ready", ready, *_READY_CONDITION[ready]))
    conditions = []
    for kind, status, reason, message in wanted:
        previous = old.get(kind, {})
        if ready == "Unknown":
            status, reason, message = "Unknown", *_READY_CONDITION["Unknown"]
        changed = previous.get("status") != status
        conditions.append(
            {
                "type": kind,
                "status": status,
                "lastHeartbeatTime": (
                    previous.get("lastHeartbeatTime", now) if ready == "Unknown" else now
                ),
                "lastTransitionTime": now if changed else previous["lastTransitionTime"],
                "reason": reason,
                "message": message,
            }
        )
    node["status"]["conditions"] = conditions
    spec = node.setdefault("spec", {})
    taints = [t for t in spec.get("taints", []) if t["key"] not in _NOT_READY_TAINTS.values()]
    if ready in _NOT_READY_TAINTS:
        key = _NOT_READY_TAINTS[ready]
        taints += [
            {"key": key, "effect": "NoSchedule"},
            {"key": key, "effect": "NoExecute", "timeAdded": now},
        ]
    if taints:
        spec["taints"] = taints
    else:
        spec.pop("taints", None)


# --- selectors (Nodes only; the CSR routes ignore them) ----------------------------------------

_NODE_FIELDS: dict[str, Callable[[Json], str]] = {
    "metadata.name": lambda node: node["metadata"]["name"],
    "spec.unschedulable": lambda node: str(bool(node.get("spec", {}).get("unschedulable"))).lower(),
}
_Requirement = tuple[str, str, str | None]  # (key, operator, value); operator: = != exists !


def _split_requirement(term: str, selector: str) -> _Requirement:
    for operator in ("!=", "==", "="):
        key, found, value = term.partition(operator)
        if found:
            return key.strip(), "!=" if operator == "!=" else "=", value.strip()
    raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")


def _field_requirements(selector: str) -> list[_Requirement]:
    requirements = [_split_requirement(t, selector) for t in selector.split(",") if t.strip()]
    for key, _, _ in requirements:
        if key not in _NODE_FIELDS:
            raise bad_request(f"field label not supported: {key}")
    return requirements


def _label_requirements(selector: str) -> list[_Requirement]:
    """Equality-based terms (`a=b`, `a==b`, `a!=b`, `a`, `!a`); set-based ones are refused."""
    if "(" in selector or re.search(r"\s(in|notin)\s", selector):
        raise bad_request("set-based label selectors are not implemented by the fake API server")
    requirements: list[_Requirement] = []
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "=" in term:
            requirements.append(_split_requirement(term, selector))
        elif term.startswith("!"):
            requirements.append((term[1:].strip(), "!", None))
        else:
            requirements.append((term, "exists", None))
    return requirements


def _label_matches(labels: dict[str, str], key: str, operator: str, value: str | None) -> bool:
    if operator == "exists":
        return key in labels
    if operator == "!":
        return key not in labels
    return (labels.get(key) == value) == (operator == "=")


def node_selector(query: dict[str, list[str]]) -> Callable[[Json], bool] | None:
    """The `fieldSelector` and `labelSelector` of a Node LIST or WATCH as a predicate.

    Field selectors: `metadata.name` and `spec.unschedulable`, as the real API supports for
    Nodes; anything else is a 400. None when the request selects everything.
    """
    fields = _field_requirements(query.get("fieldSelector", [""])[0])
    labels = _label_requirements(query.get("labelSelector", [""])[0])
    if not fields and not labels:
        return None

    def accepts(node: Json) -> bool:
        node_labels = node.get("metadata", {}).get("labels") or {}
        for key, operator, value in fields:
            if (_NODE_FIELDS[key](node) == value) != (operator == "="):
                return False
        return all(_label_matches(node_labels, *requirement) for requirement in labels)

    return accepts
