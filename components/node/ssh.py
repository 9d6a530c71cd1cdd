"""The SSH connection pulumi-command uses to reach a node, and how a script runs there as root."""

from __future__ import annotations

from typing import Any, Protocol

import pulumi
from pulumi_command import remote

from components.node.rendering import Scripts
from components.settings.model import SshSettings


class SshTarget(Protocol):
    """What a connection needs of a machine: a node, or a host of the renewal approver."""

    @property
    def ssh_target(self) -> str: ...

    @property
    def host_key(self) -> str | None: ...


def ssh_endpoint(ssh: SshSettings, node: SshTarget) -> dict[str, Any]:
    """Where `ssh.user` logs in to the node: host, port, user and the pinned host key (the
    node's own `hostKey` wins over `ssh.hostKey`)."""
    return {
        "host": node.ssh_target,
        "port": ssh.port,
        "user": ssh.user,
        "host_key": node.host_key or ssh.host_key,
    }


def bastion_endpoint(ssh: SshSettings) -> dict[str, Any] | None:
    """Where the bastion is, as `ssh_endpoint` says of a node; None without one."""
    if ssh.bastion is None:
        return None
    return {
        "host": ssh.bastion.host,
        "port": ssh.bastion.port,
        "user": ssh.bastion.user or ssh.user,
        "host_key": ssh.bastion.host_key,
    }


def node_connection(ssh: SshSettings, node: SshTarget) -> remote.ConnectionArgs:
    """Connect as `ssh.user` to the node's SSH host, with the key marked secret.

    Without a pinned host key, pulumi-command does not check it: docs/settings.md
    (`ssh.acceptUnverifiedHostKeys`) says so.
    """
    key = pulumi.Output.secret(ssh.key.get_secret_value())
    bastion = bastion_endpoint(ssh)
    proxy = None if bastion is None else remote.ProxyConnectionArgs(**bastion, private_key=key)
    return remote.ConnectionArgs(**ssh_endpoint(ssh, node), private_key=key, proxy=proxy)


# Ends the script's here-document in a command run through sudo; no script has this line.
_END_OF_SCRIPT = "KUBELET_BOOTSTRAP_SCRIPT"


def as_root(script: str, become: str | None) -> str:
    """The command string that runs `script` as root: the script itself for root, or with
    `become: sudo` `sudo -n sh -c "<script>"`, the script given verbatim in a quoted
    here-document (nothing in it is expanded, and `make plan` reads it as it is).

    `-n` makes sudo fail at once where it would ask for a password nobody can type. The script
    becomes one argument, so the command's stdin still reaches it: file contents and secrets
    keep travelling as stdin, never in the command string.
    """
    if become is None:
        return script
    if _END_OF_SCRIPT in script.splitlines():
        raise ValueError(f"a script holds the line {_END_OF_SCRIPT} that ends it")
    return f"sudo -n sh -c \"$(cat <<'{_END_OF_SCRIPT}'\n{script}\n{_END_OF_SCRIPT}\n)\""


def script_as_root(
    scripts: Scripts | pulumi.Output[Scripts], index: int, become: str | None
) -> pulumi.Input[str] | None:
    """Script `index` (create, update, delete) of `scripts` as root; None where there is none
    (pulumi-command then runs nothing, and opens no connection)."""

    def known(script: Scripts) -> str | None:
        return None if script[index] is None else as_root(script[index], become)

    return known(scripts) if isinstance(scripts, Scripts) else scripts.apply(known)
