"""The lab network: one host bridge with the host's lab address, and per node a network namespace
joined to it by a veth, with an address derived from the node's number.

It is the bottom layer of the lab nodes, so it also holds the command runners (`run`, `ip`)
that lab/node_teardown.py and lab/nodes.py share.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.paths import HOST_ADDRESS
from lab.processes import LabError

# Private addresses on a bridge that only this machine has.
BRIDGE = "kblab0"
PREFIX_LENGTH = 24
NETNS_PREFIX = "kblab-node"
VETH_PREFIX = "kblab-v"
MAX_NODES = 200  # addresses 10.77.0.11 to 10.77.0.210


@dataclass(frozen=True)
class Node:
    """One lab node, numbered from 1; every name and address derives from the number."""

    index: int

    @property
    def name(self) -> str:
        return f"{NETNS_PREFIX}{self.index}"

    @property
    def netns(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        return f"10.77.0.{10 + self.index}"

    @property
    def veth(self) -> str:
        return f"{VETH_PREFIX}{self.index}"


# --- running host commands ------------------------------------------------------------------------


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a host command, capturing output; a failure raises with its stderr, so a broken
    step names itself instead of leaving a half-built lab."""
    result = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, check=False, env=env
    )
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise LabError(f"`{shlex.join(argv)}` failed with {result.returncode}: {detail}")
    return result


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Runs `ip`, inside a node's network namespace when one is given, and returns its output."""
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return run([*prefix, *args], check=check).stdout


# --- the bridge and the nodes' namespaces ---------------------------------------------------------


def check_subnet_free() -> None:
    """Refuses to build the bridge when 10.77.0.0/24 is already in use on this machine."""
    taken = [line for line in ip("-o", "-4", "addr", "show").splitlines() if " 10.77.0." in line]
    routes = ip("-4", "route", "show", "to", "match", HOST_ADDRESS).splitlines()
    taken += [line for line in routes if not line.startswith("default")]
    if taken:
        raise LabError(f"the lab subnet 10.77.0.0/24 is already in use: {taken}")


def disable_host_ipv6(ifname: str) -> None:
    """Keeps a lab interface off IPv6 so it sends nothing (no router solicitations, no DAD)."""
    knob = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
    if knob.exists():
        knob.write_text("1")


def create_bridge() -> None:
    """Creates the host side of the lab: a bridge holding the host's lab address, which does
    not forward what the nodes send elsewhere (until someone sets the global ip_forward)."""
    check_subnet_free()
    ip("link", "add", BRIDGE, "type", "bridge")
    disable_host_ipv6(BRIDGE)
    Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/forwarding").write_text("0")
    ip("addr", "add", f"{HOST_ADDRESS}/{PREFIX_LENGTH}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")


def create_node_network(node: Node) -> None:
    """Gives a node its network namespace, a veth into the bridge, its address and a default
    route via the host (which does not forward: a node reaches only the lab subnet)."""
    ip("netns", "add", node.netns)
    if Path("/proc/sys/net/ipv6").exists():
        run(
            [
                "ip",
                "netns",
                "exec",
                node.netns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]
        )
    # As a worker's system set-up does (preflight checks it); it forwards only in the node.
    run(["ip", "netns", "exec", node.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
    ip("link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
    disable_host_ipv6(node.veth)
    ip("link", "set", node.veth, "master", BRIDGE, "up")
    ip("addr", "add", f"{node.address}/{PREFIX_LENGTH}", "dev", "eth0", netns=node.netns)
    ip("link", "set", "lo", "up", netns=node.netns)
    ip("link", "set", "eth0", "up", netns=node.netns)
    ip("route", "add", "default", "via", HOST_ADDRESS, netns=node.netns)


def lab_netns() -> list[str]:
    """The lab's network namespaces that exist now, whoever created them."""
    names = (line.split()[0] for line in ip("netns", "list").splitlines() if line.strip())
    return [name for name in names if name.startswith(NETNS_PREFIX)]


def lab_links() -> list[str]:
    """The lab's host interfaces that exist now: veths first, the bridge last."""
    names = [line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link").splitlines()]
    veths = [name for name in names if name.startswith(VETH_PREFIX)]
    return veths + [name for name in names if name == BRIDGE]
