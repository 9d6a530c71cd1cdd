"""How the real cost of `pulumi up` grows with nodes: 3, 10 and 30 lab nodes, each a stack of
its own with `rollout.batchSize: 25%`. Times are printed in the results table, never
asserted; each update's timeline (lab/timeline.py) is written to .lab/timelines/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import cluster, control_plane, nodes, paths, timeline, workers
from lab.stack import LabStack
from tests.e2e.lab_client import Lab
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

SIZES = (3, 10, 30)


@pytest.fixture(scope="module", params=SIZES, ids=[f"{n}-nodes" for n in SIZES])
def big_world(lab: Lab, request: pytest.FixtureRequest) -> Iterator[World]:
    state = nodes.up(request.param, lab.state_dir)
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


def timed_up(world: World, stack: LabStack, what: str) -> float:
    """`pulumi up` with its timeline written beside the lab's other records; its seconds."""
    machines = [record["name"] for record in world.records]
    name = f"{len(machines)}-nodes-{what.replace(' ', '-')}"
    log = paths.lab_dir() / "timelines" / f"{name}.jsonl"
    started = time.monotonic()
    call, events = timeline.run_with_events(stack, log, "up", "--yes", "--skip-preview")
    seconds = time.monotonic() - started
    assert call.returncode == 0, call.output[-3000:]
    rows = timeline.summary(timeline.spans(events), machines)
    log.with_suffix(".txt").write_text("\n".join([f"{name}: {seconds:.1f}s", *rows]) + "\n")
    world.measure(f"pulumi up, {len(machines)} nodes, {what} (s)", seconds)
    return seconds


def test_a_new_stack_a_rerun_and_a_rollout(big_world: World) -> None:
    machines = [record["name"] for record in big_world.records]
    with new_stack(big_world, "scale", machines) as stack:
        stack.set("rollout.batchSize", "25%", path=True)
        timed_up(big_world, stack, "new stack")
        assert big_world.joined(machines) == {}
        timed_up(big_world, stack, "no change")
        assert set(stack.history()[0]["resourceChanges"]) == {"same"}
        stack.set("kubelet.maxPods", "111", path=True)
        timed_up(big_world, stack, "rollout batchSize 25%")
        assert big_world.joined(machines) == {}
        assert set(machines) <= cluster.node_names(big_world.plane)
