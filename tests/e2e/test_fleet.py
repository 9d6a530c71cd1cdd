"""`python -m tools.fleet` through the real CLI: two stacks of the program on the lab cluster.

Stack fleet-a holds the first two nodes and fleet-b the third. Both make the cluster-wide
bootstrap RBAC, so both set `rbac.adoptExisting` for their first update, as docs/fleet.md tells
a user with two stacks on one cluster; both verify their kubelets, at the same time, each with
an identity named after its stack. The driver runs as a user
runs it, from the repository, its stacks' settings files in the lab (`--config-dir`), without
a terminal (plain lines).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from lab import cluster, paths
from lab.pulumi_home import environment
from lab.stack import LabStack
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

A, B = "fleet-a", "fleet-b"
COLUMNS = ("stack", "result", "changes", "restarts", "failures", "time")
# The lab host's side of the bridge: no sshd listens on port 22 there, so SSH is refused.
UNREACHABLE = paths.HOST_ADDRESS


@pytest.fixture(scope="module")
def fleet(world: World) -> Iterator[tuple[LabStack, LabStack]]:
    machines = world.stack_nodes
    with new_stack(world, A, machines[:2]) as a, new_stack(world, B, machines[2:]) as b:
        for stack in (a, b):
            stack.set("rbac.adoptExisting", "true", path=True)
        yield a, b


def drive(stack: LabStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The driver on both stacks, in the lab's Pulumi environment."""
    argv = [sys.executable, "-m", "tools.fleet", *args, "--stack", A, "--stack", B]
    result = subprocess.run(
        [*argv, "--config-dir", str(stack.directory)],
        cwd=paths.REPO,
        env=environment(stack.backend),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(result.stdout, result.stderr)  # shown when a test fails
    return result


def table(output: str) -> dict[str, dict[str, str]]:
    """The summary table's rows, by stack."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:6] == list(COLUMNS))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = dict(zip(COLUMNS, cells, strict=True))
    return rows


def test_preview_plans_both_stacks_and_writes_nothing(world: World, fleet) -> None:
    a, _ = fleet
    result = drive(a, "preview")
    assert result.returncode == 0, result.stdout
    rows = table(result.stdout)
    for name in (A, B):
        assert rows[name]["result"] == "ok"
        assert rows[name]["changes"].startswith("create "), rows[name]
        assert rows[name]["restarts"] == "0"
        assert rows[name]["failures"] == "0"
        # Without a terminal, plain progress lines: the stack, its phase, its resources.
        assert re.search(rf"^{name}\s+ok\s+\d+/\d+ resources", result.stdout, re.MULTILINE)
    assert cluster.bootstrap_token_secrets(world.plane) == []


def test_up_joins_the_nodes_of_both_and_restarts_none(world: World, fleet) -> None:
    a, _ = fleet
    result = drive(a, "up")
    assert result.returncode == 0, result.stdout
    rows = table(result.stdout)
    for name in (A, B):
        assert rows[name]["result"] == "ok"
        assert rows[name]["restarts"] == "0", "a node's first start is no restart"
    assert set(world.stack_nodes) <= cluster.node_names(world.plane)
    world.remember_token_secrets()


def test_a_change_of_one_stack_restarts_its_nodes_only(world: World, fleet) -> None:
    a, _ = fleet
    a.set("kubelet.maxPods", "110", path=True)
    preview = table(drive(a, "preview").stdout)
    assert (preview[A]["restarts"], preview[B]["restarts"]) == ("2", "0")
    result = drive(a, "up")
    assert result.returncode == 0, result.stdout
    rows = table(result.stdout)
    assert (rows[A]["restarts"], rows[B]["restarts"]) == ("2", "0")
    assert rows[B]["changes"] == "none"


def test_a_broken_stack_fails_alone(world: World, fleet) -> None:
    a, b = fleet
    b.set("nodes[1].name", "fleet-unreachable", path=True)
    b.set("nodes[1].address", UNREACHABLE, path=True)
    # Pinned, so that the stack gets as far as connecting (an unpinned one is refused first).
    b.set("nodes[1].hostKey", world.records[0]["hostKey"], path=True)
    a.set("kubelet.maxPods", "120", path=True)
    result = drive(a, "up")
    assert result.returncode == 1, result.stdout
    rows = table(result.stdout)
    assert rows[A]["result"] == "ok"
    assert rows[A]["restarts"] == "2", "the other stack still completed its update"
    assert rows[B]["result"] == "failed"
    assert int(rows[B]["failures"]) >= 1
    errors = result.stdout.split(f"{B} failed:", 1)[1]
    assert "fleet-unreachable" in errors
    printed = result.stdout + result.stderr
    for what, value in world.secret_values().items():
        assert value not in printed, f"the driver printed the {what}"
    b.pulumi("config", "rm", "--path", "kubelet-bootstrap:nodes[1]")
