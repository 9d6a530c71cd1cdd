"""What the dynamic providers are told of each node: plain data, the only identity they trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from components.settings.model import NodeSettings


def inventory_entry(node: NodeSettings) -> dict[str, Any]:
    """The names the node's serving certificate may carry: its name, address and extraSANs."""
    ips, dns_names = [node.address], [node.name]
    for san in node.extra_sans:
        (ips if _is_ip(san) else dns_names).append(san)
    return {"name": node.name, "ips": ips, "dns_names": dns_names}


def approval_entry(
    node: NodeSettings, port: int, kubelet_files: Mapping[str, str]
) -> dict[str, Any]:
    """What serving-CSR approval is told of a node: its names, where its kubelet serves, and
    the sha256 of each file its kubelet restarts for (a change means it restarted)."""
    return {
        **inventory_entry(node),
        "address": node.address,
        "port": port,
        "kubelet_files": dict(kubelet_files),
    }


def kubelet_target(node: NodeSettings, port: int) -> dict[str, Any]:
    return {"name": node.name, "address": node.address, "port": port}


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
