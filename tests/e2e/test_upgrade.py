"""Upgrading the program under a running stack (issue 14), as Pulumi's providers test upgrades.

A stack is deployed by the program as released (v0.1.0, checked out beside the work tree with
`git worktree`), then previewed and updated by the program of the work tree: nothing is
replaced or deleted, no kubelet restarts (each keeps its process and start time), every node
stays joined, and refresh and destroy work on the state the release wrote.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lab import cluster, paths
from lab.stack import LabStack
from tests.e2e.world import World

pytestmark = pytest.mark.e2e

RELEASE = "v0.1.0"
DESTRUCTIVE = {"replace", "create-replacement", "delete-replaced", "delete", "discard"}


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The released program in a worktree of its own, with this checkout's environment."""
    checkout = tmp_path_factory.mktemp("release") / RELEASE
    git = ["git", "-C", str(paths.REPO)]
    subprocess.run([*git, "worktree", "add", "--detach", str(checkout), RELEASE], check=True)
    (checkout / ".venv").symlink_to(paths.REPO / ".venv")
    try:
        yield checkout
    finally:
        subprocess.run([*git, "worktree", "remove", "--force", str(checkout)], check=False)


def _kubelets(world: World) -> dict[str, tuple[str, str]]:
    """Each node's kubelet: its MainPID and that process's start time."""
    return {name: world.kubelet_process(name) for name in world.stack_nodes}


@pytest.fixture(scope="module")
def deployed(world: World, release: Path) -> Iterator[LabStack]:
    stack = LabStack("upgrade", program=release)
    stack.remove()
    stack.init()
    world.configure(stack)
    stack.pulumi("up", "--yes", "--skip-preview")
    assert world.joined(world.stack_nodes) == {}
    try:
        yield stack
    finally:
        stack.program = paths.REPO
        stack.pulumi("destroy", "--yes", "--skip-preview", check=False)
        stack.remove()


def test_upgrade_replaces_deletes_and_restarts_nothing(world: World, deployed: LabStack) -> None:
    before = _kubelets(world)
    deployed.program = paths.REPO

    preview = json.loads(deployed.pulumi("preview", "--json").stdout)
    operations = {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in preview["steps"]}
    deployed.pulumi("up", "--yes", "--skip-preview")

    destructive = {name: op for name, op in operations.items() if op in DESTRUCTIVE}
    assert destructive == {}, destructive
    # What it creates is each node's drift probe (issue 16), which connects to nothing then.
    created = {n for n, op in operations.items() if op == "create"}
    assert created == {f"{name}-drift" for name in world.stack_nodes}, operations
    assert _kubelets(world) == before, "a kubelet restarted when the program was upgraded"
    assert world.joined(world.stack_nodes) == {}
    world.measure(
        "upgrade from v0.1.0: resources updated (a count)",
        sum(op == "update" for op in operations.values()),
    )


def test_upgrade_leaves_the_admin_credential_in_providers_only(
    world: World, deployed: LabStack
) -> None:
    """0.1.0 stored it in every dynamic resource; the upgrade's update drops those copies. The
    providers keep theirs: the kubernetes provider its kubeconfig input, and the engine's
    default provider of the dynamic resources the stack configuration it was configured with
    (the engine hands them the whole configuration), each replaced by every later command."""
    key = yaml.safe_load(world.plane.admin_kubeconfig.read_text())["users"][0]["user"]
    secret = key["client-key-data"]
    state = json.loads(deployed.pulumi("stack", "export", "--show-secrets").stdout)

    holders = {
        resource["type"]
        for resource in state["deployment"]["resources"]
        if secret in json.dumps(resource)
    }

    assert holders == {"pulumi:providers:kubernetes", "pulumi:providers:pulumi-python"}


def test_upgrade_a_second_update_changes_nothing(world: World, deployed: LabStack) -> None:
    before = _kubelets(world)

    planned = deployed.planned()

    assert {name: op for name, op in planned.items() if op != "same"} == {}
    assert _kubelets(world) == before


def test_upgrade_refresh_works_on_the_state_the_release_wrote(
    world: World, deployed: LabStack
) -> None:
    before = _kubelets(world)

    deployed.pulumi("refresh", "--yes", "--skip-preview")
    planned = deployed.planned()

    assert {name: op for name, op in planned.items() if op in DESTRUCTIVE} == {}
    assert _kubelets(world) == before


def test_upgrade_destroy_works_on_the_state_the_release_wrote(
    world: World, deployed: LabStack
) -> None:
    deployed.pulumi("destroy", "--yes", "--skip-preview")

    assert json.loads(deployed.export())["deployment"].get("resources") in (None, [])
    assert set(world.stack_nodes) & set(cluster.node_names(world.plane)) == set()
