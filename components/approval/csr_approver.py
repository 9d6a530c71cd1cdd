"""Approving the stack's kubelet serving CSRs through the certificates API: list once, then watch.

The policy (`csr_policy`) decides; this module talks to the API server. It lists the CSRs once
and watches from that resourceVersion, so a thousand pending requests cost one list, and a new
request is seen as soon as the API server has it. Approval and denial go through the
`/approval` subresource; a 409 means someone changed the CSR meanwhile, so it is read again
and judged again.

A node is done when it holds an issued serving certificate (`serving_certificate`): one of its
CSRs still listed, approved and issued, or else the certificate its kubelet serves, read from
its API port. Only a node whose kubelet (re)started in this update may still ask for one, so
only such a node is waited for.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from components.approval.csr_policy import (
    APPROVED_REASON,
    DENIED_REASON,
    Action,
    NodeIdentity,
    Verdict,
    evaluate,
)
from components.approval.serving_certificate import (
    certificate_problem,
    issued_certificate,
    rfc3339,
    served_certificate,
)
from components.cluster.kube_watch import ListWatch, request_timeout

_CONFLICT_RETRIES = 5
# Kubelets still waited for are read again this often, and each read may take this long.
PROBE_INTERVAL_SECONDS = 10
PROBE_TIMEOUT_SECONDS = 5
PROBE_WORKERS = 16
_KUBELET = "kubelet"  # the source of a problem found on the kubelet's port, not in a CSR
NOT_RESTARTED = (
    "no approved, issued serving certificate, and no CSR to wait for (the kubelet did not "
    "restart in this update, so it asks for none)"
)
MAKE_IT_ASK = (
    "To make a kubelet ask for a new serving certificate, remove kubelet-server-*.pem from its "
    "cert dir and restart it. "
)


@dataclass
class Approval:
    """A node's issued serving certificate: the CSR it came from (None when that CSR is gone
    and the certificate was read from the kubelet) and its notAfter."""

    csr: str | None
    not_after: str


class ApprovalError(Exception):
    """Some nodes hold no approved, issued serving certificate; says why for each."""

    def __init__(
        self, problems: Mapping[str, str], headline: str, made: int, advice: str = ""
    ) -> None:
        self.waiting = sorted(problems)
        details = "; ".join(
            f"{node}: {problems[node]}; look at `journalctl -u kubelet` on {node} and "
            "`kubectl get csr`"
            for node in self.waiting
        )
        super().__init__(
            f"{headline} for {len(self.waiting)} node(s): {', '.join(self.waiting)} "
            f"({details}). {advice}The {made} approval(s) made stay in place."
        )


class ApprovalTimeoutError(ApprovalError):
    """Raised when some nodes still hold no approved, issued serving certificate at the deadline."""

    def __init__(self, problems: Mapping[str, str], timeout_seconds: float, made: int) -> None:
        headline = f"no approved, issued serving certificate after {timeout_seconds:g}s"
        super().__init__(problems, headline, made)


@dataclass
class ServingCsrApprover:
    """Approves genuine serving CSRs of `inventory` until the required nodes hold certificates.

    `ca` is the cluster CA their certificates must be signed by; `kubelets` says where each
    node's kubelet serves (address, port).
    """

    api: client.CertificatesV1Api
    inventory: Mapping[str, NodeIdentity]
    ca: x509.Certificate
    kubelets: Mapping[str, tuple[str, int]]
    log: Callable[[str], None] = print
    certificates: dict[str, Approval] = field(default_factory=dict)
    awaiting: dict[str, str] = field(default_factory=dict)  # CSR approved here -> its node
    problems: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> source -> why
    decided: set[str] = field(default_factory=set)
    made: int = 0
    deadline: float | None = None

    def run(
        self,
        required: Iterable[str],
        timeout_seconds: float,
        *,
        restarted: Iterable[str] | None = None,
    ) -> dict[str, Approval]:
        """Approve until each required node holds an issued serving certificate, or fail.

        `restarted` are the required nodes whose kubelet (re)started in this update (by
        default all): they may still file a new CSR and are waited for until the deadline.
        Any other required node holding none fails the run at once. A node whose CSR this run
        approved is waited for until the signer issued it, to report its notAfter. Returns the
        certificate of every node seen holding one, required or not.
        """
        required = set(required)
        restarted = required if restarted is None else required & set(restarted)
        self.deadline = time.monotonic() + timeout_seconds
        csrs = ListWatch(self.api.list_certificate_signing_request, self._consider)
        with contextlib.suppress(TimeoutError):  # the deadline passed during a request
            csrs.sync(self.deadline)
            self._probe(required)
            stuck = {n for n in required - restarted if self._lacking(n)}
            if stuck:
                raise ApprovalError(self._explain(stuck), NOT_RESTARTED, self.made, MAKE_IT_ASK)
            while self._waiting(required) and time.monotonic() < self.deadline:
                until = min(self.deadline, time.monotonic() + PROBE_INTERVAL_SECONDS)
                csrs.follow_until(lambda: not self._waiting(required), until)
                self._probe(self._waiting(required) & restarted)
        if waiting := self._waiting(required):
            raise ApprovalTimeoutError(self._explain(waiting), timeout_seconds, self.made)
        return dict(self.certificates)

    def _waiting(self, required: set[str]) -> set[str]:
        """Required nodes holding no certificate, and nodes whose approval awaits issuance."""
        return {n for n in required if n not in self.certificates} | set(self.awaiting.values())

    def _lacking(self, node: str) -> bool:
        """Whether the node holds no certificate and no approval of it awaits issuance."""
        return node not in self.certificates and node not in self.awaiting.values()

    def _explain(self, nodes: Iterable[str]) -> dict[str, str]:
        explained = {}
        for node in nodes:
            problems = self.problems.get(node, {})
            seen = [] if set(problems) - {_KUBELET} else ["no serving CSR of it seen"]
            explained[node] = "; ".join([*seen, *problems.values()])
        return explained

    def _count(self, node: str, approval: Approval) -> None:
        """Take a certificate of the node: of several, the one with the latest notAfter."""
        current = self.certificates.get(node)
        if current is None or approval.not_after > current.not_after:
            self.certificates[node] = approval

    # reading the kubelets

    def _probe(self, nodes: Iterable[str]) -> None:
        """Read the certificate served by the kubelet of each node still lacking one."""
        targets = sorted(n for n in nodes if self._lacking(n))
        if not targets:
            return
        timeout = min(PROBE_TIMEOUT_SECONDS, request_timeout(self.deadline))
        with ThreadPoolExecutor(max_workers=min(PROBE_WORKERS, len(targets))) as pool:
            outcomes = list(pool.map(lambda node: self._served(node, timeout), targets))
        for node, outcome in zip(targets, outcomes, strict=True):
            if isinstance(outcome, Approval):
                self._count(node, outcome)
            else:
                self.problems.setdefault(node, {})[_KUBELET] = outcome

    def _served(self, node: str, timeout: float) -> Approval | str:
        """The node's certificate as its kubelet serves it, or why that one does not count."""
        address, port = self.kubelets[node]
        where = f"its kubelet at {f'[{address}]' if ':' in address else address}:{port}"
        try:
            certificate = served_certificate(address, port, timeout)
        except (OSError, ValueError) as error:
            return f"{where} gave no certificate ({error})"
        now = datetime.now(timezone.utc)
        problem = certificate_problem(certificate, self.inventory[node], self.ca, now)
        if problem:
            return f"{where} serves a certificate that does not count: {problem}"
        return Approval(None, rfc3339(certificate.not_valid_after_utc))

    # judging the CSRs

    def _consider(self, csr: Any) -> None:
        """Judge one CSR and act on the verdict, judging again after a conflict.

        A CSR decided in this run is not judged again when the watch replays an older copy.
        """
        for _ in range(_CONFLICT_RETRIES):
            document = self._as_dict(csr)
            self._note_issued(document)
            verdict = evaluate(document, self.inventory)
            if verdict.action is Action.IGNORE or csr.metadata.name in self.decided:
                return
            try:
                self._decide(csr, verdict)
                return
            except ApiException as error:
                if error.status != 409:
                    raise
                csr = self.api.read_certificate_signing_request(
                    csr.metadata.name, _request_timeout=request_timeout(self.deadline)
                )
        raise RuntimeError(f"{csr.metadata.name}: kept changing under {_CONFLICT_RETRIES} tries")

    def _decide(self, csr: Any, verdict: Verdict) -> None:
        approve = verdict.action is Action.APPROVE
        condition = client.V1CertificateSigningRequestCondition(
            type="Approved" if approve else "Denied",
            status="True",
            reason=APPROVED_REASON if approve else DENIED_REASON,
            message=f"kubelet-bootstrap: {verdict.message}",
            last_update_time=datetime.now(timezone.utc),
        )
        csr.status = csr.status or client.V1CertificateSigningRequestStatus()
        csr.status.conditions = [*(csr.status.conditions or []), condition]
        name = csr.metadata.name
        self.api.replace_certificate_signing_request_approval(
            name, csr, _request_timeout=request_timeout(self.deadline)
        )
        self.decided.add(name)
        problems = self.problems.setdefault(verdict.node, {})
        if approve:
            self.made += 1
            self.awaiting[name] = verdict.node
            problems[name] = (
                f"serving CSR {name} approved, not issued yet (does kube-controller-manager "
                "sign, with --cluster-signing-cert-file?)"
            )
            holding = len(self.certificates.keys() | set(self.awaiting.values()))
            self.log(
                f"{verdict.node}: serving CSR {name} approved ({holding}/{len(self.inventory)})"
            )
        else:
            problems[name] = f"denied {verdict.message}"
            self.log(f"{verdict.node}: serving CSR {name} denied: {verdict.message}")

    def _note_issued(self, document: Mapping[str, Any]) -> None:
        """Count the certificate of a genuine CSR approved and issued.

        An approved CSR never issued stays for good (the CSR cleaner never collects it), so
        it counts for nothing and only one approved by this run is waited for. A request is
        judged against the inventory as it is now: one naming what the stack no longer gives
        its node does not count.
        """
        status = document.get("status") or {}
        if not status.get("certificate") or not any(
            c.get("type") == "Approved" for c in status.get("conditions") or []
        ):
            return
        name = document["metadata"]["name"]
        verdict = evaluate({**document, "status": {}}, self.inventory)
        if verdict.action is Action.DENY:
            self.problems.setdefault(verdict.node, {})[name] = (
                f"no longer counts: {verdict.message}"
            )
        if verdict.action is not Action.APPROVE:
            return
        node = verdict.node
        self.awaiting.pop(name, None)
        problems = self.problems.setdefault(node, {})
        problems.pop(name, None)
        certificate = issued_certificate(status["certificate"])
        problem = certificate_problem(
            certificate, self.inventory[node], self.ca, datetime.now(timezone.utc)
        )
        if problem:
            problems[name] = (
                f"serving CSR {name} was issued a certificate that does not count: {problem}"
            )
        else:
            self._count(node, Approval(name, rfc3339(certificate.not_valid_after_utc)))

    def _as_dict(self, csr: Any) -> dict[str, Any]:
        return self.api.api_client.sanitize_for_serialization(csr)


def pending_requests(
    api: client.CertificatesV1Api, inventory: Mapping[str, NodeIdentity]
) -> list[str]:
    """Names of the managed nodes' serving CSRs that wait for a decision (for refresh)."""
    listing = api.list_certificate_signing_request(_request_timeout=request_timeout(None))
    return sorted(
        csr.metadata.name
        for csr in listing.items
        if evaluate(api.api_client.sanitize_for_serialization(csr), inventory).action
        is not Action.IGNORE
    )


def inventory_of(nodes: Iterable[Mapping[str, Any]]) -> dict[str, NodeIdentity]:
    """The provider's `nodes` input as the policy's inventory."""
    return {
        node["name"]: NodeIdentity.of(node["name"], node["ips"], node.get("dns_names", []))
        for node in nodes
    }


def kubelets_of(nodes: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, int]]:
    """Where each node of the provider's `nodes` input serves its kubelet API."""
    return {node["name"]: (node["address"], int(node["port"])) for node in nodes}
