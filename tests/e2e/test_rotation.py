"""Rotating the admin credential under a running stack (issue 14), through the real CLI.

The stack is deployed with an admin credential that RBAC can revoke: a client certificate of
its own user, bound to cluster-admin by its own ClusterRoleBinding (the lab's admin is in
system:masters, which no binding grants). A second credential is made and set as the stack's
`kubeconfig`, and the first one's binding deleted, so the API server refuses it from then on.
Then a node is removed (drained, its Node and its token deleted: the dynamic providers act with
the credential configured now, not a stored one), refresh works, no state holds the old
credential, and destroy succeeds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client, config

from lab import cluster
from lab.stack import LabStack
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

OLD, NEW = "rotation-admin-1", "rotation-admin-2"


def _client_key(kubeconfig: str) -> str:
    """The base64 private key of the kubeconfig's user: what must not outlive a rotation."""
    return yaml.safe_load(kubeconfig)["users"][0]["user"]["client-key-data"]


def _refused(kubeconfig: str) -> int:
    """The API server's answer to listing Nodes with `kubeconfig`: its HTTP status."""
    api = config.new_client_from_config_dict(yaml.safe_load(kubeconfig))
    try:
        client.CoreV1Api(api).list_node(_request_timeout=10)
    except client.exceptions.ApiException as error:
        return int(error.status)
    return 200


@pytest.fixture(scope="module")
def rotation(world: World) -> Iterator[tuple[LabStack, str]]:
    """The stack on the three nodes and the spare, deployed with the old credential."""
    old = cluster.bound_admin(world.plane, OLD)
    with new_stack(world, "rotation") as stack:
        stack.set("kubeconfig", old, secret=True)
        world.add_to_stack(stack, world.spare_node, world.spare_node)
        stack.pulumi("up", "--yes", "--skip-preview")
        assert world.joined([*world.stack_nodes, world.spare_node]) == {}
        yield stack, old
    cluster.unbind_admin(world.plane, NEW)


def test_after_rotation_a_removal_acts_with_the_new_credential(
    world: World, rotation: tuple[LabStack, str]
) -> None:
    stack, old = rotation
    new = cluster.bound_admin(world.plane, NEW)
    stack.set("kubeconfig", new, secret=True)
    cluster.unbind_admin(world.plane, OLD)
    assert _refused(old) == 403
    world.remove_from_stack(stack, world.spare_node)

    up = stack.pulumi("up", "--yes", "--skip-preview")

    spare = world.spare_node
    assert f"{spare}: drained" in up.output
    assert f"{spare}: Node object deleted" in up.output
    assert spare not in cluster.node_names(world.plane)
    groups = {
        base64.b64decode(secret.data["auth-extra-groups"]).decode()
        for secret in cluster.bootstrap_token_secrets(world.plane)
    }
    assert f"system:bootstrappers:{spare}" not in groups
    assert world.joined(world.stack_nodes) == {}


def test_after_rotation_refresh_reads_with_the_new_credential(
    rotation: tuple[LabStack, str],
) -> None:
    stack, _ = rotation

    stack.pulumi("refresh", "--yes", "--skip-preview")

    assert {name: op for name, op in stack.planned().items() if op != "same"} == {}


def test_after_rotation_no_state_holds_the_old_credential(
    rotation: tuple[LabStack, str],
) -> None:
    stack, old = rotation

    state = stack.pulumi("stack", "export", "--show-secrets").stdout

    assert json.loads(state)["deployment"]["resources"]
    assert _client_key(old) not in state


def test_after_rotation_destroy_succeeds(world: World, rotation: tuple[LabStack, str]) -> None:
    stack, _ = rotation

    stack.pulumi("destroy", "--yes", "--skip-preview")

    assert json.loads(stack.export())["deployment"].get("resources") in (None, [])
    assert set(world.stack_nodes) & cluster.node_names(world.plane) == set()
