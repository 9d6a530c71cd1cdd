"""`ServingCsrApproval`: the dynamic resource that approves the stack's kubelet serving CSRs.

`create` and `update` approve (see `csr_approver`) until the nodes they judge hold an issued
serving certificate: `create` every node, `update` only the nodes that are new, whose entry
(names, address, kubelet port, kubelet files) or the CA changed, or that have no unexpired
certificate on record. Of those, the nodes whose kubelet (re)started in this update, known by
the sha256 of the files the kubelet restarts for, may still file a new CSR and are waited for.

`read`, run by `pulumi refresh`, reports the managed nodes' serving CSRs still pending, and
`diff` then shows a change, so a scheduled `pulumi up --refresh` approves certificate renewals
too. The provider is pickled by dill into the state: it imports its clients inside its methods
and keeps no client on `self`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    UpdateResult,
)

from components.cluster.admin_provider import AdminProvider, stored_credential, without_credential

RESOURCE_ID = "kubelet-serving-csrs"
INPUTS = ("ca_pem", "nodes", "timeout_seconds")


class ServingCsrApprovalProvider(AdminProvider):
    """Approves genuine serving CSRs of the nodes in its inputs, and nothing else."""

    __module__ = "components.csr_approval"  # its stable path in existing state (see there)

    def create(self, props: dict[str, Any]) -> CreateResult:
        names = [node["name"] for node in props["nodes"]]
        approved = self._approve(props, required=names, restarted=names, known={})
        return CreateResult(id_=RESOURCE_ID, outs={**props, "approved": approved, "pending": []})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        required, restarted = _to_judge(olds, news)
        known = {
            name: certificate
            for name, certificate in (olds.get("approved") or {}).items()
            if name in {node["name"] for node in news["nodes"]} and name not in required
        }
        approved = self._approve(news, required, restarted, known)
        return UpdateResult(outs={**without_credential(news), "approved": approved, "pending": []})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.approval.csr_approver import inventory_of, pending_requests

        pending = pending_requests(self._certificates_api(), inventory_of(props["nodes"]))
        return ReadResult(id_=id_, outs={**without_credential(props), "pending": pending})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in INPUTS if olds.get(key) != news.get(key)]
        changed += stored_credential(olds)
        if olds.get("pending"):
            changed.append("pending")
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def _approve(
        self,
        props: dict[str, Any],
        required: list[str],
        restarted: list[str],
        known: dict[str, Any],
    ) -> dict[str, Any]:
        """Run the approver; returns each node's certificate as `{csr, not_after}`.

        A node not judged keeps the certificate on record, or a later one if the CSRs show it.
        """
        import sys

        from cryptography import x509

        from components.approval.csr_approver import ServingCsrApprover, inventory_of, kubelets_of

        approver = ServingCsrApprover(
            self._certificates_api(),
            inventory_of(props["nodes"]),
            x509.load_pem_x509_certificate(props["ca_pem"].encode()),
            kubelets_of(props["nodes"]),
            log=lambda line: print(line, file=sys.stderr, flush=True),
        )
        found = approver.run(required, float(props["timeout_seconds"]), restarted=restarted)
        approved = dict(known)
        for name, certificate in found.items():
            if name not in approved or certificate.not_after > approved[name]["not_after"]:
                approved[name] = {"csr": certificate.csr, "not_after": certificate.not_after}
        return dict(sorted(approved.items()))

    def _certificates_api(self) -> Any:
        from kubernetes import client

        return client.CertificatesV1Api(self.admin_client())


def _to_judge(olds: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The nodes `update` must see holding a certificate, and those of them restarted."""
    from components.approval.serving_certificate import rfc3339

    now = rfc3339(datetime.now(timezone.utc))
    before = {node["name"]: node for node in olds.get("nodes") or []}
    on_record = olds.get("approved") or {}
    ca_changed = olds.get("ca_pem") != news["ca_pem"]
    required, restarted = [], []
    for node in news["nodes"]:
        name, old = node["name"], before.get(node["name"])
        if old is None or old.get("kubelet_files") != node["kubelet_files"]:
            restarted.append(name)
        expires = (on_record.get(name) or {}).get("not_after") or ""
        if ca_changed or old != node or expires <= now:
            required.append(name)
    return required, restarted


class ServingCsrApproval(Resource, module="kubelet-bootstrap", name="ServingCsrApproval"):
    """Approves each node's kubelet serving CSR once, and renewals on `pulumi up --refresh`.

    `nodes` are `inventory.approval_entry` dicts; `ca_pem` is the cluster CA, which every
    serving certificate counted must be signed by.
    """

    approved: pulumi.Output[dict[str, Any]]
    pending: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        ca_pem: str,
        nodes: list[dict[str, Any]],
        timeout_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            ServingCsrApprovalProvider(),
            name,
            {
                "ca_pem": ca_pem,
                "nodes": nodes,
                "timeout_seconds": timeout_seconds,
                "approved": None,
                "pending": None,
            },
            opts,
        )
