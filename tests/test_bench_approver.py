"""Tests of bench.approver: its pure helpers, and a tiny run of each scenario (counts only)."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

from bench.approver import Row, bulk, node_entry, parse_args, percentile, table, watched


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        pytest.param([7.0], 0.5, 7.0, id="one-value"),
        pytest.param([3.0, 1.0, 2.0], 0.5, 2.0, id="odd-median-unsorted"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 0.5, 2.0, id="even-lower-median"),
        pytest.param([float(v) for v in range(1, 101)], 0.95, 95.0, id="p95-of-100"),
        pytest.param([float(v) for v in range(1, 51)], 0.95, 48.0, id="p95-of-50"),
        pytest.param([float(v) for v in range(1, 21)], 0.95, 19.0, id="p95-of-20"),
        pytest.param([5.0, 1.0], 1.0, 5.0, id="p100-is-the-max"),
        pytest.param([5.0, 1.0], 0.01, 1.0, id="tiny-fraction-is-the-min"),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], fraction: float, expected: float):
    assert percentile(values, fraction) == expected


@pytest.mark.parametrize(("values", "fraction"), [([], 0.5), ([1.0], 0.0), ([1.0], 1.5)])
def test_percentile_refuses_no_values_and_bad_fractions(values: list[float], fraction: float):
    with pytest.raises(ValueError):
        percentile(values, fraction)


def test_node_entries_have_distinct_names_and_valid_addresses():
    entries = [node_entry(i) for i in range(70_000)]
    assert len({e["name"] for e in entries}) == len(entries)
    assert len({e["ips"][0] for e in entries}) == len(entries)
    for entry in (entries[0], entries[249], entries[250], entries[62_499], entries[62_500]):
        ipaddress.ip_address(entry["ips"][0])


def test_table_aligns_columns_and_shows_dashes_without_latencies():
    rows = [
        Row("1,000 pending, one run", 1000, 2.0, Counter(list=1, approval=1000)),
        Row("2 created while watching", 2, 0.5, Counter(list=1, watch=1, approval=2), [0.1, 0.3]),
    ]

    lines = table(rows).splitlines()

    assert lines[0].split() == [
        "scenario", "CSRs", "wall", "s", "list", "watch", "get", "approval", "requests",
        "ms/CSR", "median", "ms", "p95", "ms",
    ]  # fmt: skip
    assert len({len(line) for line in lines}) == 1
    assert lines[2].split()[-8:] == ["1", "0", "0", "1,000", "1,001", "2.0", "-", "-"]
    assert lines[3].split()[-4:] == ["4", "250.0", "200.0", "300.0"]


def test_arguments_default_to_the_issue_sizes_and_refuse_zero():
    args = parse_args([])
    assert (args.csrs, args.watched) == (1000, 50)
    with pytest.raises(SystemExit):
        parse_args(["--csrs", "0"])


def test_bulk_scenario_counts_one_list_one_approval_per_csr_and_a_watch_for_issuance():
    row = bulk(5)
    assert row.counts == Counter(list=1, approval=5, watch=1)
    assert row.requests == 7 and row.latencies == []


def test_watched_scenario_times_every_csr_from_one_list_and_one_watch():
    row = watched(3)
    assert row.counts == Counter(list=1, watch=1, approval=3)
    assert len(row.latencies) == 3 and all(latency > 0 for latency in row.latencies)
