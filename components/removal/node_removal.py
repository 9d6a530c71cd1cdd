"""What a node's removal does in the cluster, placed in the graph around its kubelet's stop.

Pulumi deletes a resource's dependents before the resource. So `NodeDrain`, which depends on
the node's start command, is deleted before the kubelet stops, and drains the node there;
`NodeObject`, which the start command depends on, is deleted after the kubelet stopped, and
deletes the Node object there (else it lingers NotReady). Both only record on create (the
Node's UID, once it is registered: see `node_uid`), so a `pulumi preview` of a removal shows
each as a delete of that node, and a Node registered again under its name is left alone.

A decommissioned node (`nodes[].decommissioned`) cannot be reached: its NodeObject, told so
by an input, deletes its Node object at once, when no kubelet holds it (the pod garbage
collector then deletes its pods, as no kubelet will), and its drain is kept in the state
without running (`retainOnDelete`, and `ignoreChanges` on each of its inputs, so a settings
change updates nothing).

The providers are pickled by dill: clients are imported inside their methods.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.cluster.admin_provider import AdminProvider, stored_credential, without_credential
from components.settings.model import NodeSettings
from components.settings.removal import RemovalSettings

DRAIN_INPUTS = ("node_name", "drain", "timeout_seconds")
NODE_INPUTS = ("node_name",)
LEASE_GRACE_SECONDS = 5
POLL_SECONDS = 2
REGISTRATION_SECONDS = 30


def frozen() -> dict[str, Any]:
    """Resource options of what belongs to an unreachable node: a settings change updates
    nothing (no command connects), and dropping it forgets it without running its delete."""
    return {"retain_on_delete": True, "ignore_changes": ["*"]}


class _RecordingProvider(AdminProvider):
    """Create and update record their inputs and the UID of the Node once it is registered
    (`node_uid`): the work is in `delete`, which acts on that Node only."""

    inputs: tuple[str, ...] = ()
    registration_seconds: float = 0
    """How long create waits for the Node to be registered, to record its UID."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._seen(props, {}, wait=self.registration_seconds)
        return CreateResult(id_=props["node_name"], outs=outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._seen(without_credential(news), olds))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=self._seen(without_credential(props), props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in self.inputs if olds.get(key) != news.get(key)]
        changed += stored_credential(olds)
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def _seen(
        self, props: dict[str, Any], before: dict[str, Any], wait: float = 0
    ) -> dict[str, Any]:
        """`props` with the UID on record, or else the live Node's, waited for `wait`
        seconds (None when it is not registered by then)."""
        import time

        from components.cluster.node_uid import read_node, uid_of

        recorded = before.get("node_uid")
        api = None if recorded is not None else self.admin_client()
        deadline = time.monotonic() + wait
        while recorded is None:
            recorded = uid_of(read_node(api, props["node_name"]))
            if recorded is not None or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
        return {**props, "node_uid": recorded}


class NodeDrainProvider(_RecordingProvider):
    """On delete: cordon and drain the node (see `node_drain`), unless `drain` is false; a
    Node that is not the one this stack saw is left alone."""

    __module__ = "components.node_removal"  # its stable path in existing state (see there)

    inputs = DRAIN_INPUTS
    # Made once its kubelet passed the start's gate: it registers its Node within seconds.
    registration_seconds = REGISTRATION_SECONDS

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from components.cluster.node_uid import mark_for_removal
        from components.removal.node_drain import drain

        node, api = props["node_name"], self.admin_client()
        live = _seen_node(
            api, props, "no Node object, nothing to drain", "neither drained nor deleted"
        )
        if live is None:
            return
        mark_for_removal(api, live)
        if not props["drain"]:
            _log(f"{node}: not drained (removal.drain is false)")
            return
        drain(api, node, float(props["timeout_seconds"]), _log)


class NodeObjectProvider(_RecordingProvider):
    """Deletes the Node object of its node: on delete, once the kubelet that would register
    it again stopped; at create or update with `decommissioned`, at once, for a machine that is
    gone. Only the Node this stack saw (see `node_uid`)."""

    __module__ = "components.node_removal"  # its stable path in existing state (see there)

    inputs = NODE_INPUTS

    def create(self, props: dict[str, Any]) -> CreateResult:
        created = super().create(props)
        if props.get("decommissioned"):
            return CreateResult(id_=created.id, outs=self._retire(created.outs or props))
        return created

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        updated = super().update(id_, olds, news)
        if news.get("decommissioned") and not olds.get("decommissioned"):
            return UpdateResult(outs=self._retire(updated.outs or news))
        return updated

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        if bool(olds.get("decommissioned")) != bool(news.get("decommissioned")):
            result.changes = True
        return result

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from components.cluster.node_uid import marked_for_removal

        node, api = props["node_name"], self.admin_client()
        live = _seen_node(api, props, "no Node object to delete", "not deleted")
        if live is None:
            return
        if props.get("node_uid") is None and not marked_for_removal(live):
            _log(
                f"{node}: the Node is left: this stack has no record of its UID and its drain "
                "did not mark it as this stack's (it left the Node alone, or did not run); "
                f"`kubectl delete node {node}` once you know it is this machine's"
            )
            return
        _delete_node(api, live)

    def _retire(self, props: dict[str, Any]) -> dict[str, Any]:
        """A decommissioned node's Node, which no drain precedes: deleted once no kubelet
        holds it (its machine is gone, so nothing renews its Lease). Returns the outputs, with
        no UID on record once that Node is gone: a Node registered later is another one."""
        from components.cluster.node_uid import read_node, renewed_while_watched, stranger

        node, api = props["node_name"], self.admin_client()
        live = read_node(api, node)
        if live is None:
            _log(f"{node}: no Node object to delete")
            return {**props, "node_uid": None}
        why = stranger(node, live, props.get("node_uid"))
        if why:
            _log(f"{why}; it is left alone")
            return props
        held = renewed_while_watched(api, node, LEASE_GRACE_SECONDS, POLL_SECONDS)
        if held:
            raise RuntimeError(
                f"{node}: decommissioned, but a kubelet still holds its Node ({held}): is the "
                "machine gone? Its Node object is not deleted; stop that kubelet, or drop "
                "`decommissioned` and remove the node as usual"
            )
        _delete_node(api, live)
        return {**props, "node_uid": None}


def _seen_node(api: Any, props: dict[str, Any], absent: str, spared: str) -> dict[str, Any] | None:
    """The live Node of `props["node_name"]` when it is the one this stack saw; else None,
    having said why: `absent` (no Node), or that it was left alone (`spared`)."""
    from components.cluster.node_uid import read_node, stranger

    node = props["node_name"]
    live = read_node(api, node)
    if live is None:
        _log(f"{node}: {absent}")
        return None
    why = stranger(node, live, props.get("node_uid"))
    if why:
        _log(f"{why}; it is left alone: {spared}")
        return None
    return live


def _delete_node(api: Any, live: dict[str, Any]) -> None:
    """Delete the Node with its UID as a precondition: one registered again meanwhile stays."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    node, uid = live["metadata"]["name"], live["metadata"]["uid"]
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
    try:
        client.CoreV1Api(api).delete_node(node, body=options, _request_timeout=30)
    except ApiException as error:
        if error.status == 404:
            _log(f"{node}: no Node object to delete")
            return
        if error.status == 409:
            _log(f"{node}: the Node was registered again while it was being removed: left alone")
            return
        raise
    _log(f"{node}: Node object deleted")


def _log(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


class NodeDrain(Resource, module="kubelet-bootstrap", name="NodeDrain"):
    """Drains its node when it is deleted: before the kubelet it depends on stops."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(NodeDrainProvider(), name, props, opts)


class NodeObject(Resource, module="kubelet-bootstrap", name="NodeObject"):
    """Deletes its node's Node object when it is deleted: after the kubelet stopped."""

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(NodeObjectProvider(), name, props, opts)


class NodeRemoval(pulumi.ComponentResource):
    """One node's removal from the cluster: `NodeObject` now (the start waits for it), then
    `drain_before_stop(start)` once the start command exists."""

    node_object: NodeObject

    def __init__(
        self,
        node: NodeSettings,
        removal: RemovalSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:NodeRemoval", node.name, None, opts)
        self._node = node
        self._removal = removal
        # A decommissioned node's Node object is deleted by an update: no drain precedes it.
        decommissioned = {"decommissioned": True} if node.decommissioned else {}
        self.node_object = NodeObject(
            f"{node.name}-node-object",
            {"node_name": node.name, **decommissioned},
            pulumi.ResourceOptions(parent=self),
        )

    @property
    def before_start(self) -> list[pulumi.Resource]:
        """What the start command must depend on, so that its delete comes after the stop."""
        return [self.node_object]

    def drain_before_stop(self, start: pulumi.Resource) -> None:
        NodeDrain(
            f"{self._node.name}-drain",
            {
                "node_name": self._node.name,
                "drain": self._removal.drain,
                "timeout_seconds": self._removal.drain_timeout_seconds,
            },
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[start],
                # Its inputs by name, not "*": an input an earlier version stored (the admin
                # credential) is dropped by an update, which runs nothing on the machine.
                **(
                    {"retain_on_delete": True, "ignore_changes": list(DRAIN_INPUTS)}
                    if self._node.decommissioned
                    else {}
                ),
            ),
        )
        self.register_outputs({})
