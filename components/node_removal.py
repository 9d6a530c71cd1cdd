"""What a node's removal does in the cluster, placed in the graph around its kubelet's stop.

Pulumi deletes a resource's dependents before the resource. So `NodeDrain`, which depends on
the node's start command, is deleted before the kubelet stops, and drains the node there;
`NodeObject`, which the start command depends on, is deleted after the kubelet stopped, and
deletes the Node object there (else it lingers NotReady). Both do nothing on create, so a
`pulumi preview` of a removal shows each as a delete of that node.

A decommissioned node (`nodes[].decommissioned`) cannot be reached: its Node object is
deleted at once (its NodeObject is no longer registered; the pod garbage collector then
deletes its pods, as no kubelet will), and its drain is kept in the state without running
(`retainOnDelete`, and `ignoreChanges: ["*"]` so a settings change updates nothing).

The providers are pickled by dill: clients are imported inside their methods.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, UpdateResult

from components.admin_provider import AdminProvider, stored_credential, without_credential
from components.removal_settings import RemovalSettings
from components.settings import NodeSettings

DRAIN_INPUTS = ("node_name", "drain", "timeout_seconds")
NODE_INPUTS = ("node_name",)


def frozen() -> dict[str, Any]:
    """Resource options of what belongs to an unreachable node: a settings change updates
    nothing (no command connects), and dropping it forgets it without running its delete."""
    return {"retain_on_delete": True, "ignore_changes": ["*"]}


class _RecordingProvider(AdminProvider):
    """Create and update only record their inputs: the work is in `delete`."""

    inputs: tuple[str, ...] = ()

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["node_name"], outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=without_credential(news))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in self.inputs if olds.get(key) != news.get(key)]
        changed += stored_credential(olds)
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)


class NodeDrainProvider(_RecordingProvider):
    """On delete: cordon and drain the node (see `node_drain`), unless `drain` is false."""

    inputs = DRAIN_INPUTS

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        import sys

        from components.node_drain import drain

        def log(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        node = props["node_name"]
        if not props["drain"]:
            log(f"{node}: not drained (removal.drain is false)")
            return
        drain(self.admin_client(), node, float(props["timeout_seconds"]), log)


class NodeObjectProvider(_RecordingProvider):
    """On delete: delete the Node object, once the kubelet that would register it stopped."""

    inputs = NODE_INPUTS

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        import sys

        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        node = props["node_name"]
        core = client.CoreV1Api(self.admin_client())
        try:
            core.delete_node(node, _request_timeout=30)
        except ApiException as error:
            if error.status != 404:
                raise
            print(f"{node}: no Node object to delete", file=sys.stderr, flush=True)
            return
        print(f"{node}: Node object deleted", file=sys.stderr, flush=True)


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

    node_object: NodeObject | None
    """None for a decommissioned node: its Node object is deleted."""

    def __init__(
        self,
        node: NodeSettings,
        removal: RemovalSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:NodeRemoval", node.name, None, opts)
        self._node = node
        self._removal = removal
        self.node_object = None
        if not node.decommissioned:
            self.node_object = NodeObject(
                f"{node.name}-node-object",
                {"node_name": node.name},
                pulumi.ResourceOptions(parent=self),
            )

    @property
    def before_start(self) -> list[pulumi.Resource]:
        """What the start command must depend on, so that its delete comes after the stop."""
        return [self.node_object] if self.node_object is not None else []

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
                **(frozen() if self._node.decommissioned else {}),
            ),
        )
        self.register_outputs({})
