"""Adoption: the first update on a node whose kubelet was started by hand, as the tutorial does.

Its kubelet keeps running while the file commands stage the stack's versions and the start
adopts it; the node's restart, in its rollout batch, puts them in place and restarts it, or
restarts nothing when the node's files already hold the same bytes. The scripts run with `sh`
on a node root whose kubelet the stub systemctl reports active.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.node import rendering
from components.settings.model import Settings
from tests.factories import BuildSettings
from tests.node_root import NodeRoot, kubelet_scripts, restart_script, ticking, write_files


def config_on(node: NodeRoot, settings: Settings) -> str:
    return Path(node.moved(settings.kubelet.config_file)).read_text()


def started_record(node: NodeRoot, settings: Settings) -> str:
    return Path(node.moved(rendering.started_record(settings.kubelet))).read_text()


def built_by_hand(node: NodeRoot, settings: Settings) -> None:
    """The tutorial's node: `settings`' files written by hand, its kubelet started with
    `systemctl start kubelet` and bootstrapped, and no record of this stack."""
    node.write(rendering.node_files(settings, settings.nodes[0]))
    node.bootstrapped()
    node.active.touch()


@pytest.fixture
def node(tmp_path: Path) -> NodeRoot:
    return NodeRoot(tmp_path / "node")


def test_the_stacks_files_are_staged_and_the_running_kubelet_adopted(
    node: NodeRoot, build: BuildSettings
) -> None:
    by_hand, stack = build(kubelet={"maxPods": 110}), build()
    built_by_hand(node, by_hand)

    said = write_files(node, stack, "create")
    start = node.sh(kubelet_scripts(stack).create)

    assert start.returncode == 0, start.stderr
    assert "runs already, started before this stack: adopted, not restarted" in start.stdout
    assert node.restarts() == 0
    assert "maxPods: 110" in config_on(node, stack)
    assert "goes live when its kubelet restarts in its rollout batch" in said["kubelet-config"]
    # Recorded healthy with the files it runs with, the hand-written ones.
    config = next(
        f for f in rendering.node_files(by_hand, by_hand.nodes[0]) if f.key == "kubelet-config"
    )
    assert f"sha256 {config.sha256}" in started_record(node, stack)


def test_the_restart_in_its_batch_puts_the_stacks_files_in_place_and_restarts_once(
    node: NodeRoot, build: BuildSettings
) -> None:
    stack = build()
    built_by_hand(node, build(kubelet={"maxPods": 110}))
    write_files(node, stack, "create")
    assert node.sh(kubelet_scripts(stack).create).returncode == 0

    restart = node.sh(restart_script(stack, created=True))

    assert restart.returncode == 0, restart.stderr
    assert node.restarts() == 1
    assert "maxPods: 220" in config_on(node, stack)
    files = rendering.node_files(stack, stack.nodes[0])
    record = [f"{node.moved(f.path)} sha256 {f.sha256}" for f in files]
    assert started_record(node, stack).splitlines() == record


def test_a_node_whose_files_hold_the_same_bytes_is_not_restarted(
    node: NodeRoot, build: BuildSettings
) -> None:
    stack = build()
    built_by_hand(node, stack)

    said = write_files(node, stack, "create")
    start = node.sh(kubelet_scripts(stack).create)
    restart = node.sh(restart_script(stack, created=True))

    assert (start.returncode, restart.returncode) == (0, 0), start.stderr + restart.stderr
    assert not any("staged" in line for line in said.values())
    assert "nothing is staged on node-0" in restart.stdout
    assert node.restarts() == 0
    assert "systemctl daemon-reload" not in node.calls()


def test_a_kubelet_by_hand_without_its_client_certificate_is_restarted_with_the_stacks_files(
    node: NodeRoot, build: BuildSettings
) -> None:
    """Not joined, it has nothing to keep: the start puts the staged files in place and
    restarts it at once, with the stack's bootstrap token."""
    stack = build()
    built_by_hand(node, build(kubelet={"maxPods": 110}))
    node.client_certificate.unlink()
    node.stub(systemctl=node.systemctl(f'[ "$1" != restart ] || {{ {node.bootstrap_command()}; }}'))
    write_files(node, stack, "create")

    start = node.sh(kubelet_scripts(stack).create)

    assert start.returncode == 0, start.stderr
    assert "adopted" not in start.stdout
    assert node.restarts() == 1
    assert "maxPods: 220" in config_on(node, stack)


def test_a_stopped_kubelet_by_hand_gets_the_stacks_files_live_and_is_started(
    node: NodeRoot, build: BuildSettings
) -> None:
    stack = build()
    built_by_hand(node, build(kubelet={"maxPods": 110}))
    node.active.unlink()

    said = write_files(node, stack, "create")
    start = node.sh(kubelet_scripts(stack).create)

    assert start.returncode == 0, start.stderr
    assert not any("staged" in line for line in said.values())
    assert node.restarts() == 1
    assert "maxPods: 220" in config_on(node, stack)


def test_a_start_that_timed_out_is_gated_again_and_a_rollback_goes_live_in_its_batch(
    tmp_path: Path, build: BuildSettings
) -> None:
    """Only a healthy start is remembered. The kubelet it left running is gated again by the
    next run, as an adopted one; the files rolled back since are staged, and the restart of
    its batch puts them in place: the kubelet runs what the stack last wrote."""
    bad, good = build(kubelet={"maxPods": 110, "healthzTimeoutSeconds": 10}), build()
    node = NodeRoot(tmp_path / "node", curl="exit 7", date=ticking(tmp_path / "clock", 100))
    node.bootstrapped()
    write_files(node, bad, "create")
    assert node.sh(kubelet_scripts(bad).create).returncode == 1
    node.stub(curl="printf ok", date=ticking(tmp_path / "clock", 1))

    write_files(node, good, "update")
    start = node.sh(kubelet_scripts(good).create)
    restart = node.sh(restart_script(good, created=True))

    assert (start.returncode, restart.returncode) == (0, 0), start.stderr + restart.stderr
    assert node.restarts() == 2
    assert "maxPods: 220" in config_on(node, good)
