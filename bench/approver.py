"""The serving-CSR approver against the fake API server: requests and time, in bulk and live.

Two scenarios, each on a fresh `tests.fake_apiserver.FakeApiServer` (TLS, official client)
with `tests.fake_controllers.Signer` issuing what is approved, as kube-controller-manager does:

- bulk: N pending kubelet serving CSRs (N nodes, 1,000 by default) approved by one `run`, which
  ends once all are issued; the API requests it made, by kind, come from the fake's counters;
- watching: the approver runs and watches while M CSRs (50 by default) are created one by one;
  each one's latency is the time from just before its creation to the moment its Approved
  condition is committed on the server (seen through the fake's store events).

It prints one table. Times are printed, never asserted.

    PYTHONPATH=. .venv/bin/python -m bench.approver [--csrs 1000] [--watched 50]
"""

from __future__ import annotations

import argparse
import math
import socket
import statistics
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import yaml
from kubernetes import client, config

from components.approval.csr_approver import ServingCsrApprover, inventory_of
from tests.fake_apiserver import FakeApiServer
from tests.fake_controllers import Signer
from tests.kubelet_csrs import kubelet_serving_csr, make_key

DEFAULT_CSRS = 1000
DEFAULT_WATCHED = 50
KINDS = ("list", "watch", "get", "approval")
"""The request kinds shown as columns; any other kind still counts in `requests`."""


# --- pure helpers ----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with `fraction` of values at or below.

    `percentile(v, 0.5)` is the lower median, `percentile(v, 0.95)` the p95. Raises ValueError
    on no values or a fraction outside (0, 1].
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction {fraction} is not in (0, 1]")
    ordered = sorted(values)
    return ordered[math.ceil(fraction * len(ordered)) - 1]


def node_entry(index: int) -> dict[str, Any]:
    """The provider's `nodes` entry for node-<index>; up to 62,500 distinct addresses."""
    return {
        "name": f"node-{index}",
        "ips": [f"10.{index // 62500 + 1}.{index // 250 % 250}.{index % 250 + 1}"],
        "dns_names": [],
    }


@dataclass
class Row:
    scenario: str
    csrs: int
    seconds: float
    counts: Counter[str]
    latencies: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.counts.values())


def table(rows: Sequence[Row]) -> str:
    header = ["scenario", "CSRs", "wall s", *KINDS, "requests", "ms/CSR", "median ms", "p95 ms"]
    lines = [header]
    for row in rows:
        latency = (
            [_ms(statistics.median(row.latencies)), _ms(percentile(row.latencies, 0.95))]
            if row.latencies
            else ["-", "-"]
        )
        lines.append(
            [
                row.scenario,
                f"{row.csrs:,}",
                f"{row.seconds:.3f}",
                *(f"{row.counts[kind]:,}" for kind in KINDS),
                f"{row.requests:,}",
                _ms(row.seconds / row.csrs) if row.csrs else "-",
                *latency,
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# --- scenarios -------------------------------------------------------------------------------


def certificates_api(server: FakeApiServer) -> client.CertificatesV1Api:
    configuration = client.Configuration()
    config.load_kube_config_from_dict(
        yaml.safe_load(server.kubeconfig()), client_configuration=configuration
    )
    return client.CertificatesV1Api(client.ApiClient(configuration))


def approver_for(server: FakeApiServer, nodes: Sequence[dict[str, Any]]) -> ServingCsrApprover:
    """An approver of `nodes` whose kubelets answer nowhere: a node is done once its CSR is."""
    with socket.socket() as probe:  # a port of 127.0.0.1 that nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = ("127.0.0.1", probe.getsockname()[1])
    return ServingCsrApprover(
        certificates_api(server),
        inventory_of(nodes),
        server.ca.certificate,
        {n["name"]: nowhere for n in nodes},
        log=lambda _line: None,
    )


def _requests(nodes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    key = make_key("ecdsa-p256")  # one key for all: key generation is not what is measured
    return [kubelet_serving_csr(n["name"], ips=tuple(n["ips"]), key=key) for n in nodes]


def bulk(count: int) -> Row:
    """Approve `count` CSRs that are all pending when the approver starts."""
    nodes = [node_entry(i) for i in range(count)]
    requests = _requests(nodes)
    with FakeApiServer() as server, Signer(server):
        for request in requests:
            server.create(request)
        approver = approver_for(server, nodes)
        start = time.perf_counter()
        approvals = approver.run([n["name"] for n in nodes], 600)
        seconds = time.perf_counter() - start
        counts = server.counts()
    if len(approvals) != count:
        raise RuntimeError(f"bulk: {len(approvals)} of {count} approved")
    return Row(f"{count:,} pending, one run", count, seconds, counts)


def watched(count: int) -> Row:
    """Create `count` CSRs one by one while the approver watches; time each to Approved."""
    nodes = [node_entry(i) for i in range(count)]
    requests = _requests(nodes)
    with FakeApiServer() as server, Signer(server):
        approver = approver_for(server, nodes)
        with ThreadPoolExecutor(max_workers=1) as pool:
            start = time.perf_counter()
            future = pool.submit(approver.run, [n["name"] for n in nodes], 600)
            server.wait_for_watchers(2)  # the signer's and the approver's
            latencies = [_create_and_await_approval(server, request) for request in requests]
            approvals = future.result(timeout=60)
            seconds = time.perf_counter() - start
        counts = server.counts()
    if len(approvals) != count:
        raise RuntimeError(f"watched: {len(approvals)} of {count} approved")
    return Row(f"{count:,} created while watching", count, seconds, counts, latencies)


def _create_and_await_approval(server: FakeApiServer, request: dict[str, Any]) -> float:
    """Seconds from just before `request` is created to its Approved condition on the server."""
    events = server.store.subscribe(server.resource_version)  # store events: no HTTP, uncounted
    try:
        start = time.perf_counter()
        name = server.create(request)["metadata"]["name"]
        while True:
            event = events.events.get(timeout=30)
            obj = event["object"]
            types = {c.get("type") for c in obj.get("status", {}).get("conditions", [])}
            if obj["metadata"].get("name") == name and "Approved" in types:
                return time.perf_counter() - start
    finally:
        server.store.unsubscribe(events)


# --- main ------------------------------------------------------------------------------------


def footnotes() -> str:
    notes = [
        "Fake API server over TLS on 127.0.0.1, official kubernetes client, one process; "
        "times are printed, never asserted.",
        "list/watch/get/approval = API requests of that kind counted by the fake; requests = all "
        "kinds. A single list then one approval per CSR is the design: no per-CSR get; one "
        "watch sees the signer issue what was approved.",
        "median/p95 ms = creation of a CSR -> its Approved condition committed (p95 by nearest "
        "rank), CSRs created one at a time while the approver watches.",
    ]
    return "\n".join(textwrap.fill(note, width=100, subsequent_indent="  ") for note in notes)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.approver", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--csrs", type=int, default=DEFAULT_CSRS, help="pending CSRs (bulk)")
    parser.add_argument(
        "--watched", type=int, default=DEFAULT_WATCHED, help="CSRs created while watching"
    )
    args = parser.parse_args(argv)
    if args.csrs < 1 or args.watched < 1:
        parser.error("--csrs and --watched must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows = [bulk(args.csrs)]
    print(f"  measured {args.csrs:,} pending CSRs", file=sys.stderr, flush=True)
    rows.append(watched(args.watched))
    print(f"  measured {args.watched:,} CSRs while watching", file=sys.stderr, flush=True)
    print(table(rows))
    print()
    print(footnotes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
