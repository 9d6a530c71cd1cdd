"""What the renewal approver is on a host: its paths, files and scripts, rendered.

Pure functions, like `node.rendering`: the same settings give the same bytes, so a re-run
changes nothing. Every path carries the stack's label, so two stacks of one cluster may each
run an approver on one master.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.approval.csr_policy import DEFAULT_MAX_EXPIRATION_SECONDS
from components.cluster.stack_names import stack_label
from components.node.rendering import HEADER, NODE_STATE_DIR, render

INVENTORY_VERSION = 1
HEALTH_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class ApproverPaths:
    """Where one stack's approver lives on a host, and what the cluster calls its identity."""

    stack: str

    @property
    def label(self) -> str:
        return stack_label(self.stack)

    @property
    def name(self) -> str:
        """The ServiceAccount, ClusterRole and binding, and the unit: one name for all."""
        return f"kubelet-bootstrap-approver-{self.label}"

    @property
    def unit(self) -> str:
        return f"{self.name}.service"

    @property
    def unit_file(self) -> str:
        return f"/etc/systemd/system/{self.unit}"

    @property
    def config_dir(self) -> str:
        return f"/etc/kubelet-bootstrap-approver/{self.label}"

    @property
    def kubeconfig(self) -> str:
        return f"{self.config_dir}/kubeconfig.json"

    @property
    def inventory(self) -> str:
        return f"{self.config_dir}/inventory.json"

    @property
    def binary_dir(self) -> str:
        return f"/usr/local/lib/kubelet-bootstrap-approver/{self.label}"

    def binary(self, sha256: str) -> str:
        """A new binary gets a new path: the running one is never overwritten (ETXTBSY)."""
        return f"{self.binary_dir}/kubelet-bootstrap-approver-{sha256[:16]}"

    @property
    def upload_dir(self) -> str:
        """Where the binary is copied to, by the SSH user (who may not be root: the copy runs
        without `ssh.become`); the start script installs it from there, as root."""
        return f"{NODE_STATE_DIR}/approver-upload/{self.label}"

    def upload(self, sha256: str) -> str:
        return f"{self.upload_dir}/kubelet-bootstrap-approver-{sha256[:16]}"

    @property
    def started_record(self) -> str:
        return f"{NODE_STATE_DIR}/approver/{self.label}.started"

    @property
    def claims_record(self) -> str:
        """Which of the stack's commands hold the running service (`claims.sh.j2`)."""
        return f"{NODE_STATE_DIR}/claims/approver/{self.label}"


def inventory(entries: Iterable[Mapping[str, Any]]) -> str:
    """The inventory file: each node's name and the names its serving certificate may carry,
    from the same entries the program's own approval judges by (`node.inventory`)."""
    nodes = [
        {"name": entry["name"], "ips": list(entry["ips"]), "dnsNames": list(entry["dns_names"])}
        for entry in sorted(entries, key=lambda entry: entry["name"])
    ]
    document = {
        "version": INVENTORY_VERSION,
        "maxExpirationSeconds": DEFAULT_MAX_EXPIRATION_SECONDS,
        "nodes": nodes,
    }
    return json.dumps(document, indent=2) + "\n"


def kubeconfig(api_server: str, ca_pem: str, token: str) -> str:
    """A kubeconfig in JSON (the approver reads no YAML; kubectl reads both)."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "cluster",
                "cluster": {
                    "server": api_server,
                    "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                },
            }
        ],
        "users": [{"name": "approver", "user": {"token": token}}],
        "contexts": [{"name": "approver", "context": {"cluster": "cluster", "user": "approver"}}],
        "current-context": "approver",
    }
    return json.dumps(document, indent=2) + "\n"


def unit(paths: ApproverPaths, binary_sha256: str, health_port: int) -> str:
    return render(
        "kubelet-bootstrap-approver.service.j2",
        header=HEADER,
        stack=paths.stack,
        binary=paths.binary(binary_sha256),
        kubeconfig=paths.kubeconfig,
        inventory=paths.inventory,
        health_port=health_port,
    )


def prepare_script(paths: ApproverPaths) -> str:
    return render(
        "prepare-approver.sh.j2", binary_dir=paths.binary_dir, upload_dir=paths.upload_dir
    )


def service_scripts(
    paths: ApproverPaths, owner: str, binary_sha256: str, restart_for: str, health_port: int
) -> tuple[str, str, str]:
    """Create, update and delete of the service command `owner`.

    Create and update install the binary, start (or restart, when `restart_for` differs from
    the last healthy start's) and wait for health; `restart_for` names the binary, unit,
    endpoint and credential, never a secret. Each claims the service, and delete stops it only
    when no other command of the stack holds it: a replaced host command (a new `sshHost` for
    the same machine) runs its create before the old one's delete.
    """
    values = {
        "stack": paths.stack,
        "unit": paths.unit,
        "owner": owner,
        "claims": paths.claims_record,
        "record": paths.started_record,
    }
    start = {
        **values,
        "binary": paths.binary(binary_sha256),
        "upload": paths.upload(binary_sha256),
        "binary_sha256": binary_sha256,
        "want": restart_for,
        "health_port": health_port,
        "health_timeout_seconds": HEALTH_TIMEOUT_SECONDS,
    }
    stop = {**values, "binary_dir": paths.binary_dir, "upload_dir": paths.upload_dir}
    return (
        render("start-approver.sh.j2", first=True, **start),
        render("start-approver.sh.j2", first=False, **start),
        render("stop-approver.sh.j2", **stop),
    )
