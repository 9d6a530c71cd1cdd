"""`RenewalApprover`: the serving-certificate renewal approver of the stack, on the hosts named.

The cluster part is made once: the approver's ClusterRole and binding, and its identity
(`renewal.identity`). Each host gets, over SSH as the nodes do, the binary (copied by the SSH
user, installed as root under a path of its own sha256, so the running one is never
overwritten), its JSON kubeconfig (stdin, mode 0600), the inventory and the unit
(written as every node file is: claimed, removed on delete unless changed by hand), then the
service is enabled and started, and the update passes only once it reports itself healthy.

A change of the inventory (a node added, removed, or its names changed) rewrites one file:
the approver reads it again within seconds and restarts for nothing. A new binary, unit or
token restarts it (the start script compares with its last healthy start).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_command import remote

from components.approval.csr_policy import SERVING_SIGNER
from components.cluster.rbac import cluster_role_binding, service_account
from components.node.rendering import Scripts, file_scripts, sha256
from components.node.ssh import node_connection, script_as_root
from components.renewal import files
from components.renewal.binary import PROJECT_DIR, ApproverBinary, build
from components.renewal.identity import NAMESPACE, ApproverIdentity
from components.settings.model import Settings
from components.settings.renewal_approver import ApproverHost

CERTIFICATES_GROUP = "certificates.k8s.io"


def approver_rules() -> list[k8s.rbac.v1.PolicyRuleArgs]:
    """Least privilege: read CSRs, write decisions, approve for the kubelet-serving signer.

    No Secrets, no Nodes (the inventory file says what the stack knows of each node), no CSR
    creation, and no other signer: the API server refuses its approval of a client CSR.
    """
    return [
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[CERTIFICATES_GROUP],
            resources=["certificatesigningrequests"],
            verbs=["get", "list", "watch"],
        ),
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[CERTIFICATES_GROUP],
            resources=["certificatesigningrequests/approval"],
            verbs=["update"],
        ),
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[CERTIFICATES_GROUP],
            resources=["signers"],
            resource_names=[SERVING_SIGNER],
            verbs=["approve"],
        ),
    ]


class RenewalApprover(pulumi.ComponentResource):
    """The approver's identity and RBAC, and the service on each of `settings`' hosts."""

    account: str
    hosts: list[str]

    def __init__(
        self,
        name: str,
        settings: Settings,
        inventory_entries: Sequence[dict[str, Any]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:RenewalApprover", name, None, opts)
        approver = settings.renewal_approver
        paths = files.ApproverPaths(pulumi.get_stack())
        binary = build(approver.arch)
        child = pulumi.ResourceOptions(parent=self)
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=paths.name),
            rules=approver_rules(),
            opts=child,
        )
        binding = cluster_role_binding(
            paths.name,
            paths.name,
            service_account(paths.name, NAMESPACE),
            pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[role])),
        )
        identity = ApproverIdentity(f"{name}-identity", paths.name, opts=child)
        ca_pem = settings.ca_cert_file.pem
        kubeconfig = pulumi.Output.secret(
            identity.token.apply(lambda token: files.kubeconfig(settings.api_server, ca_pem, token))
        )
        unit = files.unit(paths, binary.sha256, approver.health_port)
        endpoint = f"{settings.api_server}\n{ca_pem}"
        host_files = _HostFiles(
            paths=paths,
            binary=binary,
            kubeconfig=kubeconfig,
            inventory=files.inventory(inventory_entries),
            unit=unit,
            restart_for=identity.secret_uid.apply(
                lambda uid: f"{binary.sha256} {sha256(unit)} {sha256(endpoint)} {uid}"
            ),
            health_port=approver.health_port,
        )
        for host in approver.active_hosts:
            ApproverService(
                host,
                host_files,
                node_connection(settings.ssh, host),
                settings.ssh.become,
                after=[binding],
                opts=child,
            )
        self.account = f"{NAMESPACE}/{paths.name}"
        self.hosts = [host.name for host in approver.active_hosts]
        self.register_outputs({"account": self.account, "hosts": self.hosts})


@dataclass(frozen=True)
class _HostFiles:
    """What every host gets: the same files, rendered once, and what its service restarts for
    (binary, unit, the API server and CA it trusts, and its token's Secret; no secret)."""

    paths: files.ApproverPaths
    binary: ApproverBinary
    kubeconfig: pulumi.Output[str]
    inventory: str
    unit: str
    restart_for: pulumi.Output[str]
    health_port: int


class ApproverService(pulumi.ComponentResource):
    """The approver on one host: its binary, files and running service."""

    def __init__(
        self,
        host: ApproverHost,
        host_files: _HostFiles,
        connection: remote.ConnectionArgs,
        become: str | None,
        after: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("kubelet-bootstrap:index:ApproverService", host.name, None, opts)
        self._name = host.name
        self._connection = connection
        self._become = become
        # pulumi-command runs a command again on a new connection in place, leaving the old
        # machine as it was: a new address or host key replaces each command instead (create
        # on the new, delete on the old; claims keep a same-machine delete from undoing it).
        self._machine = [connection.host, connection.host_key or ""]
        paths = host_files.paths
        prepare = self._command("prepare", Scripts(files.prepare_script(paths), None, None))
        binary = remote.CopyToRemote(
            f"{host.name}-approver-binary",
            connection=connection,
            source=pulumi.FileAsset(str(_relative(host_files.binary.path))),
            remote_path=paths.upload(host_files.binary.sha256),
            triggers=self._machine,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[prepare]),
        )
        written = [
            self._file("kubeconfig", paths.kubeconfig, "0600", host_files.kubeconfig),
            self._file("inventory", paths.inventory, "0644", host_files.inventory),
            self._file("unit", paths.unit_file, "0644", host_files.unit),
        ]
        owner = self._named("service")
        self._command(
            "service",
            host_files.restart_for.apply(
                lambda restart_for: Scripts(
                    *files.service_scripts(
                        paths,
                        owner,
                        host_files.binary.sha256,
                        restart_for,
                        host_files.health_port,
                    )
                )
            ),
            depends_on=[binary, *written, *after],
        )
        self.register_outputs({})

    def _named(self, key: str) -> str:
        """The name of the host's command `key`: what its scripts' claims call it too."""
        return f"{self._name}-approver-{key}"

    def _file(self, key: str, path: str, mode: str, content: pulumi.Input[str]) -> remote.Command:
        return self._command(key, file_scripts(path, mode, self._named(key)), stdin=content)

    def _command(
        self,
        key: str,
        scripts: Scripts | pulumi.Output[Scripts],
        *,
        stdin: pulumi.Input[str] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> remote.Command:
        """The host's command `<host>-approver-<key>`: scripts run as root (`ssh.become`)."""
        return remote.Command(
            self._named(key),
            connection=self._connection,
            create=script_as_root(scripts, 0, self._become),
            update=script_as_root(scripts, 1, self._become),
            delete=script_as_root(scripts, 2, self._become),
            stdin=stdin,
            triggers=self._machine,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )


def _relative(path: Path) -> Path:
    """The binary's path from the project directory, where Pulumi runs the program: the same
    in every checkout, so another operator's clone copies nothing anew."""
    return path.relative_to(PROJECT_DIR)
