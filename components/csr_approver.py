"""Approving the stack's kubelet serving CSRs through the certificates API: list once, then watch.

The policy (`csr_policy`) decides; this module talks to the API server. It lists the CSRs once
and watches from that resourceVersion, so a thousand pending requests cost one list, and a new
request is seen as soon as the API server has it. Approval and denial go through the
`/approval` subresource; a 409 means someone changed the CSR meanwhile, so it is read again
and judged again.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from components.csr_policy import (
    APPROVED_REASON,
    DENIED_REASON,
    Action,
    NodeIdentity,
    Verdict,
    evaluate,
)
from components.kube_watch import ListWatch

_CONFLICT_RETRIES = 5


@dataclass
class Approval:
    """The serving CSR approved for a node and, once the signer issued it, its notAfter."""

    csr: str
    not_after: str | None = None


class ApprovalTimeoutError(Exception):
    """Raised when some nodes still have no approved serving CSR at the deadline."""

    def __init__(self, waiting: Iterable[str], timeout_seconds: float, approved: int) -> None:
        self.waiting = sorted(waiting)
        hints = "; ".join(
            f"{node}: look at `journalctl -u kubelet` on {node} and `kubectl get csr`"
            for node in self.waiting
        )
        super().__init__(
            f"no approved serving CSR after {timeout_seconds:g}s for "
            f"{len(self.waiting)} node(s): {', '.join(self.waiting)} ({hints}). "
            f"The {approved} approval(s) made stay in place."
        )


@dataclass
class ServingCsrApprover:
    """Approves genuine serving CSRs of `inventory` until every `required` node has one."""

    api: client.CertificatesV1Api
    inventory: Mapping[str, NodeIdentity]
    log: Callable[[str], None] = print
    approvals: dict[str, Approval] = field(default_factory=dict)
    decided: set[str] = field(default_factory=set)
    made: int = 0

    def run(
        self, required: Iterable[str], timeout_seconds: float, issue_grace_seconds: float = 10
    ) -> dict[str, Approval]:
        """Approve until each required node has an approved serving CSR, or time out.

        Then waits up to `issue_grace_seconds` more for the signer to issue the certificates
        approved, to report their notAfter; a slow signer is no failure.
        """
        required = set(required)
        deadline = time.monotonic() + timeout_seconds
        csrs = ListWatch(self.api.list_certificate_signing_request, self._consider)
        with contextlib.suppress(TimeoutError):  # then every required node is still waiting
            csrs.sync(deadline)
            csrs.follow_until(lambda: required <= self.approvals.keys(), deadline)
        if not required <= self.approvals.keys():
            raise ApprovalTimeoutError(required - self.approvals.keys(), timeout_seconds, self.made)
        csrs.follow_until(self._all_issued, min(deadline, time.monotonic() + issue_grace_seconds))
        return self.approvals

    def pending(self) -> list[str]:
        """Names of the managed nodes' serving CSRs that wait for a decision (for refresh)."""
        listing = self.api.list_certificate_signing_request()
        return sorted(
            csr.metadata.name
            for csr in listing.items
            if evaluate(self._as_dict(csr), self.inventory).action is not Action.IGNORE
        )

    def _all_issued(self) -> bool:
        return all(approval.not_after for approval in self.approvals.values())

    def _consider(self, csr: Any) -> None:
        """Judge one CSR and act on the verdict, judging again after a conflict.

        A CSR decided in this run is not judged again when the watch replays an older copy.
        """
        for _ in range(_CONFLICT_RETRIES):
            document = self._as_dict(csr)
            self._note_approved(document)
            verdict = evaluate(document, self.inventory)
            if verdict.action is Action.IGNORE or csr.metadata.name in self.decided:
                return
            try:
                self._decide(csr, verdict)
                return
            except ApiException as error:
                if error.status != 409:
                    raise
                csr = self.api.read_certificate_signing_request(csr.metadata.name)
        raise RuntimeError(f"{csr.metadata.name}: kept changing under {_CONFLICT_RETRIES} tries")

    def _decide(self, csr: Any, verdict: Verdict) -> None:
        approve = verdict.action is Action.APPROVE
        condition = client.V1CertificateSigningRequestCondition(
            type="Approved" if approve else "Denied",
            status="True",
            reason=APPROVED_REASON if approve else DENIED_REASON,
            message=f"kubelet-bootstrap: {verdict.message}",
            last_update_time=datetime.now(UTC),
        )
        csr.status = csr.status or client.V1CertificateSigningRequestStatus()
        csr.status.conditions = [*(csr.status.conditions or []), condition]
        self.api.replace_certificate_signing_request_approval(csr.metadata.name, csr)
        name = csr.metadata.name
        self.decided.add(name)
        if approve:
            self.made += 1
            self.approvals[verdict.node] = Approval(name)
            done = f"{len(self.approvals)}/{len(self.inventory)}"
            self.log(f"{verdict.node}: serving CSR {name} approved ({done})")
        else:
            self.log(f"{verdict.node}: serving CSR {name} denied: {verdict.message}")

    def _note_approved(self, document: Mapping[str, Any]) -> None:
        """Count a genuine CSR approved and issued: of a node's, the latest notAfter counts.

        One approved and never issued is not counted (nothing may wait for it: the CSR cleaner
        never collects it), unless this run approved it and waits for the signer.
        """
        status = document.get("status") or {}
        if not any(c.get("type") == "Approved" for c in status.get("conditions") or []):
            return
        verdict = evaluate({**document, "status": {}}, self.inventory)
        not_after = _not_after(status.get("certificate"))
        if verdict.action is not Action.APPROVE or not_after is None:
            return
        name = document["metadata"]["name"]
        approval = self.approvals.get(verdict.node)
        if (
            approval is None
            or approval.csr == name
            or (approval.not_after is not None and not_after > approval.not_after)
        ):
            self.approvals[verdict.node] = Approval(name, not_after)

    def _as_dict(self, csr: Any) -> dict[str, Any]:
        return self.api.api_client.sanitize_for_serialization(csr)


def _not_after(certificate: str | None) -> str | None:
    if not certificate:
        return None
    issued = x509.load_pem_x509_certificate(base64.b64decode(certificate))
    return issued.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def inventory_of(nodes: Iterable[Mapping[str, Any]]) -> dict[str, NodeIdentity]:
    """The provider's `nodes` input as the policy's inventory."""
    return {
        node["name"]: NodeIdentity.of(node["name"], node["ips"], node.get("dns_names", []))
        for node in nodes
    }
