"""The fake API server's Secrets and node Leases, and kube-controller-manager's tokencleaner.

What the token issue provider observes, with the real API's semantics:

- core/v1 Secrets, namespaced: POST (the name from the body, the namespace from the path;
  `stringData` merged into `data` as base64 and never returned, as the API server's
  conversion does; `type` defaults to Opaque; 409 AlreadyExists), GET (404 NotFound) and
  DELETE (a `Status` of Success naming the deleted object, as the generic registry answers
  for Secrets);
- coordination.k8s.io/v1 Leases, GET only: the tests play the kubelets, which renew the Lease
  named after their node in kube-node-lease every 10 s (`renew_lease`);
- `clean_tokens` is one pass of the tokencleaner (pkg/controller/bootstrap/tokencleaner.go):
  it deletes a `bootstrap.kubernetes.io/token` Secret in kube-system as soon as its
  `expiration` is in the past (the real controller re-queues each Secret for its expiration,
  so it acts at once). A Secret without an expiration never expires.
- kube-controller-manager's service-account token controller: a
  `kubernetes.io/service-account-token` Secret naming an existing ServiceAccount (annotation
  `kubernetes.io/service-account.name`) gets its `token`, `ca.crt` and `namespace` data and the
  account's uid annotation, after its creation (the create answer holds none: the real
  controller fills it in asynchronously), here when it is next read. Such a token is a random
  string, not a signed JWT: nothing in the fake authenticates with it.

Not modelled: list and watch of either, updates over HTTP, Secret validation by type.
"""

from __future__ import annotations

import base64
import copy
import datetime
import re
import secrets
import threading
import uuid
from collections.abc import Callable

from tests.fake_http import Route
from tests.fake_status import (
    Json,
    ResourceType,
    already_exists,
    deleted_status,
    method_not_allowed,
    name_to_create,
    not_found,
)
from tests.fake_store import Revision, rfc3339

SECRET_TYPE = ResourceType("", "v1", "Secret", "secrets")
LEASE_TYPE = ResourceType("coordination.k8s.io", "v1", "Lease", "leases")
BOOTSTRAP_TOKEN_TYPE = "bootstrap.kubernetes.io/token"
SERVICE_ACCOUNT_TOKEN_TYPE = "kubernetes.io/service-account-token"
ACCOUNT_NAME = "kubernetes.io/service-account.name"
ACCOUNT_UID = "kubernetes.io/service-account.uid"
NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40  # the kubelet's nodeLeaseDurationSeconds default

_SECRETS = re.compile(r"/api/v1/namespaces/(?P<namespace>[^/]+)/secrets(/(?P<name>[^/]+))?")
_LEASES = re.compile(
    r"/apis/coordination\.k8s\.io/v1/namespaces/(?P<namespace>[^/]+)/leases(/(?P<name>[^/]+))?"
)


def token_route(method: str, path: str) -> Route | None:
    """secret-create, secret-get, secret-delete or lease-get; None for other paths."""
    found = _SECRETS.fullmatch(path)
    if found is not None:
        kinds = {("POST", False): "create", ("GET", True): "get", ("DELETE", True): "delete"}
        kind = kinds.get((method, found["name"] is not None))
        if kind is None:
            raise method_not_allowed()
        return Route(f"secret-{kind}", found["name"], found["namespace"])
    found = _LEASES.fullmatch(path)
    if found is not None:
        if method != "GET" or found["name"] is None:
            raise method_not_allowed()
        return Route("lease-get", found["name"], found["namespace"])
    return None


class FakeTokens:
    """Secrets and Leases of one fake cluster, thread-safe, without HTTP."""

    def __init__(
        self,
        clock: Callable[[], datetime.datetime],
        revision: Revision,
        account_uid: Callable[[str, str], str | None] = lambda namespace, name: None,
    ) -> None:
        self._clock = clock
        self._revision = revision
        self._account_uid = account_uid
        self._lock = threading.Lock()
        self._secrets: dict[tuple[str, str], Json] = {}
        self._leases: dict[tuple[str, str], Json] = {}

    def serve(self, target: Route, body: Json) -> tuple[int, Json]:
        namespace, name = target.namespace or "", target.name or ""
        if target.kind == "secret-create":
            return 201, self.create_secret(namespace, body)
        if target.kind == "secret-get":
            return 200, self.secret(namespace, name)
        if target.kind == "secret-delete":
            return 200, self.delete_secret(namespace, name)
        return 200, self.lease(namespace, name)

    # --- Secrets ---

    def create_secret(self, namespace: str, body: Json) -> Json:
        metadata = dict(body.get("metadata") or {})
        name = name_to_create(namespace, body, SECRET_TYPE)
        data = dict(body.get("data") or {})
        for key, value in (body.get("stringData") or {}).items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        with self._lock:
            if (namespace, name) in self._secrets:
                raise already_exists(name, SECRET_TYPE)
            metadata |= {
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(self._revision.advance()),
                "creationTimestamp": rfc3339(self._clock()),
            }
            secret = {
                "kind": "Secret",
                "apiVersion": "v1",
                "metadata": metadata,
                "type": body.get("type") or "Opaque",
                "data": data,
            }
            self._secrets[namespace, name] = secret
            return copy.deepcopy(secret)

    def secret(self, namespace: str, name: str) -> Json:
        with self._lock:
            if (namespace, name) not in self._secrets:
                raise not_found(name, SECRET_TYPE)
            self._fill_account_token(self._secrets[namespace, name])
            return copy.deepcopy(self._secrets[namespace, name])

    def _fill_account_token(self, secret: Json) -> None:
        """The token controller's work on one Secret, once its account exists."""
        metadata = secret["metadata"]
        annotations = metadata.setdefault("annotations", {})
        if secret["type"] != SERVICE_ACCOUNT_TOKEN_TYPE or secret["data"].get("token"):
            return
        uid = self._account_uid(metadata["namespace"], annotations.get(ACCOUNT_NAME, ""))
        if uid is None:
            return
        annotations[ACCOUNT_UID] = uid
        for key, value in (
            ("token", secrets.token_urlsafe(32)),
            ("namespace", metadata["namespace"]),
            ("ca.crt", "fake CA"),
        ):
            secret["data"][key] = base64.b64encode(value.encode()).decode()
        metadata["resourceVersion"] = str(self._revision.advance())

    def label_secret(self, namespace: str, name: str, key: str, value: str) -> None:
        """Label a Secret as a controller does (kube-controller-manager's token cleaner)."""
        with self._lock:
            metadata = self._secrets[namespace, name]["metadata"]
            metadata.setdefault("labels", {})[key] = value
            metadata["resourceVersion"] = str(self._revision.advance())

    def secrets(self, namespace: str) -> list[Json]:
        with self._lock:
            found = sorted(self._secrets.items())
            return [copy.deepcopy(secret) for (ns, _), secret in found if ns == namespace]

    def delete_secret(self, namespace: str, name: str) -> Json:
        with self._lock:
            secret = self._secrets.pop((namespace, name), None)
            if secret is None:
                raise not_found(name, SECRET_TYPE)
            self._revision.advance()
        return deleted_status(SECRET_TYPE, name, secret["metadata"]["uid"])

    def clean_tokens(self, now: datetime.datetime) -> list[str]:
        """One pass of the tokencleaner at `now`: the names of the Secrets it deleted."""
        expired = []
        for secret in self.secrets("kube-system"):
            encoded = secret["data"].get("expiration")
            if secret["type"] != BOOTSTRAP_TOKEN_TYPE or not encoded:
                continue
            expiration = base64.b64decode(encoded).decode()
            moment = datetime.datetime.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ")
            if moment.replace(tzinfo=datetime.timezone.utc) <= now:
                expired.append(secret["metadata"]["name"])
        for name in expired:
            self.delete_secret("kube-system", name)
        return expired

    # --- Leases ---

    def renew_lease(self, node: str, at: datetime.datetime | None = None) -> Json:
        """The node's kubelet renews its Lease (creating it on its first renewal) at `at`."""
        renewed = (at or self._clock()).astimezone(datetime.timezone.utc)
        with self._lock:
            lease = self._leases.get((NODE_LEASE_NAMESPACE, node))
            if lease is None:
                metadata = {
                    "name": node,
                    "namespace": NODE_LEASE_NAMESPACE,
                    "uid": str(uuid.uuid4()),
                    "creationTimestamp": rfc3339(renewed),
                }
                lease = {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1"}
                lease |= {"metadata": metadata, "spec": {"holderIdentity": node}}
                self._leases[NODE_LEASE_NAMESPACE, node] = lease
            lease["metadata"]["resourceVersion"] = str(self._revision.advance())
            lease["spec"]["leaseDurationSeconds"] = LEASE_SECONDS
            lease["spec"]["renewTime"] = renewed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return copy.deepcopy(lease)

    def lease(self, namespace: str, name: str) -> Json:
        with self._lock:
            if (namespace, name) not in self._leases:
                raise not_found(name, LEASE_TYPE)
            return copy.deepcopy(self._leases[namespace, name])
