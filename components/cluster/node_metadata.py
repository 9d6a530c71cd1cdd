"""`NodeMetadata`: a node's `labels` and `taints` kept on its registered Node, as admin.

The kubelet applies `--node-labels` and `registerWithTaints` only when it creates its Node:
on a Node that exists it changes neither (pkg/kubelet `tryRegisterWithAPIServer`), so a
change of either on a running node would otherwise be written to its files and never reach
the cluster. This dynamic resource waits for the Node, then patches it like `kubectl label`
and `kubectl taint` do: it sets the stack's labels and taints, removes the ones the stack set
before and no longer names, and leaves every other label and taint as it is (the kubelet's
own, the node controllers' `node.kubernetes.io/*` taints, an operator's). It also applies the
labels a kubelet may not set itself (`node-role.kubernetes.io/*`).

Server-side apply (`NodePatch`) cannot do this: the kubelet owns the labels and taints it
registered, so a label the stack stops applying would stay, owned by the kubelet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, UpdateResult

from components.cluster.admin_provider import AdminProvider, stored_credential, without_credential

Json = dict[str, Any]
RETRY_SECONDS = 2
CONFLICT_RETRIES = 5


class ConflictError(Exception):
    """The Node changed between reading and patching it (409): read it again."""


def metadata_patch(
    node: Json, labels: Mapping[str, str], taints: list[Json], previous: Mapping[str, Any]
) -> Json | None:
    """The JSON merge patch that gives `node` the stack's labels and taints, removing those
    `previous` (the last applied props) held and these do not; None when it has them."""
    live_labels = node["metadata"].get("labels") or {}
    label_changes: dict[str, str | None] = {
        key: value for key, value in labels.items() if live_labels.get(key) != value
    }
    for key in previous.get("labels") or {}:
        if key not in labels and key in live_labels:
            label_changes[key] = None
    live_taints = node.get("spec", {}).get("taints") or []
    managed = {_identity(t) for t in [*taints, *(previous.get("taints") or [])]}
    kept = [t for t in live_taints if _identity(t) not in managed]
    wanted = [_same_or(t, live_taints) for t in taints]
    patch: Json = {}
    if label_changes:
        patch["metadata"] = {"labels": label_changes}
    if kept + wanted != live_taints:
        patch["spec"] = {"taints": kept + wanted}
    if not patch:
        return None
    metadata = patch.setdefault("metadata", {})
    metadata["resourceVersion"] = node["metadata"]["resourceVersion"]  # else 409: read again
    return patch


def _identity(taint: Mapping[str, Any]) -> tuple[str, str]:
    """The API server allows one taint per key and effect."""
    return taint["key"], taint["effect"]


def _same_or(taint: Json, live: list[Json]) -> Json:
    """The live taint when it is this one (keeping the `timeAdded` of a NoExecute taint)."""
    for current in live:
        if _identity(current) == _identity(taint) and current.get("value", "") == taint.get(
            "value", ""
        ):
            return current
    return taint


def reconcile(
    read: Callable[[str], Json | None],
    patch: Callable[[str, Json], None],
    props: Mapping[str, Any],
    previous: Mapping[str, Any],
    log: Callable[[str], None],
    *,
    wait: bool = True,
) -> None:
    """Give the Node `props["node"]` its labels and taints, once it exists (or at once when
    not `wait`: a Node that is gone needs nothing removed)."""
    name = props["node"]
    deadline = time.monotonic() + float(props["timeout_seconds"])
    for _ in range(CONFLICT_RETRIES):
        node = read(name)
        while node is None and wait and time.monotonic() < deadline:
            time.sleep(RETRY_SECONDS)
            node = read(name)
        if node is None:
            if wait:
                raise TimeoutError(
                    f"{name}: no Node registered within {props['timeout_seconds']}s to give its"
                    " labels and taints (look at `journalctl -u <kubelet unit>` on it)"
                )
            return
        body = metadata_patch(node, props["labels"], props["taints"], previous)
        if body is None:
            log(f"{name}: labels and taints are as the stack says")
            return
        try:
            patch(name, body)
        except ConflictError:
            continue
        log(f"{name}: labels and taints applied ({_summary(body)})")
        return
    raise RuntimeError(f"{name}: the Node kept changing while its labels and taints were applied")


def _summary(body: Json) -> str:
    labels = body["metadata"].get("labels", {})
    parts = [f"{k}={v}" if v is not None else f"{k}-" for k, v in labels.items()]
    if "spec" in body:
        parts.append(f"{len(body['spec']['taints'])} taints")
    return ", ".join(parts)


def _apply(
    api: Any, props: Mapping[str, Any], previous: Mapping[str, Any], *, wait: bool = True
) -> None:
    import sys

    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)

    def read(name: str) -> Json | None:
        try:
            return api.sanitize_for_serialization(core.read_node(name))  # type: ignore[no-any-return]
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def patch(name: str, body: Json) -> None:
        try:
            core.patch_node(name, body, _content_type="application/merge-patch+json")
        except ApiException as error:
            if error.status == 409:
                raise ConflictError(name) from None
            raise

    reconcile(read, patch, props, previous, lambda line: print(line, file=sys.stderr), wait=wait)


class NodeMetadataProvider(AdminProvider):
    """Applies on create and on every change; on delete removes what it applied."""

    __module__ = "components.node_metadata"  # its stable path in existing state (see there)

    def create(self, props: dict[str, Any]) -> CreateResult:
        api = self.admin_client()
        _apply(api, props, {})
        return CreateResult(id_=props["node"], outs=_with_uid(api, props, {}))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        api = self.admin_client()
        _apply(api, news, olds)
        return UpdateResult(outs=_with_uid(api, without_credential(news), olds))

    def delete(self, _id: str, olds: dict[str, Any]) -> None:
        """Remove what it applied, from the Node it applied it to (see `node_uid`)."""
        import sys

        from components.cluster.node_uid import read_node, stranger

        api = self.admin_client()
        live = read_node(api, olds["node"])
        why = None if live is None else stranger(olds["node"], live, olds.get("node_uid"))
        if why:
            print(f"{why}; its labels and taints are left alone", file=sys.stderr, flush=True)
            return
        _apply(api, {**olds, "labels": {}, "taints": []}, olds, wait=False)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("labels", "taints") if olds.get(k) != news.get(k)]
        changed += stored_credential(olds)
        replaces = ["node"] if olds.get("node") != news.get("node") else []
        return DiffResult(changes=bool(changed or replaces), replaces=replaces)


def _with_uid(api: Any, props: dict[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """`props` with the UID of the Node given its labels and taints: the one on record, or
    the live Node's (which `_apply` waited for)."""
    from components.cluster.node_uid import read_node, uid_of

    recorded = before.get("node_uid") or uid_of(read_node(api, props["node"]))
    return {**props, "node_uid": recorded}


class NodeMetadata(Resource, module="kubelet-bootstrap", name="NodeMetadata"):
    """The labels and taints of one node, kept on its Node object."""

    def __init__(
        self,
        name: str,
        props: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(NodeMetadataProvider(), name, props, opts)


def node_metadata(node: Any, timeout_seconds: int, after: pulumi.Resource) -> NodeMetadata:
    """`<node>-metadata`, once the node's kubelet has (re)started: it registers the Node."""
    return NodeMetadata(
        f"{node.name}-metadata",
        {
            "node": node.name,
            "labels": dict(node.labels),
            "taints": [taint.as_api() for taint in node.taints],
            "timeout_seconds": timeout_seconds,
        },
        opts=pulumi.ResourceOptions(depends_on=[after]),
    )
