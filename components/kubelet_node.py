"""One worker node over SSH: its files, its preparation, and the kubelet started on it.

Contents and secrets travel as the commands' stdin, never in a command string (pulumi-command
prints the whole command on failure). No `triggers` are used: they always replace. The start
command names the sha256 of every file the kubelet must restart for, so `pulumi preview` shows
which kubelets restart; as any input change (the connection too) runs a command again, the
start restarts only when those files changed since its last healthy start. A replacement or a
rename still runs the old `delete` after the new `create`: the scripts' records on the node
keep that `delete` from undoing what the new command just did (see `rendering.file_scripts`).
The commands of a decommissioned node are frozen (`node_removal.frozen`): nothing connects.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_command import remote

from components import rendering
from components.bootstrap_token import BootstrapToken
from components.node_removal import frozen
from components.settings import NodeSettings, Settings
from components.ssh import as_root


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
        token: BootstrapToken | None,
        connection: remote.ConnectionArgs,
        bootstrap_prerequisites: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:KubeletNode", node.name, None, opts)
        self._name = node.name
        self._connection = connection
        self._become = settings.ssh.become
        self._frozen = frozen() if node.decommissioned else {}
        kubelet = settings.kubelet
        self.kubelet_endpoint = f"https://{_host_port(node.address, kubelet.port)}"

        # A decommissioned node has no token: its frozen command keeps the content it wrote.
        bootstrap = (token.token if token else pulumi.Output.secret("")).apply(
            lambda value: rendering.bootstrap_kubeconfig(
                settings.api_server, settings.ca_cert_file.pem, value
            )
        )
        restart_files = rendering.node_files(settings, node)
        writes = [
            self._write(
                "bootstrap-kubeconfig", kubelet.bootstrap_kubeconfig, "0600", bootstrap, secret=True
            )
        ] + [self._write(f.key, f.path, f.mode, f.content) for f in restart_files]

        prepare = self._command("prepare", rendering.prepare_node_script(kubelet))
        self.start = self._command(
            "start-kubelet",
            rendering.kubelet_scripts(settings, node, restart_files, f"{node.name}-start-kubelet"),
            depends_on=[
                *writes,
                prepare,
                *([token.secret] if token else []),
                *bootstrap_prerequisites,
            ],
        )
        self.files_sha256 = {f.path: f.sha256 for f in restart_files}
        self.bootstrap_kubeconfig_sha256 = bootstrap.apply(rendering.sha256)
        self.register_outputs({"kubelet_endpoint": self.kubelet_endpoint})

    def _write(
        self, key: str, path: str, mode: str, content: pulumi.Input[str], *, secret: bool = False
    ) -> remote.Command:
        """Write `content` to `path` atomically, root:root with `mode`.

        The script prints the file's sha256; for secret content that digest is kept out of the
        log and stored as a secret, like the content it is derived from.
        """
        return self._command(
            key,
            rendering.file_scripts(path, mode, f"{self._name}-{key}"),
            stdin=content,
            logging=remote.Logging.STDERR if secret else remote.Logging.STDOUT_AND_STDERR,
            additional_secret_outputs=["stdout"] if secret else None,
        )

    def _command(
        self,
        key: str,
        scripts: rendering.Scripts | str,
        *,
        stdin: pulumi.Input[str] | None = None,
        logging: remote.Logging | None = None,
        additional_secret_outputs: list[str] | None = None,
        depends_on: Sequence[pulumi.Resource] | None = None,
    ) -> remote.Command:
        """The node's command `<node>-<key>`, its scripts run as root (`ssh.become`); a
        lone script runs on create and again on every update, and nothing on delete.

        Its previous output is not put in its environment: sshd refuses those variables unless
        its AcceptEnv allows them, and pulumi-command then warns on every update.
        """
        if isinstance(scripts, str):
            create, update, delete = scripts, None, None
        else:
            create, update, delete = scripts
        return remote.Command(
            f"{self._name}-{key}",
            connection=self._connection,
            create=as_root(create, self._become),
            update=as_root(update, self._become) if update is not None else None,
            delete=as_root(delete, self._become) if delete is not None else None,
            stdin=stdin,
            logging=logging,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                additional_secret_outputs=additional_secret_outputs,
                **self._frozen,
            ),
        )


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
