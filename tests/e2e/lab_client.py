"""The lab nodes as the e2e tests see them: a real OpenSSH client, and a check that `down`
leaves nothing behind."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import node_network, node_teardown

# Three nodes for a stack and a spare one, for scenarios that add a node.
NODE_COUNT = 4


@dataclass(frozen=True)
class Lab:
    """The running lab nodes and a real ssh client for them."""

    state_dir: Path
    state: dict[str, Any]

    @property
    def names(self) -> list[str]:
        return [node["name"] for node in self.state["nodes"]]

    def node(self, name: str) -> dict[str, Any]:
        return next(node for node in self.state["nodes"] if node["name"] == name)

    def ssh(
        self,
        name: str,
        command: str,
        *,
        stdin: str | None = None,
        known_hosts: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Runs `command` through the OpenSSH client as root on the node, its host key pinned
        (StrictHostKeyChecking), as pulumi-command would with `hostKey` set."""
        node = self.node(name)
        argv = [
            "ssh", "-F", "/dev/null", "-i", self.state["clientKey"],
            "-o", f"UserKnownHostsFile={known_hosts or self.state['knownHosts']}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
            "-p", str(node["sshPort"]), f"root@{node['address']}", command,
        ]  # fmt: skip
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120)

    def ssh_ok(self, name: str, command: str, *, stdin: str | None = None) -> str:
        """Like `ssh`, but the command must succeed; returns its stdout."""
        result = self.ssh(name, command, stdin=stdin)
        assert result.returncode == 0, f"{command!r} on {name}: {result.stderr}{result.stdout}"
        return result.stdout


def assert_nothing_left(state_dir: Path) -> None:
    """No lab namespace, interface, mount or process survives `down`."""
    leftovers = {
        "network namespaces": node_network.lab_netns(),
        "interfaces": node_network.lab_links(),
        "mounts": node_teardown.mount_points_under(state_dir),
        "processes in node roots": node_teardown.pids_rooted_under(state_dir),
        "sshd listeners": node_teardown.sshd_pids(state_dir),
    }
    left = {what: found for what, found in leftovers.items() if found}
    assert not left, f"`down` left {left}"
