"""`ServingCsrApproval`: the dynamic resource that approves the stack's kubelet serving CSRs.

`create` and `update` approve (see `csr_approver`); `read`, run by `pulumi refresh`, reports the
managed nodes' serving CSRs still pending, and `diff` then shows a change, so a scheduled
`pulumi up --refresh` approves certificate renewals too. The provider is pickled by dill into
the state: it imports its clients inside its methods and keeps no client on `self`.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

RESOURCE_ID = "kubelet-serving-csrs"


class ServingCsrApprovalProvider(ResourceProvider):
    """Approves genuine serving CSRs of the nodes in its inputs, and nothing else."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        approved = _approve(props, required=[node["name"] for node in props["nodes"]], known={})
        return CreateResult(id_=RESOURCE_ID, outs={**props, "approved": approved, "pending": []})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        names = [node["name"] for node in news["nodes"]]
        known = {name: a for name, a in (olds.get("approved") or {}).items() if name in names}
        approved = _approve(news, required=[n for n in names if n not in known], known=known)
        return UpdateResult(outs={**news, "approved": approved, "pending": []})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.csr_approver import ServingCsrApprover, inventory_of

        approver = ServingCsrApprover(
            _certificates_api(props["kubeconfig"]), inventory_of(props["nodes"])
        )
        return ReadResult(id_=id_, outs={**props, "pending": approver.pending()})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [
            key
            for key in ("kubeconfig", "nodes", "timeout_seconds")
            if olds.get(key) != news.get(key)
        ]
        if olds.get("pending"):
            changed.append("pending")
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)


def _approve(props: dict[str, Any], required: list[str], known: dict[str, Any]) -> dict[str, Any]:
    """Run the approver; returns each node's approval as `{csr, not_after}`."""
    import sys

    from components.csr_approver import ServingCsrApprover, inventory_of

    approver = ServingCsrApprover(
        _certificates_api(props["kubeconfig"]),
        inventory_of(props["nodes"]),
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    approvals = approver.run(required, float(props["timeout_seconds"]))
    fresh = {node: {"csr": a.csr, "not_after": a.not_after} for node, a in approvals.items()}
    return {**known, **fresh}


def _certificates_api(kubeconfig: str) -> Any:
    from kubernetes import client

    from components.kube_client import api_client

    return client.CertificatesV1Api(api_client(kubeconfig))


class ServingCsrApproval(Resource, module="kubelet-bootstrap", name="ServingCsrApproval"):
    """Approves each node's kubelet serving CSR once, and renewals on `pulumi up --refresh`."""

    approved: pulumi.Output[dict[str, Any]]
    pending: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        kubeconfig: pulumi.Input[str],
        nodes: list[dict[str, Any]],
        timeout_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            ServingCsrApprovalProvider(),
            name,
            {
                "kubeconfig": pulumi.Output.secret(kubeconfig),
                "nodes": nodes,
                "timeout_seconds": timeout_seconds,
                "approved": None,
                "pending": None,
            },
            opts,
        )
