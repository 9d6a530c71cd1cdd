"""The lab's timeline of a `pulumi up`: spans from engine events, one row a step."""

from __future__ import annotations

from lab.timeline import Span, most_at_once, spans, step_of, summary

URN = (
    "urn:pulumi:s::kubelet-bootstrap::kubelet-bootstrap:index:KubeletNode$command:remote:Command::"
)


def pre(name: str, op: str = "create") -> dict:
    metadata = {"urn": URN + name, "op": op, "type": "command:remote:Command"}
    return {"resourcePreEvent": {"metadata": metadata}}


def done(name: str, kind: str = "resOutputsEvent") -> dict:
    return {kind: {"metadata": {"urn": URN + name}}}


def test_a_span_runs_from_its_pre_event_to_its_outputs_or_failure() -> None:
    events = [
        (100.0, {"preludeEvent": {}}),
        (100.5, pre("n1-start-kubelet")),
        (101.0, pre("n2-start-kubelet")),
        (112.5, done("n1-start-kubelet")),
        (140.0, done("n2-start-kubelet", "resOpFailedEvent")),
    ]

    found = spans(events)

    assert found == [
        Span("n1-start-kubelet", "command:remote:Command", "create", 0.5, 12.5),
        Span("n2-start-kubelet", "command:remote:Command", "create", 1.0, 40.0),
    ]


def test_a_step_is_the_name_without_its_nodes_the_longest_node_name_first() -> None:
    nodes = ["node-1", "node-10"]
    assert step_of("node-10-restart-kubelet", nodes) == "restart-kubelet"
    assert step_of("node-1-ca", nodes) == "ca"
    assert step_of("serving-csr-approval", nodes) == "serving-csr-approval"


def test_most_at_once_counts_overlaps_only() -> None:
    found = [
        Span("a", "t", "create", 0, 10),
        Span("b", "t", "create", 5, 15),
        Span("c", "t", "create", 10, 20),
        Span("d", "t", "create", 12, 13),
    ]
    assert most_at_once(found) == 3


def test_the_summary_has_a_row_a_step_and_leaves_out_unchanged_ones() -> None:
    found = [
        Span("n1-start-kubelet", "t", "create", 2, 14),
        Span("n2-start-kubelet", "t", "create", 3, 20),
        Span("n1-ca", "t", "create", 0, 1),
        Span("n2-ca", "t", "same", 0, 0),
    ]

    rows = summary(found, ["n1", "n2"])

    assert rows[0].split() == [
        "step",
        "count",
        "median",
        "s",
        "max",
        "s",
        "first",
        "last",
        "at",
        "once",
    ]
    assert rows[1].split() == ["start-kubelet", "2", "14.5", "17.0", "2.0", "20.0", "2"]
    assert rows[2].split() == ["ca", "1", "1.0", "1.0", "0.0", "1.0", "1"]
    assert rows[3].split() == ["all", "steps", "3", "2"]
