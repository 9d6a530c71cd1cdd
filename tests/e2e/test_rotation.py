"""Rotating the admin credential under a running stack (issue 14), through the real CLI.

The stack is deployed with an admin credential that RBAC can revoke: a client certificate of
its own user, bound to cluster-admin by its own ClusterRoleBinding (the lab's admin is in
system:masters, which no binding grants), in a file the stack names by its path. A second
credential replaces the file's content and the first one's binding is deleted, so the API
server refuses it from then on. Then refresh works at once (before any update), a node is
removed (drained, its Node and its token deleted with the new credential), no state holds
either credential, and destroy succeeds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from lab import cluster, paths
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
def rotation(world: World) -> Iterator[tuple[LabStack, Path, str]]:
    """The stack on the three nodes and the spare, deployed with the old credential in a file
    the stack names by its path (as docs/approval-and-security.md recommends)."""
    old = cluster.bound_admin(world.plane, OLD)
    path = paths.lab_dir() / "rotation-admin.kubeconfig"
    path.write_text(old)
    path.chmod(0o600)
    with new_stack(world, "rotation") as stack:
        stack.set("kubeconfig", str(path))
        world.add_to_stack(stack, world.spare_node, world.spare_node)
        stack.pulumi("up", "--yes", "--skip-preview")
        assert world.joined([*world.stack_nodes, world.spare_node]) == {}
        yield stack, path, old
    cluster.unbind_admin(world.plane, NEW)
    path.unlink(missing_ok=True)


def test_after_rotation_refresh_works_before_any_update(
    world: World, rotation: tuple[LabStack, Path, str]
) -> None:
    """The providers read the file when the engine configures them, refresh included (the
    program does not run): no `pulumi up` is needed first."""
    stack, path, old = rotation
    path.write_text(cluster.bound_admin(world.plane, NEW))
    cluster.unbind_admin(world.plane, OLD)
    assert _refused(old) == 403

    stack.pulumi("refresh", "--yes", "--skip-preview")

    assert {name: op for name, op in stack.planned().items() if op != "same"} == {}


def test_after_rotation_a_removal_acts_with_the_new_credential(
    world: World, rotation: tuple[LabStack, Path, str]
) -> None:
    stack, _, _ = rotation
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


def test_with_a_path_no_state_holds_a_credential(rotation: tuple[LabStack, Path, str]) -> None:
    stack, path, old = rotation

    state = stack.pulumi("stack", "export", "--show-secrets").stdout

    assert json.loads(state)["deployment"]["resources"]
    assert _client_key(old) not in state
    assert _client_key(path.read_text()) not in state


def test_after_rotation_destroy_succeeds(
    world: World, rotation: tuple[LabStack, Path, str]
) -> None:
    stack, _, _ = rotation

    stack.pulumi("destroy", "--yes", "--skip-preview")

    assert json.loads(stack.export())["deployment"].get("resources") in (None, [])
    assert set(world.stack_nodes) & cluster.node_names(world.plane) == set()
