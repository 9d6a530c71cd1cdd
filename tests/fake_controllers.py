"""kube-controller-manager's two CSR controllers, played against the fake API server's store.

- `Signer` is the csrsigning controller: it issues every CSR as soon as it is approved (and
  never one that is denied or failed), with the fake's CA, as `FakeApiServer.issue` does.
- `clean_csrs` is one pass of the CSR cleaner (pkg/controller/certificates/cleaner), which
  kube-controller-manager runs every hour: an approved and issued CSR goes 1 hour after its
  Approved condition's lastUpdateTime, a denied or failed one 1 hour after that condition's,
  a pending one (no condition at all) 24 hours after its creation, and an issued one whose
  certificate has expired at once. An approved CSR that was never issued matches no rule and
  stays.

Both act on the store directly (no HTTP), so they are not in the fake's request counts.
"""

from __future__ import annotations

import base64
import datetime
import threading
from typing import Any

from cryptography import x509

from tests.fake_apiserver import FakeApiServer
from tests.fake_status import Json

APPROVED_EXPIRATION = datetime.timedelta(hours=1)
DENIED_EXPIRATION = datetime.timedelta(hours=1)  # the cleaner uses it for Failed too
PENDING_EXPIRATION = datetime.timedelta(hours=24)


class Signer:
    """Issues every approved CSR, from a thread reading the store's events (a watcher of its
    own, so it counts in `FakeApiServer.wait_for_watchers`)."""

    def __init__(self, server: FakeApiServer) -> None:
        self._server = server
        self._watcher = server.store.subscribe(server.resource_version)
        self._thread = threading.Thread(target=self._run, name="fake-signer")
        self.issued: list[str] = []

    def _run(self) -> None:
        try:
            while isinstance(event := self._watcher.events.get(), dict):
                csr = event["object"]
                types = {c["type"] for c in csr["status"].get("conditions", [])}
                if (
                    event["type"] == "MODIFIED"
                    and types == {"Approved"}
                    and not csr["status"].get("certificate")
                ):
                    self._server.issue(csr["metadata"]["name"])
                    self.issued.append(csr["metadata"]["name"])
        finally:
            self._server.store.unsubscribe(self._watcher)

    def __enter__(self) -> Signer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watcher.events.put(None)
        self._thread.join(timeout=5)


def clean_csrs(server: FakeApiServer, now: datetime.datetime) -> list[str]:
    """One pass of the CSR cleaner as if it ran at `now`: the names of the CSRs it deleted."""
    deleted = [csr["metadata"]["name"] for csr in server.list() if _collectable(csr, now)]
    for name in deleted:
        server.delete(name)
    return deleted


def _collectable(csr: Json, now: datetime.datetime) -> bool:
    status = csr.get("status") or {}
    conditions = status.get("conditions") or []
    issued = bool(status.get("certificate"))
    if not conditions:
        return _older(csr["metadata"]["creationTimestamp"], PENDING_EXPIRATION, now)
    for condition in conditions:
        kind, updated = condition["type"], condition.get("lastUpdateTime", "")
        if kind == "Approved" and issued and _older(updated, APPROVED_EXPIRATION, now):
            return True
        if kind == "Approved" and issued and _expired(status["certificate"], now):
            return True
        if kind in ("Denied", "Failed") and _older(updated, DENIED_EXPIRATION, now):
            return True
    return False


def _older(timestamp: str, age: datetime.timedelta, now: datetime.datetime) -> bool:
    """isOlderThan: a set time more than `age` before `now`."""
    if not timestamp:
        return False
    # metav1.Time as the fake server writes it; fromisoformat reads its `Z` only from 3.11 on.
    moment = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ")
    return now - moment.replace(tzinfo=datetime.timezone.utc) > age


def _expired(certificate: Any, now: datetime.datetime) -> bool:
    issued = x509.load_pem_x509_certificate(base64.b64decode(certificate))
    return now > issued.not_valid_after_utc
