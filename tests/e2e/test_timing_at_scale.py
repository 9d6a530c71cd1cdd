"""How the real cost of `pulumi up` grows with nodes: 10 lab nodes, beside the 3 of the
scenarios. Times are printed in the results table, never asserted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import cluster, control_plane, nodes, workers
from tests.e2e.lab_client import Lab
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

NODES = 10


@pytest.fixture(scope="module")
def big_world(lab: Lab) -> Iterator[World]:
    state = nodes.up(NODES, lab.state_dir)
    plane = control_plane.control_plane()
    control_plane.down(plane, wipe=True)
    control_plane.up(plane)
    world = World(Lab(lab.state_dir, state), plane)
    for record in world.records:
        workers.equip(record["name"], Path(record["root"]))
    yield world
    for record in world.records:
        workers.unequip(record["name"])
    control_plane.down(plane, wipe=True)


def test_up_and_rerun_on_ten_nodes(big_world: World) -> None:
    machines = [record["name"] for record in big_world.records]
    with new_stack(big_world, "scale", machines) as stack:
        started = time.monotonic()
        stack.pulumi("up", "--yes", "--skip-preview")
        big_world.measure(f"pulumi up, {NODES} nodes, new stack (s)", time.monotonic() - started)
        started = time.monotonic()
        stack.pulumi("up", "--yes", "--skip-preview")
        big_world.measure(f"pulumi up, {NODES} nodes, no change (s)", time.monotonic() - started)
        assert set(machines) <= cluster.node_names(big_world.plane)
        assert set(stack.history()[0]["resourceChanges"]) == {"same"}
