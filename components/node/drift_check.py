"""What `pulumi refresh` finds on a node: the files the stack wrote there as they are now, and
whether the kubelet it started still runs, judged against what the stack wrote.

Pure functions: the script that reads the node (it changes nothing), the parse of what it
prints, and the judgement. `components.node.drift` runs them on refresh.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components.node.rendering import render

KUBELET = "kubelet"
"""The key of a finding about the kubelet's process rather than a file."""

_FILE = re.compile(r"file (missing|[0-9a-f]{64}) (/.*)")
_STARTED = re.compile(r"started (/\S*) sha256 ([0-9a-f]{64})")
_STATE = re.compile(r"kubelet (\S+)")


@dataclass(frozen=True)
class WrittenFile:
    """A file the stack wrote on the node: its command's key, its path and its sha256."""

    key: str
    path: str
    sha256: str
    secret: bool = False
    """Its sha256 is derived from a secret (the bootstrap kubeconfig): never printed."""


@dataclass(frozen=True)
class Observation:
    """What the node holds now."""

    files: Mapping[str, str | None]
    """sha256 of each file by path; None for one that is missing (or unreadable)."""
    started: Mapping[str, str] | None
    """The files, by path, the kubelet last started healthy with; None without that record
    (a kubelet the stack has not started, or whose restart did not pass its gate)."""
    kubelet_state: str
    """`systemctl is-active` of the kubelet's unit: active, inactive, failed, activating..."""


@dataclass(frozen=True)
class Finding:
    """One thing on the node that is not as the stack left it."""

    key: str
    """The command that puts it back: a file's key, or KUBELET."""
    what: str


def probe_script(node: str, paths: Sequence[str], started: str, unit: str) -> str:
    """The script, run as root, whose output `parse` reads."""
    return render("drift-probe.sh.j2", node=node, paths=paths, started=started, unit=unit)


def parse(output: str) -> Observation:
    """What `probe_script` printed; a ValueError for anything else (a login banner aside,
    whose lines match none of ours)."""
    files: dict[str, str | None] = {}
    started: dict[str, str] | None = None
    state = None
    for line in output.splitlines():
        if match := _FILE.fullmatch(line):
            digest, path = match.groups()
            files[path] = None if digest == "missing" else digest
        elif match := _STARTED.fullmatch(line):
            started = {} if started is None else started
            started[match.group(1)] = match.group(2)
        elif match := _STATE.fullmatch(line):
            state = match.group(1)
    if state is None:
        raise ValueError("the node's answer has no kubelet state: the check did not finish")
    return Observation(files, started, state)


def findings(written: Sequence[WrittenFile], observed: Observation, unit: str) -> list[Finding]:
    """Each file that is neither what the stack wrote nor what the kubelet last started healthy
    with (a new version waiting for its rollout batch is not drift), and a kubelet the stack
    started that is not running."""
    found = []
    for file in written:
        if file.path not in observed.files:
            raise ValueError(f"the node's answer says nothing of {file.path}")
        live = observed.files[file.path]
        started = (observed.started or {}).get(file.path)
        if live is None:
            found.append(Finding(file.key, f"{file.path} is missing"))
        elif live in (file.sha256, started):
            continue
        elif file.secret:
            found.append(Finding(file.key, f"{file.path} was changed on the node"))
        else:
            found.append(
                Finding(
                    file.key,
                    f"{file.path} was changed on the node (sha256 {live[:12]}..., "
                    f"the stack wrote {file.sha256[:12]}...)",
                )
            )
    if observed.started is not None and observed.kubelet_state != "active":
        found.append(
            Finding(KUBELET, f"the kubelet the stack started ({unit}) is {observed.kubelet_state}")
        )
    return found


def describe(node: str, found: Sequence[Finding]) -> str:
    """The refresh's word on the node: empty when nothing drifted."""
    if not found:
        return ""
    return f"{node}: " + "; ".join(f.what for f in found) + ": the next `pulumi up` puts it back"
