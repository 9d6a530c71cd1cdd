"""One worker node over SSH: its files, its preparation, and the kubelet started on it.

Contents and secrets travel as the commands' stdin, never in a command string (pulumi-command
prints the whole command on failure). No `triggers` are used: they always replace. The start
command starts the kubelet the first time; the restart command names the sha256 of every file
the kubelet must restart for, so `pulumi preview` shows which kubelets restart, and waits for
the rollout batch before it (`components.node.rollout`). Once the kubelet has started, a new
version of such a file is staged, and the restart puts it in place in its batch
(templates/staging.sh.j2). As any input change (the connection too)
runs a command again, the restart restarts only when those files changed since the kubelet's
last healthy start, and the start never restarts a kubelet it started before. A replacement or a
rename still runs the old `delete` after the new `create`: the scripts' records on the node
keep that `delete` from undoing what the new command just did (see `rendering.file_scripts`).
The commands of a decommissioned node are frozen (`node_removal.frozen`) and have no scripts:
nothing connects, whatever commands a later change or version adds.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_command import remote

from components.cluster.bootstrap_token import BootstrapToken
from components.node import drift, kubelet_binary, rendering
from components.node.preflight import preflight_script
from components.node.ssh import as_root, bastion_endpoint, script_as_root, ssh_endpoint
from components.removal.node_removal import frozen
from components.settings.model import KubeletSettings, NodeSettings, Settings

BINARY = "kubelet-binary"


class KubeletNode(pulumi.ComponentResource):
    """The kubelet of one node, from its files on disk to a healthy service."""

    files_sha256: dict[str, str]
    """sha256 of each file the kubelet restarts for, by path on the node."""
    bootstrap_kubeconfig_sha256: pulumi.Output[str]
    """sha256 of the bootstrap kubeconfig: secret, as it is derived from the token."""
    kubelet_endpoint: str
    start: remote.Command
    """The kubelet's first start; what drains the node on removal waits for it."""
    restart: remote.Command
    """The node's last command: its kubelet started, or restarted, and healthy."""

    def __init__(
        self,
        node: NodeSettings,
        settings: Settings,
        token: BootstrapToken | None,
        connection: remote.ConnectionArgs,
        bootstrap_prerequisites: Sequence[pulumi.Resource],
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:KubeletNode", node.name, None, opts)
        self._name = node.name
        self._connection = connection
        self._become = settings.ssh.become
        self._frozen = frozen() if node.decommissioned else {}
        kubelet = settings.kubelet_for(node)
        self.kubelet_endpoint = f"https://{_host_port(node.address, kubelet.port)}"

        # A decommissioned node has no token: its frozen command keeps the content it wrote.
        bootstrap = (token.token if token else pulumi.Output.secret("")).apply(
            lambda value: rendering.bootstrap_kubeconfig(
                settings.api_server, settings.ca_cert_file.pem, value
            )
        )
        restart_files = rendering.node_files(settings, node)
        # With kubelet.download, the binary is one more file the kubelet restarts for. Each
        # such file goes with the key of the command that writes it.
        fetched = kubelet_binary.fetched_binary(kubelet)
        keyed: list[tuple[str, rendering.RestartFile]] = [(f.key, f) for f in restart_files]
        if fetched is not None:
            keyed.append((BINARY, fetched))
        started_files = [file for _, file in keyed]
        # Every other command of the node waits for its read-only checks (see _command).
        self._preflight: list[pulumi.Resource] = []
        script = preflight_script(settings, node, started_files)
        if script is not None:
            # The cluster CA on stdin: versionSkew reads the API server's version with it.
            self._preflight = [self._command("preflight", script, stdin=settings.ca_cert_file.pem)]
        # What refresh finds changed on the node (none on a decommissioned one, left as it is).
        self._repairs: pulumi.Output[dict[str, int]] = pulumi.Output.from_input({})
        if not node.decommissioned:
            self._repairs = self._drift(node, settings, keyed, bootstrap).repairs
        # A new version of a file the kubelet restarts for waits for the node's rollout batch.
        writes = [
            self._write(
                drift.BOOTSTRAP_KUBECONFIG,
                kubelet.bootstrap_kubeconfig,
                "0600",
                bootstrap,
                secret=True,
            )
        ] + [self._write(f.key, f.path, f.mode, f.content, restarts=kubelet) for f in restart_files]
        if fetched is not None:
            owner = f"{node.name}-kubelet-binary"
            writes.append(
                self._command(
                    BINARY,
                    self._repaired(
                        BINARY,
                        kubelet_binary.binary_scripts(kubelet, node, owner, settings.api_server),
                    ),
                    # The cluster CA: the install reads the API server's version with it.
                    stdin=settings.ca_cert_file.pem,
                )
            )

        prepare = self._command("prepare", rendering.prepare_node_script(kubelet))
        self.start = self._command(
            "start-kubelet",
            # A decommissioned node has no token: its frozen command keeps what it had.
            (token.token_id if token else pulumi.Output.from_input("")).apply(
                lambda token_id: rendering.kubelet_scripts(
                    settings,
                    node,
                    started_files,
                    f"{node.name}-start-kubelet",
                    bootstrap_token_id=token_id,
                )
            ),
            depends_on=[
                *writes,
                prepare,
                *([token.secret] if token else []),
                *bootstrap_prerequisites,
            ],
        )
        # Created, it acts only on files staged before the start (see restart_scripts).
        restart_keys = [key for key, _ in keyed]
        self.restart = self._command(
            "restart-kubelet",
            self._repairs.apply(
                lambda repairs: rendering.restart_scripts(
                    settings, node, started_files, drift.restart_repair(repairs, restart_keys)
                )
            ),
            depends_on=[self.start, *writes, *after],
        )
        self.files_sha256 = {f.path: f.sha256 for f in started_files}
        self.bootstrap_kubeconfig_sha256 = bootstrap.apply(rendering.sha256)
        self.register_outputs({"kubelet_endpoint": self.kubelet_endpoint})

    def _write(
        self,
        key: str,
        path: str,
        mode: str,
        content: pulumi.Input[str],
        *,
        secret: bool = False,
        restarts: KubeletSettings | None = None,
    ) -> remote.Command:
        """Write `content` to `path` atomically, root:root with `mode`; for a file the kubelet
        `restarts` for, staged for the rollout batch while that kubelet runs.

        The script prints the file's sha256; for secret content that digest is kept out of the
        log and stored as a secret, like the content it is derived from.
        """
        return self._command(
            key,
            self._repaired(
                key, rendering.file_scripts(path, mode, f"{self._name}-{key}", kubelet=restarts)
            ),
            stdin=content,
            logging=remote.Logging.STDERR if secret else remote.Logging.STDOUT_AND_STDERR,
            additional_secret_outputs=["stdout"] if secret else None,
        )

    def _drift(
        self,
        node: NodeSettings,
        settings: Settings,
        keyed: Sequence[tuple[str, rendering.RestartFile]],
        bootstrap: pulumi.Output[str],
    ) -> drift.NodeDrift:
        """The node's `<node>-drift`, which refresh reads (`components.node.drift`)."""
        kubelet = settings.kubelet_for(node)
        # With bootstrapToken.removeKubeconfig the start removes it: not checked, not put back.
        bootstrap_file = None
        if not settings.bootstrap_token.remove_kubeconfig:
            bootstrap_file = bootstrap.apply(
                lambda content: vars(
                    drift.WrittenFile(
                        drift.BOOTSTRAP_KUBECONFIG,
                        kubelet.bootstrap_kubeconfig,
                        rendering.sha256(content),
                        secret=True,
                    )
                )
            )
        return drift.NodeDrift(
            f"{node.name}-drift",
            drift.probe_inputs(
                node.name,
                target=ssh_endpoint(settings.ssh, node),
                bastion=bastion_endpoint(settings.ssh),
                become=self._become,
                files=[drift.WrittenFile(key, f.path, f.sha256) for key, f in keyed],
                bootstrap=bootstrap_file,
                started=rendering.started_record(kubelet),
                unit=kubelet.unit_name,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _repaired(self, key: str, scripts: rendering.Scripts) -> pulumi.Output[rendering.Scripts]:
        """`scripts`, run again by the last repair refresh asked of command `key`."""
        return self._repairs.apply(
            lambda repairs: drift.with_repair(scripts, drift.repair_line(repairs, [key]))
        )

    def _command(
        self,
        key: str,
        scripts: pulumi.Output[rendering.Scripts] | rendering.Scripts | str,
        *,
        stdin: pulumi.Input[str] | None = None,
        logging: remote.Logging | None = None,
        additional_secret_outputs: list[str] | None = None,
        depends_on: Sequence[pulumi.Resource] | None = None,
    ) -> remote.Command:
        """The node's command `<node>-<key>`, its scripts run as root (`ssh.become`); a
        lone script runs on create and again on every update, and nothing on delete. A script
        that is None runs nothing, and opens no connection. It waits for the node's preflight,
        when it has one: a node that fails it is left as it is.

        Its previous output is not put in its environment: sshd refuses those variables unless
        its AcceptEnv allows them, and pulumi-command then warns on every update.
        """

        def command(index: int) -> pulumi.Input[str] | None:
            """Script `index` (create, update, delete) as root; the start's is known once the
            token id is. A decommissioned node's have none: a command it had keeps its state
            (`frozen`), and one a later change or version adds is created without connecting."""
            if self._frozen:
                return None
            if isinstance(scripts, str):
                return as_root(scripts, self._become) if index == 0 else None
            return script_as_root(scripts, index, self._become)

        return remote.Command(
            f"{self._name}-{key}",
            connection=self._connection,
            create=command(0),
            update=command(1),
            delete=command(2),
            stdin=stdin,
            logging=logging,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self._preflight, *(depends_on or [])],
                additional_secret_outputs=additional_secret_outputs,
                **self._frozen,
            ),
        )


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
