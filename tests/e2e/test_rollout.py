"""Rolling restarts through the real CLI (issue 8, item 2): `rollout.batchSize 1` on three nodes.

A first installation starts every kubelet at once, whatever the batch size; a change of every
node's config restarts them one batch after the other; a batch whose kubelet fails its gate
stops the rollout there, and the next `pulumi up` goes on from it.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from datetime import datetime

import pytest

from lab import nodes, workers
from lab.stack import LabStack
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

# It passes the preflight (the real kubelet's version), starts the real kubelet, which answers
# healthz with the certificate it has, and dies four seconds later, as a kubelet does on a
# fatal error after start-up ("Failed to start ContainerManager").
BROKEN_KUBELET = """#!/bin/sh
kept="$(dirname "$0")/kubelet.kept"
if [ "$1" = --version ]; then exec "$kept" --version; fi
"$kept" "$@" &
sleep 4
kill "$!"
echo 'this kubelet dies on purpose' >&2
exit 1
"""


def _restart_times(world: World, name: str) -> list[datetime]:
    """When the node's kubelet was (re)started, in order."""
    return [
        datetime.fromisoformat(str(call["time"]).replace("Z", "+00:00"))
        for call in nodes.calls(name, world.lab.state_dir)
        if call["argv"][:2] == ["systemctl", "restart"]  # type: ignore[index]
    ]


def _config(world: World, name: str) -> str:
    return (world.root(name) / "etc/kubernetes/kubelet-config.yaml").read_text()


@pytest.fixture(scope="module")
def stack(world: World) -> Iterator[LabStack]:
    with new_stack(world, "rollout") as stack:
        stack.set("rollout.batchSize", "1", path=True)
        yield stack


def test_a_first_installation_starts_every_kubelet_at_once(world: World, stack: LabStack) -> None:
    stack.pulumi("up", "--yes", "--skip-preview")
    firsts = [_restart_times(world, name) for name in world.stack_nodes]
    assert all(len(times) == 1 for times in firsts), firsts
    spread = (max(t[0] for t in firsts) - min(t[0] for t in firsts)).total_seconds()
    world.measure("first starts, 3 nodes in batches of 1: spread (s)", spread)
    # One batch after the other would put a whole health gate (bootstrap included) between
    # two starts; started at once, they are spread by SSH and scheduling alone.
    assert spread < 2.0, f"the first starts were {spread:.1f}s apart: they waited for batches"
    assert stack.outputs()["rolloutBatches"] == [[name] for name in world.stack_nodes]


def test_a_change_for_all_restarts_one_batch_after_the_other(world: World, stack: LabStack) -> None:
    stack.set("kubelet.maxPods", "110", path=True)
    preview = json.loads(stack.pulumi("preview", "--json").stdout)
    messages = " ".join(d.get("message", "") for d in preview.get("diagnostics", []))
    assert "rollout.batchSize 1: kubelets that must restart do so in 3 batches" in messages
    stack.pulumi("up", "--yes", "--skip-preview")
    restarted = [_restart_times(world, name) for name in world.stack_nodes]
    assert all(len(times) == 2 for times in restarted), restarted
    second = [times[1] for times in restarted]
    assert second == sorted(second), f"restarts out of batch order: {second}"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(second)]
    world.measure("restart of batch k+1 after batch k, least gap (s)", min(gaps))
    # Each batch waited for the one before to pass its gate, settleSeconds included.
    assert min(gaps) > 10.0, gaps


def test_a_failed_batch_stops_the_rollout_and_the_next_up_goes_on(
    world: World, stack: LabStack
) -> None:
    first, broken, last = world.stack_nodes
    binary = world.root(broken) / workers.KUBELET_BINARY.lstrip("/")
    kept = binary.with_name("kubelet.kept")
    shutil.copy2(binary, kept)
    binary.unlink()  # the running kubelet holds the old file: replace it, do not write into it
    binary.write_text(BROKEN_KUBELET)
    binary.chmod(0o755)
    stack.set("kubelet.healthzTimeoutSeconds", "15", path=True)
    stack.set("kubelet.maxPods", "100", path=True)
    before = {name: len(_restart_times(world, name)) for name in world.stack_nodes}

    failed = stack.pulumi("up", "--yes", "--skip-preview", check=False)

    assert failed.returncode != 0
    assert f"the kubelet on {broken} crashed after it was started" in failed.stdout + failed.stderr
    after = {name: len(_restart_times(world, name)) for name in world.stack_nodes}
    assert after == {first: before[first] + 1, broken: before[broken] + 1, last: before[last]}
    # The last batch's files are as they were: its new config waits, staged, for its batch.
    assert "maxPods: 100" not in _config(world, last)
    staged = world.root(last) / "var/lib/kubelet-bootstrap/staged/etc/kubernetes"
    assert "maxPods: 100" in (staged / "kubelet-config.yaml").read_text()

    shutil.move(kept, binary)
    stack.pulumi("up", "--yes", "--skip-preview")
    resumed = {name: len(_restart_times(world, name)) for name in world.stack_nodes}
    assert resumed == {first: after[first], broken: after[broken] + 1, last: after[last] + 1}
    assert "maxPods: 100" in _config(world, last)
    assert not (staged / "kubelet-config.yaml").exists()
    assert world.joined(world.stack_nodes) == {}
