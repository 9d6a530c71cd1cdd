"""Drift seen by refresh (issue 16, part 2), through the real CLI on the lab's nodes.

A file the stack wrote, changed on one node by hand, shows in `pulumi preview --refresh` as
that node's drift, its file command and its restart, and nothing else; `pulumi up --refresh`
puts the file back and restarts that node's kubelet alone (its process, not a command's word);
a refresh after that finds nothing. A kubelet stopped by hand shows too and is started again;
a bootstrap kubeconfig removed by hand is written back without a restart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lab.stack import LabStack
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

CONFIG = "/etc/kubernetes/kubelet-config.yaml"
BOOTSTRAP = "/etc/kubernetes/kubelet-bootstrap.kubeconfig"
CHANGES = {"create", "update", "replace", "delete", "create-replacement", "delete-replaced"}


@pytest.fixture(scope="module")
def stack(world: World) -> Iterator[LabStack]:
    with new_stack(world, "drift") as stack:
        stack.pulumi("up", "--yes", "--skip-preview")
        assert world.joined(world.stack_nodes) == {}
        yield stack


def _kubelets(world: World) -> dict[str, tuple[str, str]]:
    return {name: world.kubelet_process(name) for name in world.stack_nodes}


def _preview_with_refresh(stack: LabStack) -> tuple[dict[str, str], dict[str, Any]]:
    """Each resource's planned change after a refresh, and each drift probe's outputs as the
    refresh read them."""
    plan = json.loads(stack.pulumi("preview", "--refresh", "--json").stdout)
    planned = {
        step["urn"].rsplit("::", 1)[-1]: step["op"]
        for step in plan.get("steps", [])
        if step["op"] in CHANGES
    }
    probes = {
        step["urn"].rsplit("::", 1)[-1]: (step.get("oldState") or {}).get("outputs", {})
        for step in plan.get("steps", [])
        if step["urn"].endswith("-drift")
    }
    return planned, probes


def _probe_outputs(stack: LabStack, name: str) -> dict[str, Any]:
    state = json.loads(stack.export())
    [probe] = [r for r in state["deployment"]["resources"] if r["urn"].endswith(f"::{name}-drift")]
    return probe["outputs"]


def test_an_edited_file_shows_in_preview_refresh_as_that_node_alone(
    world: World, stack: LabStack
) -> None:
    edited = world.stack_nodes[1]
    before = _kubelets(world)
    config = world.root(edited) / CONFIG.lstrip("/")
    original = config.read_text()
    config.write_text(original + "# tuned by hand\n")

    planned, probes = _preview_with_refresh(stack)

    assert planned == {
        f"{edited}-drift": "update",
        f"{edited}-kubelet-config": "update",
        f"{edited}-restart-kubelet": "update",
    }
    drift = probes[f"{edited}-drift"]["drift"]
    assert drift.startswith(f"{edited}: {CONFIG} was changed on the node"), drift
    assert all(not probes[f"{n}-drift"]["drift"] for n in world.stack_nodes if n != edited)
    assert _kubelets(world) == before, "a preview restarted a kubelet"
    assert config.read_text() == original + "# tuned by hand\n"


def test_up_refresh_puts_the_file_back_and_restarts_that_node_alone(
    world: World, stack: LabStack
) -> None:
    edited = world.stack_nodes[1]
    before = _kubelets(world)
    config = world.root(edited) / CONFIG.lstrip("/")
    wanted = config.read_text().removesuffix("# tuned by hand\n")

    stack.pulumi("up", "--refresh", "--yes", "--skip-preview")

    assert config.read_text() == wanted
    after = _kubelets(world)
    assert after[edited] != before[edited], "the repaired node's kubelet did not restart"
    assert {n: p for n, p in after.items() if n != edited} == {
        n: p for n, p in before.items() if n != edited
    }
    assert world.joined(world.stack_nodes) == {}
    assert _probe_outputs(stack, edited)["drift"] == ""

    # Found and put back: the next refresh finds nothing, and nothing restarts again.
    planned, _ = _preview_with_refresh(stack)
    assert planned == {}
    stack.pulumi("up", "--refresh", "--yes", "--skip-preview")
    assert _kubelets(world) == after


def test_a_stopped_kubelet_shows_on_refresh_and_up_starts_it(world: World, stack: LabStack) -> None:
    stopped = world.stack_nodes[2]
    before = _kubelets(world)
    world.lab.ssh_ok(stopped, "systemctl stop kubelet.service")

    stack.pulumi("refresh", "--yes", "--skip-preview")
    drift = _probe_outputs(stack, stopped)["drift"]
    assert drift.startswith(f"{stopped}: the kubelet the stack started (kubelet.service) is "), (
        drift
    )
    planned = {n: op for n, op in stack.planned().items() if op != "same"}
    assert planned == {f"{stopped}-drift": "update", f"{stopped}-restart-kubelet": "update"}

    stack.pulumi("up", "--yes", "--skip-preview")

    after = _kubelets(world)
    assert after[stopped] != before[stopped]
    assert {n: p for n, p in after.items() if n != stopped} == {
        n: p for n, p in before.items() if n != stopped
    }
    assert world.joined([stopped]) == {}


def test_a_removed_bootstrap_kubeconfig_is_written_back_without_a_restart(
    world: World, stack: LabStack
) -> None:
    node = world.stack_nodes[0]
    before = _kubelets(world)
    path = world.root(node) / BOOTSTRAP.lstrip("/")
    content = path.read_text()
    path.unlink()

    planned, probes = _preview_with_refresh(stack)
    assert planned == {f"{node}-drift": "update", f"{node}-bootstrap-kubeconfig": "update"}
    assert probes[f"{node}-drift"]["drift"].startswith(f"{node}: {BOOTSTRAP} is missing")

    stack.pulumi("up", "--refresh", "--yes", "--skip-preview")

    assert path.read_text() == content
    assert _kubelets(world) == before
