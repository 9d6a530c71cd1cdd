"""Rolling restarts: the batches `rollout.batchSize` makes, and the graph edges they become.

The edges are the whole mechanism (Pulumi runs a restart only once every restart it depends on
succeeded), so these tests read them from the program's registrations under the mocks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.graph import dependency_graph, longest_chain
from components.node.rollout import batches, describe, nodes_per_batch, waits_for
from offline.engine import Recording

COMMAND = "command:remote:Command"


def node_names(count: int) -> list[str]:
    return [f"node-{i}" for i in range(count)]


def restart_deps(recording: Recording, node: str) -> set[str]:
    """The nodes whose restarts the restart of `node` waits for."""
    by_urn = recording.by_urn()
    named = (by_urn[urn].name for urn in recording.named(f"{node}-restart-kubelet").dependencies)
    return {
        name.removesuffix("-restart-kubelet") for name in named if name.endswith("-restart-kubelet")
    }


# --- batches ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch_size", "count", "per_batch"),
    [(2, 5, 2), ("40%", 5, 2), ("10%", 5, 1), ("100%", 5, 5), ("1%", 300, 3), (9, 5, 9)],
)
def test_a_share_is_rounded_down_to_one_node_at_least(
    batch_size: int | str, count: int, per_batch: int
) -> None:
    assert nodes_per_batch(batch_size, count) == per_batch


@given(
    names=st.lists(st.text("abc", min_size=1, max_size=4), unique=True, max_size=30),
    batch_size=st.one_of(st.none(), st.integers(1, 40), st.integers(1, 100).map(lambda p: f"{p}%")),
)
def test_batches_keep_the_stacks_order_and_each_waits_for_the_one_before(
    names: list[str], batch_size: int | str | None
) -> None:
    groups = batches(names, batch_size)
    assert [name for group in groups for name in group] == names
    if names:
        size = len(names) if batch_size is None else nodes_per_batch(batch_size, len(names))
        assert all(len(group) == size for group in groups[:-1])
        assert 1 <= len(groups[-1]) <= size
    waiting = waits_for(groups)
    assert set(waiting) == set(names)
    for before, group in zip([[], *groups], groups, strict=False):
        assert all(waiting[name] == before for name in group)


def test_the_preview_message_names_every_batch_in_order() -> None:
    message = describe([["a", "b"], ["c"]], "50%")
    assert message.startswith(
        "rollout.batchSize 50%: kubelets that must restart do so in 2 batches"
    )
    assert message.endswith("(1: a, b; 2: c)")


# --- the graph --------------------------------------------------------------------------------


def test_without_a_batch_size_no_restart_waits_for_another_node(
    config: Callable, run: Callable
) -> None:
    recording = run(config(nodes=4))
    assert all(restart_deps(recording, node) == set() for node in node_names(4))
    assert recording.stack_outputs["rolloutBatches"] == [node_names(4)]


@pytest.mark.parametrize("batch_size", [2, "40%"])
def test_each_batchs_restarts_wait_for_the_batch_before(
    batch_size: int | str, config: Callable, run: Callable
) -> None:
    recording = run(config(nodes=5, rollout={"batchSize": batch_size}))
    expected = {
        "node-0": set(),
        "node-1": set(),
        "node-2": {"node-0", "node-1"},
        "node-3": {"node-0", "node-1"},
        "node-4": {"node-2", "node-3"},
    }
    assert {node: restart_deps(recording, node) for node in node_names(5)} == expected
    assert recording.stack_outputs["rolloutBatches"] == [
        ["node-0", "node-1"],
        ["node-2", "node-3"],
        ["node-4"],
    ]


def test_only_restarts_wait_so_writes_and_first_starts_stay_parallel(
    config: Callable, run: Callable
) -> None:
    """A restart created acts only on staged files, of which a new node has none (see
    test_kubelet_start.py), so the chain of restarts costs a new node nothing; every other
    command of a node depends on no other node's."""
    recording = run(config(nodes=4, rollout={"batchSize": 1}))
    by_urn = recording.by_urn()
    for command in recording.of_type(COMMAND):
        node = "-".join(command.name.split("-")[:2])
        others = {
            by_urn[urn].name
            for urn in command.dependencies
            if any(by_urn[urn].name.startswith(f"{other}-") for other in node_names(4))
            and not by_urn[urn].name.startswith(f"{node}-")
        }
        if command.name.endswith("-restart-kubelet"):
            assert all(name.endswith("-restart-kubelet") for name in others), command.name
            assert "nothing is staged" in command.inputs["create"]
            assert "delete" not in command.inputs
        else:
            assert not others, command.name
    assert restart_deps(recording, "node-3") == {"node-2"}


def test_the_longest_chain_grows_with_batches_not_with_nodes(
    config: Callable, run: Callable
) -> None:
    def chain(nodes: int, batch_size: int | str | None) -> int:
        rollout = {} if batch_size is None else {"rollout": {"batchSize": batch_size}}
        return longest_chain(dependency_graph(run(config(nodes=nodes, **rollout))))

    unbatched = {chain(nodes, None) for nodes in (2, 6, 12)}
    assert len(unbatched) == 1
    # Three batches of any size: the same chain; one more batch: one more edge.
    assert chain(6, 2) == chain(12, 4) == chain(3, 1)
    assert chain(8, 2) == chain(6, 2) + 1
    assert chain(6, 2) == unbatched.pop() + 2


def test_preview_says_how_the_rollout_goes(
    config: Callable, run: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        run(config(nodes=3, rollout={"batchSize": "50%"}))
    assert any(
        "rollout.batchSize 50%" in record.getMessage()
        and "(1: node-0; 2: node-1; 3: node-2)" in record.getMessage()
        for record in caplog.records
    )
