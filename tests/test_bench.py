"""Tests of the pure parts of bench.graph: the longest chain, and the baseline's faithfulness."""

import re
from collections.abc import Callable
from typing import Any

import pytest

from bench.graph import (
    Row,
    ShapeMismatchError,
    baseline_config,
    chain_is_constant,
    chain_problems,
    check_same_shape,
    dependency_graph,
    longest_chain,
    longest_path,
    run_baseline,
    shape,
    table,
)
from offline.engine import Recording


def test_empty_graph_has_no_chain() -> None:
    assert longest_path({}) == []
    assert longest_chain({}) == 0


def test_single_node_is_a_chain_of_no_edges() -> None:
    assert longest_path({"a": []}) == ["a"]
    assert longest_chain({"a": []}) == 0


def test_chain_is_counted_in_edges_and_returned_first_dependency_first() -> None:
    graph = {"d": ["c"], "c": ["b"], "b": ["a"], "a": []}
    assert longest_path(graph) == ["a", "b", "c", "d"]
    assert longest_chain(graph) == 3


def test_nodes_seen_only_as_dependencies_count() -> None:
    assert longest_path({"c": ["b"], "b": ["a"]}) == ["a", "b", "c"]


def test_diamond_is_two_edges_deep() -> None:
    graph = {"top": [], "left": ["top"], "right": ["top"], "bottom": ["left", "right"]}
    assert longest_chain(graph) == 2
    path = longest_path(graph)
    assert path[0] == "top" and path[-1] == "bottom" and path[1] in {"left", "right"}


def test_diamond_with_a_longer_side_follows_it() -> None:
    graph = {
        "top": [],
        "left": ["top"],
        "mid": ["top"],
        "right": ["mid"],
        "bottom": ["left", "right"],
    }
    assert longest_path(graph) == ["top", "mid", "right", "bottom"]


def test_disjoint_chains_give_the_longest_one() -> None:
    graph = {"a2": ["a1"], "a1": [], "b3": ["b2"], "b2": ["b1"], "b1": [], "c1": []}
    assert longest_path(graph) == ["b1", "b2", "b3"]
    assert longest_chain(graph) == 2


def test_wide_fan_in_is_one_edge_whatever_its_width() -> None:
    for width in (1, 10, 1000):
        graph: dict[str, list[str]] = {f"leaf-{i}": [] for i in range(width)}
        graph["sink"] = [f"leaf-{i}" for i in range(width)]
        assert longest_chain(graph) == 1


def test_duplicate_dependencies_count_once() -> None:
    assert longest_chain({"b": ["a", "a"], "a": []}) == 1


def test_long_chain_does_not_recurse() -> None:
    n = 20_000
    graph = {f"n{i}": [f"n{i - 1}"] if i else [] for i in range(n)}
    assert longest_chain(graph) == n - 1


@pytest.mark.parametrize(
    "graph",
    [
        {"a": ["a"]},
        {"a": ["b"], "b": ["a"]},
        {"root": [], "a": ["root", "c"], "b": ["a"], "c": ["b"]},
    ],
)
def test_cycle_is_refused(graph: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError, match="cycle"):
        longest_path(graph)


def test_tie_break_is_deterministic() -> None:
    graph = {"x2": ["x1"], "x1": [], "y2": ["y1"], "y1": []}
    assert longest_path(graph) == longest_path(dict(reversed(list(graph.items()))))


def test_table_is_aligned() -> None:
    rows = [Row(10, 127, 0.2, 0.1, ["a", "b", "c"]), Row(1000, 12007, 40.0, 30.0, ["a", "b", "c"])]
    lines = table(rows).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert re.split(r"\s{2,}", lines[0].strip()) == [
        "nodes",
        "batchSize",
        "batches",
        "resources",
        "program s",
        "baseline s",
        "ratio",
        "longest chain",
    ]
    assert lines[2].split() == ["10", "-", "1", "127", "0.200", "0.100", "2.00x", "2"]
    assert lines[3].split() == ["1,000", "-", "1", "12,007", "40.000", "30.000", "1.33x", "2"]


def test_chain_must_not_change_between_sizes() -> None:
    def row(nodes: int, chain: list[str]) -> Row:
        return Row(nodes, nodes * 12 + 7, 1.0, 1.0, chain)

    same = [row(10, ["a", "b", "c"]), row(100, ["x", "y", "z"])]
    assert chain_is_constant(same)
    assert chain_is_constant(same[:1])
    assert not chain_is_constant([*same, row(1000, ["a", "b", "c", "d"])])
    assert chain_problems(same) == []
    assert chain_problems([*same, row(1000, ["a", "b", "c", "d"])]) == [
        "without rollout.batchSize the longest chain changes with nodes: {10: 2, 100: 2, 1000: 3}"
    ]


def test_a_batched_chain_must_be_one_edge_longer_a_batch_and_no_more() -> None:
    def row(nodes: int, edges: int, batch_size: str | None) -> Row:
        return Row(nodes, 0, 1.0, 1.0, [str(i) for i in range(edges + 1)], batch_size=batch_size)

    good = [row(100, 8, None), row(100, 11, "25%"), row(100, 17, "10")]
    assert [r.batches for r in good] == [1, 4, 10]
    assert chain_problems(good) == []
    assert chain_problems([good[0], row(100, 20, "25%")]) == [
        "rollout.batchSize 25% at 100 nodes (4 batches): longest chain 20, not 11"
    ]


def _structure(recording: Recording) -> set[tuple[str, str, str, frozenset[str]]]:
    """Each resource as (type, name, parent, dependencies), URNs shortened to `type::name`."""

    def short(urn: str) -> str:
        return "::".join(urn.split("::")[-2:])

    return {
        (r.type, r.name, short(r.parent), frozenset(map(short, r.dependencies)))
        for r in recording.resources
    }


def test_baseline_registers_what_the_program_registers_for_two_nodes(
    config: Callable[..., dict[str, Any]], run: Callable[[dict[str, Any]], Recording]
) -> None:
    program = run(config(nodes=2))  # the `run` fixture's stack is "test"
    baseline = run_baseline(2, stack="test")
    assert len(baseline.resources) == len(program.resources)
    assert shape(baseline) == shape(program)
    check_same_shape(program, baseline, 2)
    assert longest_chain(dependency_graph(baseline)) == longest_chain(dependency_graph(program))
    assert _structure(baseline) == _structure(program)


def test_baseline_reads_its_node_count_from_config() -> None:
    assert baseline_config(3) == {"bench:nodes": 3}
    assert len(run_baseline(3).resources) - len(run_baseline(1).resources) == 2 * 15


def test_shape_mismatch_is_loud(
    config: Callable[..., dict[str, Any]], run: Callable[[dict[str, Any]], Recording]
) -> None:
    with pytest.raises(ShapeMismatchError, match=r"resources: program 40, baseline 25"):
        check_same_shape(run(config(nodes=2)), run_baseline(1), 2)
