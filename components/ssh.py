"""The SSH connection pulumi-command uses to reach a node."""

from __future__ import annotations

import pulumi
from pulumi_command import remote

from components.settings import NodeSettings, SshSettings


def node_connection(ssh: SshSettings, node: NodeSettings) -> remote.ConnectionArgs:
    """Connect as `ssh.user` to the node's SSH host, with the key marked secret.

    The node's own `hostKey` wins over `ssh.hostKey`; without either, pulumi-command does not
    check the host key: the README says so.
    """
    key = pulumi.Output.secret(ssh.key.get_secret_value())
    proxy = None
    if ssh.bastion is not None:
        proxy = remote.ProxyConnectionArgs(
            host=ssh.bastion.host,
            port=ssh.bastion.port,
            user=ssh.bastion.user or ssh.user,
            private_key=key,
            host_key=ssh.bastion.host_key,
        )
    return remote.ConnectionArgs(
        host=node.ssh_target,
        port=ssh.port,
        user=ssh.user,
        private_key=key,
        host_key=node.host_key or ssh.host_key,
        proxy=proxy,
    )
