"""Where a node's removal sits in the graph the program registers (offline engine).

Pulumi deletes dependents before their dependencies: the drain depends on the start command,
so it runs before the kubelet stops; the start depends on the Node object's resource and the
token Secret, so they go after it. A decommissioned node keeps only frozen resources that no
update or delete will run, and nothing of it reaches approval or verification.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from offline.engine import Recording

COMMAND_KEYS = ("bootstrap-kubeconfig", "ca", "kubelet-config", "kubelet-unit", "prepare")
FROZEN = (True, ["*"])


@pytest.fixture(autouse=True)
def _no_ambient_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)


def deps(recording: Recording, name: str) -> set[str]:
    return set(recording.named(name).dependencies)


def urn(recording: Recording, name: str) -> str:
    return recording.named(name).urn


def names(recording: Recording) -> set[str]:
    return {r.name for r in recording.resources}


def test_the_drain_comes_before_the_stop_and_the_node_object_after_it(
    config: Callable, run: Callable
) -> None:
    recording = run(config(nodes=2))
    for node in ("node-0", "node-1"):
        start = urn(recording, f"{node}-start-kubelet")
        assert deps(recording, f"{node}-drain") == {start}
        assert {
            urn(recording, f"{node}-node-object"),
            urn(recording, f"{node}-bootstrap-token"),
        } <= deps(recording, f"{node}-start-kubelet")
        assert deps(recording, f"{node}-node-object") == set()


def test_the_drain_is_told_its_node_and_the_removal_settings(
    config: Callable, run: Callable
) -> None:
    recording = run(config(nodes=1, removal={"drain": False, "drainTimeoutSeconds": 45}))
    drain = recording.named("node-0-drain")
    node_object = recording.named("node-0-node-object")

    assert {k: v for k, v in drain.inputs.items() if k != "__provider"} == {
        "node_name": "node-0",
        "drain": False,
        "timeout_seconds": 45,
    }
    assert {k: v for k, v in node_object.inputs.items() if k != "__provider"} == {
        "node_name": "node-0"
    }


def test_by_default_a_node_is_drained_within_five_minutes(config: Callable, run: Callable) -> None:
    drain = run(config(nodes=1)).named("node-0-drain")

    assert (drain.inputs["drain"], drain.inputs["timeout_seconds"]) == (True, 300)


def test_nothing_of_a_reachable_node_is_frozen(config: Callable, run: Callable) -> None:
    recording = run(config(nodes=1))

    for name in (*(f"node-0-{key}" for key in COMMAND_KEYS), "node-0-start-kubelet"):
        registration = recording.named(name)
        assert (registration.retain_on_delete, registration.ignore_changes) == (False, [])


@pytest.fixture
def decommissioned(config: Callable, run: Callable) -> Recording:
    nodes = [
        {"name": "node-0", "address": "10.0.0.1"},
        {"name": "node-1", "address": "10.0.0.2", "decommissioned": True},
    ]
    return run(config(nodes=nodes))


def test_a_decommissioned_node_has_no_token_and_its_node_object_is_told_so(
    decommissioned: Recording,
) -> None:
    """Its NodeObject's update deletes the Node: no drain precedes it, no command connects."""
    present = names(decommissioned)

    for gone in ("node-1-bootstrap-token", "node-1-token-id"):
        assert gone not in present
    assert {"node-0-bootstrap-token", "node-0-node-object"} <= present
    retired = decommissioned.named("node-1-node-object")
    assert {k: v for k, v in retired.inputs.items() if k != "__provider"} == {
        "node_name": "node-1",
        "decommissioned": True,
    }
    assert (retired.retain_on_delete, retired.ignore_changes) != FROZEN
    kept = decommissioned.named("node-0-node-object")
    assert "decommissioned" not in kept.inputs  # a 0.1 state's inputs: no change to show


def test_a_decommissioned_nodes_commands_and_drain_are_frozen(decommissioned: Recording) -> None:
    """retainOnDelete: dropping them later runs no delete; ignoreChanges *: a settings change
    updates none of them, so no command connects to the machine again."""
    for name in (*(f"node-1-{key}" for key in COMMAND_KEYS), "node-1-start-kubelet"):
        registration = decommissioned.named(name)
        assert (registration.retain_on_delete, registration.ignore_changes) == FROZEN, name
    # The drain runs nothing on the machine: its inputs are named, so that one an earlier
    # version stored (the admin credential) can still be dropped by an update.
    drain = decommissioned.named("node-1-drain")
    assert (drain.retain_on_delete, sorted(drain.ignore_changes)) == (
        True,
        ["drain", "node_name", "timeout_seconds"],
    )
    start = deps(decommissioned, "node-1-start-kubelet")
    assert not {r.urn for r in decommissioned.resources if r.name.startswith("node-0")} & start


def test_a_decommissioned_node_is_neither_approved_nor_verified_nor_exported(
    decommissioned: Recording,
) -> None:
    approval = decommissioned.named("serving-csr-approval").inputs["nodes"]
    check = decommissioned.named("kubelet-api-verification-check").inputs["nodes"]

    assert [entry["name"] for entry in approval] == ["node-0"]
    assert [entry["name"] for entry in check] == ["node-0"]
    assert set(decommissioned.stack_outputs["nodes"]) == {"node-0"}
    assert decommissioned.stack_outputs["decommissioned"] == ["node-1"]


def test_a_decommissioned_nodes_script_keeps_no_token_in_its_stdin(
    decommissioned: Recording,
) -> None:
    """Its frozen bootstrap command keeps the content in the state; the program hands it none."""
    command = decommissioned.named("node-1-bootstrap-kubeconfig")

    assert "stdin" in command.secret_paths
    assert 'token: ""' in command.inputs["stdin"]


def test_a_decommissioned_node_is_frozen_whole_even_for_commands_added_later(
    config: Callable, run: Callable
) -> None:
    """`kubelet.download` set after the machine was decommissioned adds a command to every
    node; on the dead one it is created without a script, so nothing connects there."""
    nodes = config(nodes=2)["kubelet-bootstrap:nodes"]
    nodes[1]["decommissioned"] = True
    download = {"url": "https://dl.example/kubelet", "sha256": "b" * 64}

    recording = run(config(nodes=nodes, kubelet={"download": download}))

    commands = [
        r
        for r in recording.resources
        if r.type == "command:remote:Command" and r.name.startswith("node-1-")
    ]
    assert "node-1-kubelet-binary" in {c.name for c in commands}
    for command in commands:
        assert (command.retain_on_delete, command.ignore_changes) == FROZEN, command.name
        assert not {"create", "update", "delete"} & set(command.inputs), command.name
    live = recording.named("node-0-kubelet-binary")
    assert {"create", "update", "delete"} <= set(live.inputs)
