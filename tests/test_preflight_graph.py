"""The preflight in the resource graph: one read-only command per node that every other
command of that node waits for, and only that node's; when it runs again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.node.preflight import CHECKS
from offline.engine import Recording
from tests.factories import NS

COMMAND = "command:remote:Command"
OTHER_COMMANDS = (
    "bootstrap-kubeconfig",
    "ca",
    "kubelet-config",
    "kubelet-unit",
    "prepare",
    "start-kubelet",
    "restart-kubelet",
)

Config = Callable[..., dict[str, Any]]
Run = Callable[[dict[str, Any]], Recording]


def nodes(count: int) -> list[str]:
    return [f"node-{index}" for index in range(count)]


def test_every_command_of_a_node_waits_for_its_own_preflight(config: Config, run: Run) -> None:
    recording = run(config(nodes=3))
    preflights = {node: recording.named(f"{node}-preflight").urn for node in nodes(3)}
    for node in nodes(3):
        for key in OTHER_COMMANDS:
            dependencies = set(recording.named(f"{node}-{key}").dependencies)
            assert preflights[node] in dependencies, f"{node}-{key} does not wait for preflight"
            others = set(preflights.values()) - {preflights[node]}
            assert not dependencies & others, f"{node}-{key} waits for another node's preflight"


def test_the_preflight_waits_for_nothing_and_is_the_nodes(config: Config, run: Run) -> None:
    recording = run(config(nodes=2))
    for node in nodes(2):
        preflight = recording.named(f"{node}-preflight")
        assert preflight.dependencies == []
        assert preflight.parent == recording.named(f"{node}-start-kubelet").parent


def test_the_preflight_only_reads_and_undoes_nothing(config: Config, run: Run) -> None:
    settings = config(nodes=1)
    preflight = run(settings).named("node-0-preflight")
    assert "update" not in preflight.inputs
    assert "delete" not in preflight.inputs
    # Its stdin is the cluster CA, public, which versionSkew reads the API server with.
    assert preflight.inputs["stdin"] == Path(settings[f"{NS}:caCertFile"]).read_text()
    assert preflight.inputs["addPreviousOutputInEnv"] is False
    assert "/var/lib/kubelet-bootstrap" not in preflight.inputs["create"]


def test_the_preflight_runs_the_nodes_checks_with_its_address(config: Config, run: Run) -> None:
    script = run(config(nodes=2)).named("node-1-preflight").inputs["create"]
    assert "node='node-1'" in script
    assert "address='10.0.0.2'" in script
    for check in CHECKS:
        assert f"fail {check} " in script, check


def preflight_of(recording: Recording, node: str = "node-0") -> str:
    return recording.named(f"{node}-preflight").inputs["create"]


@pytest.mark.parametrize(
    "kubelet",
    [{"maxPods": 110}, {"binary": "/usr/bin/kubelet"}, {"port": 10350}],
    ids=["config", "unit", "port"],
)
def test_the_preflight_runs_again_when_a_file_of_the_node_changes(
    config: Config, run: Run, kubelet: dict[str, Any]
) -> None:
    """pulumi-command runs a command again only when its inputs change: the preflight names
    the node's files, so it checks again before they are rewritten."""
    before = run(config(nodes=1))
    after = run(config(nodes=1, kubelet=kubelet))
    assert preflight_of(before) != preflight_of(after)


def test_the_preflight_does_not_run_again_for_a_start_only_change(config: Config, run: Run) -> None:
    before = run(config(nodes=1))
    after = run(config(nodes=1, kubelet={"healthzTimeoutSeconds": 300}))
    assert preflight_of(before) == preflight_of(after)
    assert (
        before.named("node-0-start-kubelet").inputs["create"]
        != after.named("node-0-start-kubelet").inputs["create"]
    )


def test_a_change_of_one_node_runs_only_its_preflight_again(config: Config, run: Run) -> None:
    before = run(config(nodes=2))
    changed = config(
        nodes=[{"name": "node-0", "address": "10.0.0.1"}, {"name": "node-1", "address": "10.0.0.9"}]
    )
    after = run(changed)
    assert preflight_of(before, "node-0") == preflight_of(after, "node-0")
    assert preflight_of(before, "node-1") != preflight_of(after, "node-1")


def test_skipping_a_check_leaves_it_out_of_the_script(config: Config, run: Run) -> None:
    script = preflight_of(run(config(nodes=1, preflight={"skip": ["cgroupV2", "swap"]})))
    assert "fail cgroupV2 " not in script
    assert "fail swap " not in script
    assert "fail kubeletBinary " in script


def test_with_every_check_skipped_there_is_no_preflight(config: Config, run: Run) -> None:
    recording = run(config(nodes=1, preflight={"skip": list(CHECKS)}))
    names = {registration.name for registration in recording.of_type(COMMAND)}
    assert names == {f"node-0-{key}" for key in OTHER_COMMANDS}


def test_a_node_that_downloads_its_kubelet_is_not_checked_for_one_before_it_has_it(
    config: Config, run: Run
) -> None:
    """The install runs after the preflight and checks the binary's version itself."""
    download = {"url": "https://dl.k8s.io/v1.34.4/bin/linux/amd64/kubelet", "sha256": "a" * 64}
    recording = run(config(nodes=1, kubelet={"download": download}))
    script = recording.named("node-0-preflight").inputs["create"]
    assert "kubeletBinary" not in script
    assert "containerRuntime" in script
    assert f"/opt/k8s/bin/kubelet sha256 {'a' * 64}" in script, "a new binary checks again"
