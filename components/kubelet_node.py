"""One worker node over SSH: its files, its preparation, and the kubelet started on it.

Contents and secrets travel as the commands' stdin, never in a command string (pulumi-command
prints the whole command on failure). No `triggers` are used: they always replace, and a
replacement runs the old `delete` after the new `create`. Instead, the start command names the
sha256 of every file the kubelet must restart for, so `pulumi preview` shows an update of
exactly the nodes whose unit, configuration or CA changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_command import remote

from components import rendering
from components.bootstrap_token import BootstrapToken
from components.settings import NodeSettings, Settings


class KubeletNode(pulumi.ComponentResource):
    """The kubelet of one node, from its files on disk to a healthy service."""

    files_sha256: dict[str, str]
    """sha256 of each file the kubelet restarts for, by path on the node."""
    bootstrap_kubeconfig_sha256: pulumi.Output[str]
    """sha256 of the bootstrap kubeconfig: secret, as it is derived from the token."""
    kubelet_endpoint: str
    start: remote.Command

    def __init__(
        self,
        node: NodeSettings,
        settings: Settings,
        token: BootstrapToken,
        connection: remote.ConnectionArgs,
        bootstrap_prerequisites: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:KubeletNode", node.name, None, opts)
        kubelet = settings.kubelet
        self.kubelet_endpoint = f"https://{_host_port(node.address, kubelet.port)}"

        bootstrap = token.token.apply(
            lambda value: rendering.bootstrap_kubeconfig(
                settings.api_server, settings.ca_cert_file.pem, value
            )
        )
        restart_files = rendering.node_files(settings, node)
        writes = [
            self._write(
                node,
                connection,
                "bootstrap-kubeconfig",
                kubelet.bootstrap_kubeconfig,
                "0600",
                bootstrap,
                secret=True,
            )
        ] + [self._write(node, connection, f.key, f.path, f.mode, f.content) for f in restart_files]

        prepare = remote.Command(
            f"{node.name}-prepare",
            connection=connection,
            create=rendering.prepare_node_script(kubelet),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.start = remote.Command(
            f"{node.name}-start-kubelet",
            connection=connection,
            create=rendering.start_kubelet_script(kubelet, node, restart_files),
            delete=rendering.stop_kubelet_script(kubelet, node),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*writes, prepare, token.secret, *bootstrap_prerequisites],
            ),
        )
        self.files_sha256 = {f.path: f.sha256 for f in restart_files}
        self.bootstrap_kubeconfig_sha256 = bootstrap.apply(rendering.sha256)
        self.register_outputs({"kubelet_endpoint": self.kubelet_endpoint})

    def _write(
        self,
        node: NodeSettings,
        connection: remote.ConnectionArgs,
        key: str,
        path: str,
        mode: str,
        content: pulumi.Input[str],
        *,
        secret: bool = False,
    ) -> remote.Command:
        """Write `content` to `path` atomically, root:root with `mode`.

        The script prints the file's sha256; for secret content that digest is kept out of the
        log and stored as a secret, like the content it is derived from.
        """
        return remote.Command(
            f"{node.name}-{key}",
            connection=connection,
            create=rendering.install_file_script(path, mode),
            delete=rendering.remove_file_script(path),
            stdin=content,
            logging=remote.Logging.STDERR if secret else remote.Logging.STDOUT_AND_STDERR,
            opts=pulumi.ResourceOptions(
                parent=self, additional_secret_outputs=["stdout"] if secret else None
            ),
        )


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
