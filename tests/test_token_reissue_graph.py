"""The graph a token reissue changes, under mocks: the re-issued node's token, bootstrap
kubeconfig write and start, and nothing of any other node; and no token secret in plaintext.

The mocks play the provider: a re-issued node's `TokenIssue` answers with another id and
secret, as its `create` does after `pulumi refresh` found the node needing one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from offline.engine import OfflineMocks, Recording

REISSUED = "node-1"
NODES = ("node-0", "node-1", "node-2")


@pytest.fixture
def reissued(
    config: Callable, run: Callable, monkeypatch: pytest.MonkeyPatch
) -> tuple[Recording, Recording]:
    """The same settings before and after node-1's token was issued anew."""
    settings = config(nodes=3)
    before = run(settings)
    draw = OfflineMocks._fake

    def another_token_for_node_1(self: OfflineMocks, name: str, length: int) -> str:
        return draw(self, f"{name}#2" if name.startswith(f"{REISSUED}-") else name, length)

    monkeypatch.setattr(OfflineMocks, "_fake", another_token_for_node_1)
    return before, run(settings)


def registrations(recording: Recording) -> dict[str, Any]:
    return {r.name: r for r in recording.resources}


def test_a_reissue_changes_that_nodes_token_kubeconfig_and_start_only(
    reissued: tuple[Recording, Recording],
) -> None:
    before, after = (registrations(recording) for recording in reissued)
    assert before.keys() == after.keys()
    changed = {
        name
        for name in before
        if (before[name].inputs, before[name].outputs, sorted(before[name].dependencies))
        != (after[name].inputs, after[name].outputs, sorted(after[name].dependencies))
    }
    assert changed == {
        f"{REISSUED}-bootstrap-token",
        f"{REISSUED}-bootstrap-kubeconfig",
        f"{REISSUED}-start-kubelet",
        # Refresh compares the new kubelet's bootstrap kubeconfig with the new sha256; it
        # connects to nothing when updated.
        f"{REISSUED}-drift",
    }
    token = f"{REISSUED}-bootstrap-token"
    # Its inputs are the same: only what create drew differs, and the replacement is the
    # provider's decision (its `reissue` output), not the program's.
    assert before[token].inputs == after[token].inputs
    assert before[token].outputs["token_id"] != after[token].outputs["token_id"]
    assert before[token].outputs["token_secret"] != after[token].outputs["token_secret"]
    write = f"{REISSUED}-bootstrap-kubeconfig"
    assert after[token].outputs["token_secret"] in after[write].inputs["stdin"]
    assert {k: v for k, v in before[write].inputs.items() if k != "stdin"} == {
        k: v for k, v in after[write].inputs.items() if k != "stdin"
    }
    start = f"{REISSUED}-start-kubelet"
    new_id = after[token].outputs["token_id"]
    for field in ("create", "update"):
        assert f"bootstrap_token='{new_id}'" in after[start].inputs[field]
        old_line = f"bootstrap_token='{before[token].outputs['token_id']}'"
        assert (
            after[start].inputs[field].replace(f"bootstrap_token='{new_id}'", old_line)
            == (before[start].inputs[field])
        )
    assert before[start].inputs["delete"] == after[start].inputs["delete"]


def test_a_reissue_changes_only_that_nodes_token_id_in_the_outputs(
    reissued: tuple[Recording, Recording],
) -> None:
    before, after = (recording.stack_outputs for recording in reissued)
    for name in NODES:
        same = before["nodes"][name]["tokenId"] == after["nodes"][name]["tokenId"]
        assert same is (name != REISSUED), name
        assert before["nodes"][name]["filesSha256"] == after["nodes"][name]["filesSha256"]


def test_no_token_secret_in_plaintext_in_any_input_or_output(
    reissued: tuple[Recording, Recording],
) -> None:
    """A token secret is only ever an encrypted output of its TokenIssue, or inside a value
    marked secret (the bootstrap kubeconfig, its sha256 output)."""
    for recording in reissued:
        assert len(recording.secret_values) == 3
        for registration in recording.resources:
            if registration.type.endswith(":TokenIssue"):
                assert registration.additional_secret_outputs == ["token_secret"]
                continue
            plain = {
                key: value
                for key, value in registration.inputs.items()
                if not any(path.split(".")[0] == key for path in registration.secret_paths)
            }
            dumped = json.dumps(plain)
            assert not any(secret in dumped for secret in recording.secret_values), (
                registration.name
            )
        public = {
            key: value
            for key, value in recording.stack_outputs.items()
            if key not in recording.stack_output_secrets
        }
        assert not any(secret in json.dumps(public) for secret in recording.secret_values)


# --- bootstrapToken.removeKubeconfig ------------------------------------------------------------


@pytest.mark.parametrize("remove", [True, False])
def test_the_start_removes_the_bootstrap_kubeconfig_only_when_the_stack_says_so(
    config: Callable, run: Callable, remove: bool
) -> None:
    recording = run(config(nodes=2, bootstrapToken={"removeKubeconfig": remove}))
    for name in ("node-0", "node-1"):
        start = recording.named(f"{name}-start-kubelet").inputs
        for field in ("create", "update"):
            removes = "rm -f '/etc/kubernetes/kubelet-bootstrap.kubeconfig'" in start[field]
            assert removes is remove, (name, field)


def test_a_misspelt_remove_setting_is_refused_with_a_suggestion(
    config: Callable, run: Callable
) -> None:
    with pytest.raises(Exception, match="did you mean 'removeKubeconfig'") as failure:
        run(config(nodes=1, bootstrapToken={"removeKubeConfig": True}))
    assert "bootstrapToken.removeKubeConfig: unknown key" in str(failure.value)
