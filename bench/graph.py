"""`make bench`: program evaluation time under mocks, and the depth of the graph, by cluster size.

For each size (10, 100 and 1,000 nodes by default) this runs, in the same process and through
the same offline engine (`offline.engine.run_program`):

- the real program, `__main__.py`, on a valid stack of that many nodes;
- the baseline, `bench/baseline_program.py`: the same resources (types, parents, dependency
  edges) with constant inputs and no settings or rendering work.

It prints one table: the best wall-clock time of each, their ratio, and the longest dependency
chain of the program's graph, without `rollout.batchSize` and with each of `--batch-sizes`.
Times are printed, never asserted. Two properties are checked. Without a batch size the
longest chain is the same at every size: a node's kubelet must not wait on another node's
resources, so adding nodes widens the graph without deepening it. With one, it is that chain
plus one edge a batch after the first: it grows with the batches, not with the nodes. The exit
status is 1 when either fails, 2 when the baseline no longer mirrors the program.

    PYTHONPATH=. .venv/bin/python -m bench.graph [--sizes 10 100 1000] [--batch-sizes 25% 10]
        [--repeat N] [--memory]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import textwrap
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.node.rollout import batches
from offline.engine import Recording, close_event_loops, run_program
from tests.factories import FIXED_CLOCK, make_certificate, make_ssh_key, stack_config

BASELINE_PROGRAM = Path(__file__).resolve().with_name("baseline_program.py")
DEFAULT_SIZES = (10, 100, 1000)
DEFAULT_BATCH_SIZES = ("25%", "10")
"""A share (the same number of batches at every size) and a count (more batches with size)."""
LARGE_SIZE = 1000
"""From this many nodes on, one timed run by default instead of three."""
STACK = "bench"


class ShapeMismatchError(Exception):
    """The baseline no longer registers the same resources as the program."""


# --- The graph -------------------------------------------------------------------------------


def dependency_graph(recording: Recording) -> dict[str, list[str]]:
    """Each resource's URN -> the URNs of its explicit `dependencies` (parents not counted)."""
    return {r.urn: list(r.dependencies) for r in recording.resources}


def longest_path(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """The longest dependency chain of `graph`, first dependency first.

    `graph` maps a node to the nodes it depends on; a node that only appears as a dependency
    counts as a node without dependencies. Ties are broken by node name, so the answer is
    deterministic. Raises ValueError if the graph has a cycle.
    """
    depends_on: dict[str, set[str]] = {node: set(deps) for node, deps in graph.items()}
    for deps in list(depends_on.values()):
        for dep in deps:
            depends_on.setdefault(dep, set())
    if not depends_on:
        return []

    dependents: dict[str, list[str]] = {node: [] for node in depends_on}
    for node, deps in depends_on.items():
        for dep in deps:
            dependents[dep].append(node)

    # Kahn's algorithm: visit a node once all its dependencies have been visited.
    waiting = {node: len(deps) for node, deps in depends_on.items()}
    ready = sorted((node for node, count in waiting.items() if count == 0), reverse=True)
    depth: dict[str, int] = {}
    previous: dict[str, str | None] = {}
    while ready:
        node = ready.pop()
        deps = depends_on[node]
        if deps:
            before = max(deps, key=lambda dep: (depth[dep], dep))
            depth[node], previous[node] = depth[before] + 1, before
        else:
            depth[node], previous[node] = 0, None
        for dependent in dependents[node]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    if len(depth) != len(depends_on):
        stuck = sorted(node for node in depends_on if node not in depth)
        raise ValueError(f"dependency cycle among {len(stuck)} nodes, e.g. {stuck[:3]}")

    end: str | None = max(depth, key=lambda node: (depth[node], node))
    path: list[str] = []
    while end is not None:
        path.append(end)
        end = previous[end]
    return path[::-1]


def longest_chain(graph: Mapping[str, Iterable[str]]) -> int:
    """The length, in dependency edges, of the longest chain of `graph` (0 with no edges)."""
    return edge_count(longest_path(graph))


def edge_count(path: Sequence[str]) -> int:
    """Dependency edges along a path of resources."""
    return max(len(path) - 1, 0)


def shape(recording: Recording) -> tuple[int, Counter[str], int]:
    """What the baseline must share with the program: resources, their types, dependency edges."""
    return (
        len(recording.resources),
        Counter(r.type for r in recording.resources),
        sum(len(r.dependencies) for r in recording.resources),
    )


def check_same_shape(program: Recording, baseline: Recording, nodes: int) -> None:
    """Raise ShapeMismatchError, saying what differs, unless both registered the same shape."""
    (p_count, p_types, p_edges), (b_count, b_types, b_edges) = shape(program), shape(baseline)
    problems = []
    if p_count != b_count:
        problems.append(f"resources: program {p_count}, baseline {b_count}")
    for type_ in sorted(set(p_types) | set(b_types)):
        if p_types[type_] != b_types[type_]:
            problems.append(f"{type_}: program {p_types[type_]}, baseline {b_types[type_]}")
    if p_edges != b_edges:
        problems.append(f"dependency edges: program {p_edges}, baseline {b_edges}")
    if problems:
        raise ShapeMismatchError(
            f"at {nodes} nodes the baseline ({BASELINE_PROGRAM.name}) does not mirror the "
            "program any more; update it:\n" + "\n".join(f"  - {p}" for p in problems)
        )


# --- Running ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """What a stack configuration needs that is made on the spot: a CA file and an SSH key."""

    ca_file: Path
    ssh_key: str

    def program_config(self, nodes: int, batch_size: str | None = None) -> dict[str, Any]:
        rollout = {"batchSize": batch_size} if batch_size else None
        return stack_config(self.ca_file, self.ssh_key, nodes=nodes, rollout=rollout)


def baseline_config(nodes: int, batch_size: str | None = None) -> dict[str, Any]:
    return {"bench:nodes": nodes} | ({"bench:batchSize": batch_size} if batch_size else {})


def run_real(inputs: Inputs, nodes: int, batch_size: str | None = None) -> Recording:
    return run_program(inputs.program_config(nodes, batch_size), STACK, clock=FIXED_CLOCK)


def run_baseline(nodes: int, stack: str = STACK, batch_size: str | None = None) -> Recording:
    return run_program(
        baseline_config(nodes, batch_size), stack, clock=FIXED_CLOCK, program=BASELINE_PROGRAM
    )


def batch_count(nodes: int, batch_size: str | None) -> int:
    """How many restart batches the program makes of `nodes` nodes."""
    size = int(batch_size) if batch_size and batch_size.isdigit() else batch_size
    return len(batches([str(n) for n in range(nodes)], size))


def timed(run: Callable[[], Recording]) -> tuple[float, Recording]:
    """Wall-clock seconds of one run, collecting first so earlier runs' garbage is not billed."""
    gc.collect()
    start = time.perf_counter()
    recording = run()
    return time.perf_counter() - start, recording


def peak_memory(run: Callable[[], Recording]) -> int:
    """Peak bytes traced by tracemalloc during one (separate, untimed) run."""
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@dataclass
class Row:
    nodes: int
    resources: int
    program_s: float
    baseline_s: float
    chain: list[str]
    program_peak: int | None = None
    baseline_peak: int | None = None
    batch_size: str | None = None
    """`rollout.batchSize`, or None for none."""

    @property
    def batches(self) -> int:
        return batch_count(self.nodes, self.batch_size)

    @property
    def ratio(self) -> float:
        return self.program_s / self.baseline_s

    @property
    def chain_edges(self) -> int:
        return edge_count(self.chain)


def measure(
    inputs: Inputs, nodes: int, repeat: int, memory: bool, batch_size: str | None = None
) -> Row:
    """Best of `repeat` alternated runs of the program and the baseline at `nodes` nodes."""
    program_times, baseline_times = [], []
    for _ in range(repeat):
        seconds, program = timed(lambda: run_real(inputs, nodes, batch_size))
        program_times.append(seconds)
        seconds, baseline = timed(lambda: run_baseline(nodes, batch_size=batch_size))
        baseline_times.append(seconds)
    check_same_shape(program, baseline, nodes)
    row = Row(
        nodes=nodes,
        resources=len(program.resources),
        program_s=min(program_times),
        baseline_s=min(baseline_times),
        chain=longest_path(dependency_graph(program)),
        batch_size=batch_size,
    )
    if memory:
        row.program_peak = peak_memory(lambda: run_real(inputs, nodes, batch_size))
        row.baseline_peak = peak_memory(lambda: run_baseline(nodes, batch_size=batch_size))
    return row


def chain_is_constant(rows: Sequence[Row]) -> bool:
    """Without a batch size, the same longest chain at every size."""
    return len({row.chain_edges for row in rows if row.batch_size is None}) <= 1


def chain_problems(rows: Sequence[Row]) -> list[str]:
    """What breaks the properties `make bench` checks, one line each (see the module's doc)."""
    problems = []
    if not chain_is_constant(rows):
        chains = {row.nodes: row.chain_edges for row in rows if row.batch_size is None}
        problems.append(f"without rollout.batchSize the longest chain changes with nodes: {chains}")
    unbatched = {row.nodes: row.chain_edges for row in rows if row.batch_size is None}
    for row in rows:
        if row.batch_size is None or row.nodes not in unbatched:
            continue
        expected = unbatched[row.nodes] + row.batches - 1
        if row.chain_edges != expected:
            problems.append(
                f"rollout.batchSize {row.batch_size} at {row.nodes:,} nodes ({row.batches} "
                f"batches): longest chain {row.chain_edges}, not {expected}"
            )
    return problems


def default_repeat(nodes: int) -> int:
    return 1 if nodes >= LARGE_SIZE else 3


# --- Output ----------------------------------------------------------------------------------


def table(rows: Sequence[Row]) -> str:
    memory = any(row.program_peak is not None for row in rows)
    header = ["nodes", "batchSize", "batches", "resources", "program s", "baseline s", "ratio"]
    header += ["longest chain"]
    if memory:
        header += ["program peak MiB", "baseline peak MiB"]
    lines = [header]
    for row in rows:
        cells = [
            f"{row.nodes:,}",
            row.batch_size or "-",
            f"{row.batches:,}",
            f"{row.resources:,}",
            f"{row.program_s:.3f}",
            f"{row.baseline_s:.3f}",
            f"{row.ratio:.2f}x",
            str(row.chain_edges),
        ]
        if memory:
            cells += [_mib(row.program_peak), _mib(row.baseline_peak)]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}"


def _short(urn: str) -> str:
    """`urn:pulumi:stack::project::a$b$type::name` -> `name (type)`."""
    parts = urn.split("::")
    return f"{parts[-1]} ({parts[-2].split('$')[-1]})"


def footnotes(rows: Sequence[Row], repeats: Mapping[int, int]) -> str:
    runs = ", ".join(f"{nodes:,}: {count}" for nodes, count in repeats.items())
    notes = [
        f"Best wall-clock time of alternated runs (runs per size: {runs}), one process, "
        "offline engine (Pulumi mocks). Times are printed, never asserted.",
        "ratio = program s / baseline s; the baseline registers the same resources "
        f"({BASELINE_PROGRAM.name}) with constant inputs: no settings, no rendering.",
        "longest chain = dependency edges on the longest path of explicit `dependencies` "
        "(parent -> child not counted); resources on it = edges + 1. batchSize = "
        "rollout.batchSize: each batch's restarts wait for the batch before (one edge more a "
        "batch); a restart runs nothing when created, so a first installation does not wait.",
    ]
    unbatched = [row for row in rows if row.batch_size is None]
    if unbatched:
        chain = " -> ".join(map(_short, unbatched[-1].chain))
        notes.append(f"e.g. at {unbatched[-1].nodes:,} nodes: {chain}")
    return "\n".join(textwrap.fill(note, width=100, subsequent_indent="  ") for note in notes)


# --- Main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.graph", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="NODES"
    )
    parser.add_argument(
        "--batch-sizes",
        nargs="*",
        default=list(DEFAULT_BATCH_SIZES),
        metavar="SIZE",
        help="rollout.batchSize values to run at each size besides none (a count or N%%)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help=f"timed runs per size, best kept (default: 3, or 1 from {LARGE_SIZE:,} nodes on)",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also report tracemalloc peaks, from separate untimed runs",
    )
    args = parser.parse_args(argv)
    if any(size < 1 for size in args.sizes) or (args.repeat is not None and args.repeat < 1):
        parser.error("sizes and --repeat must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    repeats = {nodes: args.repeat or default_repeat(nodes) for nodes in args.sizes}
    with tempfile.TemporaryDirectory(prefix="kubelet-bench-") as tmp:
        ca_file = Path(tmp) / "ca.pem"
        ca_file.write_text(make_certificate(ca=True))
        inputs = Inputs(ca_file, make_ssh_key())
        rows = []
        plan = [(nodes, batch) for nodes in args.sizes for batch in (None, *args.batch_sizes)]
        work = {step: step[0] * repeats[step[0]] for step in plan}
        sizes = ", ".join(f"{nodes:,}" for nodes in args.sizes)
        print(
            f"bench: {len(plan)} measurements at {sizes} nodes; the time left follows each "
            "(it grows with the nodes: the largest take most of it)",
            file=sys.stderr,
            flush=True,
        )
        started, done = time.monotonic(), 0
        try:
            # Untimed warm-up: imports, template compilation, and a first shape check.
            check_same_shape(run_real(inputs, 1), run_baseline(1), 1)
            for nodes, batch_size in plan:
                rows.append(measure(inputs, nodes, repeats[nodes], args.memory, batch_size))
                done += work[(nodes, batch_size)]
                elapsed = time.monotonic() - started
                left = elapsed / done * (sum(work.values()) - done)
                print(
                    f"  measured {nodes:,} nodes, rollout.batchSize {batch_size or 'unset'}: "
                    f"{elapsed:.0f} s so far, about {left:.0f} s left",
                    file=sys.stderr,
                    flush=True,
                )
        except ShapeMismatchError as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
    print(table(rows))
    print()
    print(footnotes(rows, repeats))
    problems = chain_problems(rows)
    for problem in problems:
        print(f"\nFAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    status = main()
    close_event_loops()
    sys.exit(status)
