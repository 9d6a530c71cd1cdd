"""The tutorial's last check, automated: every node registered, every kubelet API authenticating.

Each kubelet is called on its API port with TLS verified against the cluster CA: its serving
certificate is CA-signed once approved, which is the point of approving it. An anonymous
request must be refused with 401, and a request with the token of an identity bound to
`system:kubelet-api-admin` for the check only (`verification_identity`) must read `/metrics`.
"""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from components.cluster.kube_watch import ListWatch
from components.verification.verification_identity import VerificationIdentity

RETRY_SECONDS = 3
METRICS_PATH = "/metrics"


class VerificationError(Exception):
    """A node or kubelet failed the check; the message names the node, request and status."""


class KubeletUnreachableError(VerificationError):
    """The kubelet could not be reached over verified TLS; it may be about to be.

    Right after approval the kubelet still serves its self-signed certificate until it has
    fetched the issued one, and a restarting kubelet refuses connections for a moment.
    """


@dataclass(frozen=True)
class KubeletTarget:
    """Where one node's kubelet API answers."""

    name: str
    address: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"https://{host}:{self.port}{METRICS_PATH}"


def wait_until_registered(
    core: client.CoreV1Api, names: Iterable[str], timeout_seconds: float, log: Callable[[str], None]
) -> None:
    """Return once a Node of every name exists, saying of each whether it is Ready and why not.

    Registering is what the kubelet achieves itself. Ready also needs a network plugin (CNI),
    which on a new cluster usually comes after the nodes join, so waiting for it would fail the
    first `pulumi up`; a NotReady node is reported, not failed. List once, then watch.
    """
    waiting = set(names)
    total = len(waiting)

    def handle(node: Any) -> None:
        name = node.metadata.name
        if name in waiting:
            waiting.discard(name)
            log(f"{name}: registered ({total - len(waiting)}/{total}), {readiness(node)}")

    nodes = ListWatch(core.list_node, handle)
    nodes.sync()
    nodes.follow_until(lambda: not waiting, time.monotonic() + timeout_seconds)
    if waiting:
        raise VerificationError(
            f"no Node registered after {timeout_seconds:g}s for {', '.join(sorted(waiting))} "
            "(a kubelet registers its Node once its client certificate is issued: look at "
            "`journalctl -u <kubelet unit>` on each)"
        )


def readiness(node: Any) -> str:
    """`Ready`, or `not Ready: <reason>: <message>` from the Node's Ready condition."""
    conditions = (node.status and node.status.conditions) or []
    ready = next((c for c in conditions if c.type == "Ready"), None)
    if ready is None:
        return "not Ready yet (no Ready condition posted)"
    if ready.status == "True":
        return "Ready"
    return f"not Ready: {ready.reason}: {ready.message}"


def check_kubelet_api(target: KubeletTarget, ca_pem: str, token: str, timeout: float) -> None:
    """Anonymous must get 401 and the token 200, over TLS verified against the cluster CA."""
    anonymous = _get(target, ca_pem, None, timeout)
    if anonymous != 401:
        raise VerificationError(
            f"{target.name}: GET {target.url} without credentials answered {anonymous}, "
            "expected 401: the kubelet must refuse anonymous requests"
        )
    authorized = _get(target, ca_pem, token, timeout)
    if authorized != 200:
        raise VerificationError(
            f"{target.name}: GET {target.url} with the verification token answered "
            f"{authorized}, expected 200 (webhook authentication and authorization on the kubelet)"
        )


def _get(target: KubeletTarget, ca_pem: str, token: str | None, timeout: float) -> int:
    context = ssl.create_default_context(cadata=ca_pem)
    connection = http.client.HTTPSConnection(
        target.address, target.port, context=context, timeout=timeout
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        connection.request("GET", METRICS_PATH, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except ssl.SSLCertVerificationError as error:
        raise KubeletUnreachableError(
            f"{target.name}: GET {target.url}: the kubelet's serving certificate does not verify "
            f"against the cluster CA ({error.verify_message}); is its serving CSR approved?"
        ) from None
    except OSError as error:
        raise KubeletUnreachableError(f"{target.name}: GET {target.url}: {error}") from None
    finally:
        connection.close()


def verify(
    api: client.ApiClient,
    targets: list[KubeletTarget],
    ca_pem: str,
    timeout_seconds: float,
    log: Callable[[str], None],
    identity: str,
) -> None:
    """Every node registered, then every kubelet API checked; raises on the first failure.

    A kubelet not reachable over verified TLS yet is tried again every few seconds until the
    deadline; a wrong answer (anything but 401, then 200) fails at once. The identity the
    check uses exists only while the kubelets are called.
    """
    deadline = time.monotonic() + timeout_seconds
    wait_until_registered(client.CoreV1Api(api), [t.name for t in targets], timeout_seconds, log)
    with VerificationIdentity(api, log, identity) as token:
        for target in targets:
            _check_until_reachable(target, ca_pem, token, deadline, log)


def _check_until_reachable(
    target: KubeletTarget, ca_pem: str, token: str, deadline: float, log: Callable[[str], None]
) -> None:
    while True:
        try:
            check_kubelet_api(target, ca_pem, token, timeout=10)
            break
        except KubeletUnreachableError as error:
            if time.monotonic() + RETRY_SECONDS > deadline:
                raise
            log(f"{error}; trying again in {RETRY_SECONDS}s")
            time.sleep(RETRY_SECONDS)
    log(f"{target.name}: kubelet API refuses anonymous (401) and serves {METRICS_PATH} (200)")
