"""A fake kube-apiserver serving the certificates.k8s.io/v1 CSR API over HTTPS, for tests.

It exists so the CSR approver can be tested against the official `kubernetes` client end to
end (TLS, bearer token, list + watch, the /approval subresource, 409 on a stale
resourceVersion) without a cluster. It keeps the real API's semantics where an approver can
observe them:

- one global, monotonically increasing resourceVersion; every change is an event;
- LIST returns a `CertificateSigningRequestList` whose `metadata.resourceVersion` is the point
  to WATCH from; WATCH streams newline-delimited JSON events (chunked) for every change after
  that point, then live changes, and closes at `timeoutSeconds`; a point older than the
  compaction point gets an `ERROR` event with a 410 `Expired` Status, in a 200 stream, exactly
  as the watch cache answers (the client retries once, then raises ApiException(410));
- PUT `.../{name}/approval` only changes `status.conditions`, 409s on a stale resourceVersion,
  fills condition timestamps, and refuses (422) Approved together with Denied, removing an
  Approved/Denied/Failed condition, or a True-only condition with another status;
- errors are `Status` objects, so the client raises `ApiException` with the right `status`.

`hold_next` plays a network fault rather than the API server: a connection that a NAT or load
balancer dropped without telling either end. The request is read and then nothing more comes
back (a watch gets its response headers first, as a stream dropped midway), and the connection
stays open until the hold ends, so only a client-side timeout gets the client out.

CSR selectors, PATCH and the CSR /status subresource are not implemented, nor is authorization
of requests to the fake itself (every token it accepts acts as a cluster admin).
Objects added with `FakeApiServer.create` skip validation on purpose: an approver must not
rely on the API server having rejected a malformed request.

For the verification step (wait until every Node is registered, then call each kubelet with a
short-lived ServiceAccount token) it also serves, with the same semantics:

- core/v1 Nodes: LIST (with `metadata.name` field selectors and equality label selectors),
  WATCH and GET, changed only through test hooks (`add_node`, `set_node_ready`, ...) the way a
  kubelet and the node lifecycle controller change them. The resourceVersion is shared with the
  CSRs, as etcd's revision is: a Node's version is never reused by a CSR and vice versa;
- ServiceAccount create, GET and DELETE (which answers with the deleted account, and revokes
  its tokens at once) and the TokenRequest subresource
  (`POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`): 404 for a missing account,
  422 for expirationSeconds under 10 minutes, audiences defaulting to the API server's. Issued
  tokens are what a kubelet's webhook TokenReview checks (`review_token`, `token_subject`);
  they do not authenticate to this fake API server itself;
- ClusterRoleBindings and the SubjectAccessReview API a kubelet's webhook authorizer asks
  (`subject_access_review` is the same question as a hook): see `tests.fake_rbac`.

For bootstrap token issue: Secrets, node Leases and the tokencleaner (`server.tokens`): see
`tests.fake_tokens`.

For draining a node: Pods, PodDisruptionBudgets, evictions, Node PATCH and DELETE; see
`tests.fake_workloads` (`server.workloads` holds its hooks).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import ipaddress
import json
import queue
import re
import secrets
import socket
import socketserver
import ssl
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.factories import certificate_builder
from tests.fake_workloads import workload_route

GROUP = "certificates.k8s.io"
API_VERSION = "certificates.k8s.io/v1"
KIND = "CertificateSigningRequest"
RESOURCE = "certificatesigningrequests"
COLLECTION_PATH = f"/apis/{GROUP}/v1/{RESOURCE}"
BUMP_ANNOTATION = "fake-apiserver.test/bumps"

NODES_PATH = "/api/v1/nodes"
# What a kube-apiserver started with --service-account-issuer=https://kubernetes.default.svc
# .cluster.local accepts by default; a token for other audiences fails its TokenReview.
DEFAULT_API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)
DEFAULT_TOKEN_SECONDS = 3600  # TokenRequest defaulting when spec.expirationSeconds is unset
MIN_TOKEN_SECONDS = 600
MAX_TOKEN_SECONDS = 1 << 32
KUBELET_PORT = 10250
FAKE_KUBELET_VERSION = "v1.31.4"

Clock = Callable[[], datetime.datetime]
Json = dict[str, Any]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(moment: datetime.datetime) -> str:
    """metav1.Time as JSON: seconds precision, UTC, `Z`."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ResourceType:
    """Which API resource a store or an error is about: the names errors and objects carry."""

    group: str
    version: str
    kind: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How NotFound and Conflict messages name the resource: `nodes`, `x.example.com`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """How Invalid messages name the kind: `Node`, `TokenRequest.authentication.k8s.io`."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def details(self, name: str) -> Json:
        """StatusDetails: the core group is omitted, as Go's omitempty does."""
        details: Json = {"name": name}
        if self.group:
            details["group"] = self.group
        details["kind"] = self.plural
        return details


CSR_TYPE = ResourceType(GROUP, "v1", KIND, RESOURCE)
NODE_TYPE = ResourceType("", "v1", "Node", "nodes")
SERVICE_ACCOUNT_TYPE = ResourceType("", "v1", "ServiceAccount", "serviceaccounts")
TOKEN_REQUEST_TYPE = ResourceType("authentication.k8s.io", "v1", "TokenRequest", "token")


# --- Status objects ---------------------------------------------------------------------------


class ApiError(Exception):
    """An error the API server answers with a `Status` object and HTTP `code`."""

    def __init__(self, code: int, reason: str, message: str, details: Json | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Json:
        body: Json = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def deleted_status(resource: ResourceType, name: str, uid: str) -> Json:
    """What a DELETE answers once the object is gone: a Success Status naming it."""
    details = {**resource.details(name), "uid": uid}
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def name_to_create(namespace: str, body: Json, resource: ResourceType) -> str:
    """The name a namespaced POST creates, checked as the API server checks it: the body's
    namespace, if it has one, is the path's, and a name is given."""
    metadata = dict(body.get("metadata") or {})
    if metadata.get("namespace", namespace) != namespace:
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    name = metadata.get("name") or ""
    if not name:
        detail = "name or generateName is required"
        error = FieldError("Required value", "metadata.name", detail)
        raise invalid("", [error], resource)
    return str(name)


def _details(name: str) -> Json:
    return {"name": name, "group": GROUP, "kind": RESOURCE}


def not_found(name: str, resource: ResourceType = CSR_TYPE) -> ApiError:
    message = f'{resource.qualified} "{name}" not found'
    return ApiError(404, "NotFound", message, resource.details(name))


def conflict(name: str) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {RESOURCE}.{GROUP} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, _details(name))


def already_exists(name: str, resource: ResourceType = CSR_TYPE) -> ApiError:
    message = f'{resource.qualified} "{name}" already exists'
    return ApiError(409, "AlreadyExists", message, resource.details(name))


def expired(since: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {since} ({oldest})")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


# --- validation (k8s.io/kubernetes pkg/apis/certificates/validation) ---------------------------

_NO_VALUE: Any = object()
_CAUSE_REASONS = {
    "Invalid value": "FieldValueInvalid",
    "Required value": "FieldValueRequired",
    "Unsupported value": "FieldValueNotSupported",
    "Duplicate value": "FieldValueDuplicate",
    "Forbidden": "FieldValueForbidden",
}
TRUE_ONLY_CONDITIONS = ("Approved", "Denied", "Failed")
KNOWN_USAGES = frozenset(
    {
        "signing",
        "digital signature",
        "content commitment",
        "key encipherment",
        "key agreement",
        "data encipherment",
        "cert sign",
        "crl sign",
        "encipher only",
        "decipher only",
        "any",
        "server auth",
        "client auth",
        "code signing",
        "email protection",
        "s/mime",
        "ipsec end system",
        "ipsec tunnel",
        "ipsec user",
        "timestamping",
        "ocsp signing",
        "microsoft sgc",
        "netscape sgc",
    }
)


@dataclass(frozen=True)
class FieldError:
    """One `field.Error`, printed the way Go prints it inside an Invalid Status."""

    type: str
    field: str
    detail: str = ""
    value: Any = _NO_VALUE

    def body(self) -> str:
        text = self.type
        if self.value is not _NO_VALUE:
            text += f": {json.dumps(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def invalid(name: str, errors: list[FieldError], resource: ResourceType = CSR_TYPE) -> ApiError:
    listed = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(map(str, errors)) + "]"
    causes = [
        {"reason": _CAUSE_REASONS[e.type], "message": e.body(), "field": e.field} for e in errors
    ]
    details: Json = {"name": name}
    if resource.group:
        details["group"] = resource.group
    details |= {"kind": resource.kind, "causes": causes}
    message = f'{resource.qualified_kind} "{name}" is invalid: {listed}'
    return ApiError(422, "Invalid", message, details)


def validate_conditions(conditions: list[Json]) -> list[FieldError]:
    """validateConditions: types required and unique, True-only types, Approved xor Denied."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, condition in enumerate(conditions):
        path = f"status.conditions[{i}]"
        kind, status = condition.get("type", ""), condition.get("status", "")
        if not kind:
            errors.append(FieldError("Required value", f"{path}.type"))
        allowed = ("True",) if kind in TRUE_ONLY_CONDITIONS else ("False", "True", "Unknown")
        if not status:
            errors.append(FieldError("Required value", f"{path}.status"))
        elif status not in allowed:
            supported = ", ".join(f'"{s}"' for s in allowed)
            errors.append(
                FieldError(
                    "Unsupported value", f"{path}.status", f"supported values: {supported}", status
                )
            )
        if kind in ("Approved", "Denied") and {"Approved", "Denied"} <= seen | {kind}:
            message = "Approved and Denied conditions are mutually exclusive"
            errors.append(FieldError("Invalid value", f"{path}.type", message, kind))
        if kind in seen:
            errors.append(FieldError("Duplicate value", f"{path}.type", value=kind))
        seen.add(kind)
    return errors


def validate_no_removal(old: list[Json], new: list[Json]) -> list[FieldError]:
    """Approved, Denied and Failed conditions can never be removed once added."""
    errors = []
    for kind in TRUE_ONLY_CONDITIONS:
        if sum(c.get("type") == kind for c in new) < sum(c.get("type") == kind for c in old):
            detail = f'updates may not remove a condition of type "{kind}"'
            errors.append(FieldError("Forbidden", "status.conditions", detail))
    return errors


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


def parse_request(pem: bytes) -> x509.CertificateSigningRequest:
    """certificates.ParseCSR + CheckSignature: the first PEM block only, which must verify."""
    match = _PEM_BLOCK.search(pem)
    if match is None or match.group(1) != b"CERTIFICATE REQUEST":
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        request = x509.load_der_x509_csr(base64.b64decode(match.group(2)))
    except ValueError as error:
        raise ValueError(f"asn1: structure error: {error}") from error
    if not request.is_signature_valid:
        raise ValueError("x509: signature verification failure")
    return request


def validate_create(csr: Json) -> list[FieldError]:
    """The create-time checks of validateCertificateSigningRequest that a client can trip."""
    spec = csr.get("spec") or {}
    errors: list[FieldError] = []
    try:
        parse_request(base64.b64decode(spec.get("request", ""), validate=True))
    except ValueError as error:
        errors.append(FieldError("Invalid value", "spec.request", str(error), "<request>"))
    usages = spec.get("usages") or []
    if not usages:
        errors.append(FieldError("Required value", "spec.usages", "usages must be provided"))
    for i, usage in enumerate(usages):
        if usage not in KNOWN_USAGES:
            errors.append(FieldError("Unsupported value", f"spec.usages[{i}]", value=usage))
        if usage in usages[:i]:
            errors.append(FieldError("Duplicate value", f"spec.usages[{i}]", value=usage))
    signer = spec.get("signerName", "")
    if not signer:
        errors.append(
            FieldError("Required value", "spec.signerName", "signerName must be provided")
        )
    elif signer.count("/") != 1 or "." not in signer.split("/")[0]:
        detail = "must be a fully qualified domain and path of the form 'example.com/signer-name'"
        errors.append(FieldError("Invalid value", "spec.signerName", detail, signer))
    seconds = spec.get("expirationSeconds")
    if seconds is not None and seconds < 600:
        detail = "may not specify a duration less than 600 seconds (10 minutes)"
        errors.append(FieldError("Invalid value", "spec.expirationSeconds", detail, seconds))
    return errors


def _normalize_time(value: Any, path: str) -> str:
    text = str(value)
    # Before 3.11, fromisoformat does not read RFC 3339's `Z`.
    text = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        return rfc3339(datetime.datetime.fromisoformat(text))
    except ValueError as error:
        raise bad_request(f'{path}: parsing time "{value}" as RFC3339: {error}') from error


def populate_condition_timestamps(
    new: list[Json], old: list[Json], now: datetime.datetime
) -> list[Json]:
    """populateConditionTimestamps: set missing lastUpdateTime / lastTransitionTime.

    lastTransitionTime is inherited from an old condition with the same type and status.
    """
    result = []
    for i, condition in enumerate(new):
        condition = dict(condition)
        for key in ("lastUpdateTime", "lastTransitionTime"):
            if condition.get(key):
                condition[key] = _normalize_time(condition[key], f"status.conditions[{i}].{key}")
        if not condition.get("lastUpdateTime"):
            condition["lastUpdateTime"] = rfc3339(now)
        if not condition.get("lastTransitionTime"):
            inherited = [
                c.get("lastTransitionTime")
                for c in old
                if (c.get("type"), c.get("status"))
                == (condition.get("type"), condition.get("status"))
            ]
            condition["lastTransitionTime"] = next(filter(None, inherited), rfc3339(now))
        result.append({k: v for k, v in condition.items() if v is not None})
    return result


def _conditions_of(body: Json) -> list[Json]:
    conditions = (body.get("status") or {}).get("conditions") or []
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        raise bad_request("status.conditions: expected a list of objects")
    return conditions


# --- the store: objects, resourceVersions, events, watchers ------------------------------------

_CLOSE = object()


class Revision:
    """The cluster-wide resourceVersion counter (etcd's revision), shared by every store.

    Sharing it keeps one invariant clients can rely on: a resourceVersion is never reused, even
    across kinds, and a LIST's version is not older than any change it reflects.
    """

    def __init__(self, start: int = 100) -> None:  # not 0: "0" means "any version" to a watch
        self._value = start
        self._lock = threading.Lock()

    @property
    def current(self) -> int:
        with self._lock:
            return self._value

    def advance(self) -> int:
        with self._lock:
            self._value += 1
            return self._value


@dataclass(eq=False)  # watchers are compared by identity
class Watcher:
    """One open watch: the events it still has to send, and whether it wants bookmarks.

    `accepts` filters object events (a field or label selector); BOOKMARKs always pass.
    """

    backlog: list[Json]
    bookmarks: bool
    events: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)
    accepts: Callable[[Json], bool] | None = None

    def stream(self, deadline: float) -> Iterator[Json]:
        """Backlog first, then live events, until the deadline or the server stops."""
        for event in self.backlog:
            if self._wanted(event):
                yield event
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                return
            if event is _CLOSE:
                return
            if self._wanted(event):
                yield event

    def _wanted(self, event: Json) -> bool:
        return self.accepts is None or event["type"] == "BOOKMARK" or self.accepts(event["object"])


class ObjectStore:
    """The API server's storage and watch cache for one cluster-scoped kind, without HTTP.

    Thread-safe. Every change takes the next resourceVersion from the shared `Revision` and is
    an event (ADDED, MODIFIED, DELETED) that open watches receive and later watches replay.
    """

    def __init__(
        self, clock: Clock, resource: ResourceType, revision: Revision | None = None
    ) -> None:
        self._clock = clock
        self._resource = resource
        self._revision = revision or Revision()
        self._lock = threading.Condition()
        self._objects: dict[str, Json] = {}
        self._events: list[tuple[int, Json]] = []
        self._compacted = 0
        self._watchers: list[Watcher] = []
        self._closed = False

    # reads

    @property
    def resource(self) -> ResourceType:
        return self._resource

    @property
    def resource_version(self) -> int:
        return self._revision.current

    def get(self, name: str) -> Json:
        with self._lock:
            return copy.deepcopy(self._require(name))

    def list(self) -> tuple[list[Json], int]:
        with self._lock:
            items = [copy.deepcopy(self._objects[n]) for n in sorted(self._objects)]
            return items, self._revision.current

    def _require(self, name: str) -> Json:
        if name not in self._objects:
            raise not_found(name, self._resource)
        return self._objects[name]

    # writes

    def create(self, obj: Json) -> Json:
        """Store a new object: name from generateName if needed, uid, creationTimestamp, rv."""
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = self._resource.api_version, self._resource.kind
        metadata = obj.setdefault("metadata", {})
        obj.setdefault("status", {})
        with self._lock:
            if not metadata.get("name"):
                if not metadata.get("generateName"):
                    detail = "name or generateName is required"
                    error = FieldError("Required value", "metadata.name", detail)
                    raise invalid("", [error], self._resource)
                metadata["name"] = self._generate_name(metadata["generateName"])
            if metadata["name"] in self._objects:
                raise already_exists(metadata["name"], self._resource)
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = rfc3339(self._clock())
            return self._commit("ADDED", obj)

    def _generate_name(self, prefix: str) -> str:
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        while True:
            name = prefix + "".join(secrets.choice(alphabet) for _ in range(5))
            if name not in self._objects:
                return name

    def delete(self, name: str) -> Json:
        with self._lock:
            obj = copy.deepcopy(self._require(name))
            return self._commit("DELETED", obj)

    def mutate(self, name: str, change: Callable[[Json], None]) -> Json:
        """Apply `change` to a copy of the object and commit it as a MODIFIED event (test hook)."""
        with self._lock:
            obj = copy.deepcopy(self._require(name))
            change(obj)
            return self._commit("MODIFIED", obj)

    def bump(self, name: str) -> Json:
        """A concurrent writer touched the object: new resourceVersion, MODIFIED event."""
        with self._lock:
            return self._bump(name)

    def _bump(self, name: str) -> Json:
        obj = copy.deepcopy(self._require(name))
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations[BUMP_ANNOTATION] = str(int(annotations.get(BUMP_ANNOTATION, "0")) + 1)
        return self._commit("MODIFIED", obj)

    def compact(self) -> int:
        """Forget every event up to now: watching from an older resourceVersion gets 410."""
        with self._lock:
            self._compacted = self._revision.current
            self._events = []
            return self._compacted

    def _commit(self, kind: str, obj: Json) -> Json:
        rv = self._revision.advance()
        obj["metadata"]["resourceVersion"] = str(rv)
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            del self._objects[name]
        else:
            self._objects[name] = obj
        event = {"type": kind, "object": copy.deepcopy(obj)}
        self._events.append((rv, event))
        for watcher in self._watchers:
            watcher.events.put(event)
        return copy.deepcopy(obj)

    # watches

    def subscribe(
        self,
        since: int | None,
        *,
        bookmarks: bool = False,
        accepts: Callable[[Json], bool] | None = None,
    ) -> Watcher:
        """Register a watch from `since` (None: synthetic ADDED for every current object)."""
        with self._lock:
            if self._closed:
                raise ApiError(503, "ServiceUnavailable", "the server is shutting down")
            if since is None:
                backlog = [
                    {"type": "ADDED", "object": copy.deepcopy(self._objects[n])}
                    for n in sorted(self._objects)
                ]
            elif since < self._compacted:
                raise expired(since, self._compacted)
            else:
                backlog = [event for rv, event in self._events if rv > since]
            watcher = Watcher(backlog, bookmarks, accepts=accepts)
            self._watchers.append(watcher)
            self._lock.notify_all()
            return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)
            self._lock.notify_all()

    def bookmark(self) -> None:
        """Send a BOOKMARK with the current resourceVersion to watches that asked for them."""
        with self._lock:
            event = {
                "type": "BOOKMARK",
                "object": {
                    "kind": self._resource.kind,
                    "apiVersion": self._resource.api_version,
                    "metadata": {"resourceVersion": str(self._revision.current)},
                },
            }
            for watcher in self._watchers:
                if watcher.bookmarks:
                    watcher.events.put(event)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def watch_count(self) -> int:
        with self._lock:
            return len(self._watchers)

    def wait_for_watchers(self, count: int, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self._watchers) >= count, timeout)

    def close(self, timeout: float) -> None:
        """End every watch stream and wait (bounded) for their handlers to let go."""
        with self._lock:
            self._closed = True
            for watcher in self._watchers:
                watcher.events.put(_CLOSE)
            self._lock.wait_for(lambda: not self._watchers, timeout)


class CsrStore(ObjectStore):
    """The API server's storage and watch cache for CSRs, thread-safe, without HTTP."""

    def __init__(self, clock: Clock, revision: Revision | None = None) -> None:
        super().__init__(clock, CSR_TYPE, revision)
        self._conflict_next: set[str] = set()

    def update_approval(self, name: str, body: Json) -> Json:
        """PUT /approval: only status.conditions change; 409 on a stale resourceVersion."""
        with self._lock:
            if name in self._conflict_next:
                self._conflict_next.discard(name)
                self._bump(name)
            old = self._require(name)
            self._check_update_target(name, body, old)
            old_conditions = old.get("status", {}).get("conditions", [])
            new_conditions = _conditions_of(body)
            new_conditions = populate_condition_timestamps(
                new_conditions, old_conditions, self._clock()
            )
            errors = validate_conditions(new_conditions) + validate_no_removal(
                old_conditions, new_conditions
            )
            if errors:
                raise invalid(name, errors)
            if new_conditions == old_conditions:
                return copy.deepcopy(old)  # a no-op update does not bump the resourceVersion
            obj = copy.deepcopy(old)
            obj["status"]["conditions"] = new_conditions
            return self._commit("MODIFIED", obj)

    def update_metadata(self, name: str, body: Json) -> Json:
        """PUT on the object itself: spec and status are reset to the stored ones, as the real
        csrStrategy does, so only labels and annotations can change (conditions are lost)."""
        with self._lock:
            old = self._require(name)
            self._check_update_target(name, body, old)
            obj = copy.deepcopy(old)
            for key in ("labels", "annotations"):
                value = (body.get("metadata") or {}).get(key)
                obj["metadata"].pop(key, None)
                if value:
                    obj["metadata"][key] = value
            if obj == old:
                return copy.deepcopy(old)
            return self._commit("MODIFIED", obj)

    @staticmethod
    def _check_update_target(name: str, body: Json, old: Json) -> None:
        metadata = body.get("metadata") or {}
        if metadata.get("name") != name:
            raise bad_request(
                f"the name of the object ({metadata.get('name', '')}) does not match the name "
                f"on the URL ({name})"
            )
        sent = metadata.get("resourceVersion")
        if sent and sent != old["metadata"]["resourceVersion"]:
            raise conflict(name)

    def conflict_next_approval(self, name: str) -> None:
        with self._lock:
            self._require(name)
            self._conflict_next.add(name)


# The kube-controller-manager signer backdates notBefore to tolerate clock skew.
BACKDATE = datetime.timedelta(minutes=5)


# --- TLS material -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateAuthority:
    """A throwaway CA and a 127.0.0.1 serving certificate it signed, made with cryptography."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    server_key: ec.EllipticCurvePrivateKey
    server_certificate: x509.Certificate

    @classmethod
    def create(cls, now: datetime.datetime) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-apiserver-ca")])
        since = now - BACKDATE
        ca = (
            certificate_builder(
                name, name, key.public_key(), since, now + datetime.timedelta(days=2)
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
        sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        server = (
            certificate_builder(
                server_name, name, server_key.public_key(), since, now + datetime.timedelta(days=1)
            )
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, ca, server_key, server)

    @property
    def ca_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def server_context(self) -> ssl.SSLContext:
        """A server SSLContext; the key only touches disk inside a directory deleted at once."""
        return server_context_from_pem(
            self.server_certificate.public_bytes(serialization.Encoding.PEM),
            private_key_pem(self.server_key),
        )

    def issue_server_certificate(
        self,
        *,
        ips: Sequence[str] = ("127.0.0.1",),
        dns: Sequence[str] = (),
        common_name: str = "localhost",
        organization: str | None = None,
        lifetime: datetime.timedelta = datetime.timedelta(days=1),
        now: datetime.datetime | None = None,
    ) -> tuple[bytes, bytes]:
        """A new serving certificate signed by this CA: (certificate PEM, PKCS#8 key PEM).

        Shaped like a kubelet serving certificate issued through kubernetes.io/kubelet-serving
        (ECDSA P-256, digital signature + server auth, the given IP and DNS SANs), so a client
        that verifies against the cluster CA with hostname checking accepts it for those names.
        """
        now = now or utc_now()
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        sans += [x509.DNSName(name) for name in dns]
        builder = certificate_builder(
            x509.Name(attributes),
            self.certificate.subject,
            key.public_key(),
            now - BACKDATE,
            min(now + lifetime, self.certificate.not_valid_after_utc),
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        certificate = (
            builder.add_extension(_key_usage("digital signature"), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM), private_key_pem(key)

    def sign(
        self,
        request: x509.CertificateSigningRequest,
        usages: list[str],
        not_before: datetime.datetime,
        not_after: datetime.datetime,
    ) -> x509.Certificate:
        """Sign like the csrsigning controller: subject and SANs copied, usages from spec."""
        builder = certificate_builder(
            request.subject,
            self.certificate.subject,
            request.public_key(),
            not_before,
            min(not_after, self.certificate.not_valid_after_utc),
        )
        try:
            san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            builder = builder.add_extension(san.value, critical=False)
        except x509.ExtensionNotFound:
            pass
        builder = builder.add_extension(_key_usage(*usages), critical=True)
        extended = [_EXTENDED_USAGES[u] for u in usages if u in _EXTENDED_USAGES]
        if extended:
            builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        return builder.sign(self.key, hashes.SHA256())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def server_context_from_pem(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS server context for a certificate (chain) and key given as PEM.

    `ssl` only loads keys from files, so they touch disk inside a directory deleted at once.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory, "tls.crt"), Path(directory, "tls.key")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


_EXTENDED_USAGES = {
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}


def _key_usage(*usages: str, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature="digital signature" in usages or "signing" in usages,
        content_commitment="content commitment" in usages,
        key_encipherment="key encipherment" in usages,
        data_encipherment="data encipherment" in usages,
        key_agreement="key agreement" in usages,
        key_cert_sign=cert_sign or "cert sign" in usages,
        crl_sign=cert_sign or "crl sign" in usages,
        encipher_only=False,
        decipher_only=False,
    )


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """What a request asks for: a counted `kind`, the object name and namespace, if any."""

    kind: str
    name: str | None = None
    namespace: str | None = None


_SERVICE_ACCOUNTS_PATH = re.compile(r"/api/v1/namespaces/(?P<namespace>[^/]+)/serviceaccounts")
_SERVICE_ACCOUNT_PATH = re.compile(
    r"/api/v1/namespaces/(?P<namespace>[^/]+)/serviceaccounts/(?P<name>[^/]+)(?P<sub>/[^/]*)?"
)
BINDINGS_PATH = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
REVIEWS_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def route(method: str, path: str, query: dict[str, list[str]]) -> Route:
    """Map a request to a kind: list, watch, create, get, delete, update, approval (CSRs);
    node-list, node-watch, node-get; serviceaccount-create, serviceaccount-get,
    serviceaccount-delete, token-request; clusterrolebinding-create, -list, -get, -delete;
    subjectaccessreview."""
    path = path.rstrip("/")
    from tests.fake_tokens import token_route  # it builds on this module's types

    token = token_route(method, path)
    if token is not None:
        return token
    if path == NODES_PATH or path.startswith(NODES_PATH + "/"):
        return _node_route(method, path, query)
    accounts = _SERVICE_ACCOUNTS_PATH.fullmatch(path)
    if accounts is not None:
        if method != "POST":
            raise _method_not_allowed()
        return Route("serviceaccount-create", namespace=accounts["namespace"])
    account = _SERVICE_ACCOUNT_PATH.fullmatch(path)
    if account is not None:
        return _service_account_route(method, account)
    if path == BINDINGS_PATH or path.startswith(BINDINGS_PATH + "/"):
        return _binding_route(method, path)
    if path == REVIEWS_PATH:
        if method != "POST":
            raise _method_not_allowed()
        return Route("subjectaccessreview")
    if path == COLLECTION_PATH:
        if method == "GET":
            return Route("watch" if _flag(query, "watch") else "list")
        if method == "POST":
            return Route("create")
        raise _method_not_allowed()
    rest = path.removeprefix(COLLECTION_PATH + "/")
    name, _, subresource = rest.partition("/")
    if rest == path or not name or subresource not in ("", "approval"):
        message = "the server could not find the requested resource"
        raise ApiError(404, "NotFound", message, {})
    kind = _OBJECT_ROUTES.get((subresource, method))
    if kind is None:
        raise _method_not_allowed()
    return Route(kind, name)


def _node_route(method: str, path: str, query: dict[str, list[str]]) -> Route:
    """Nodes are read-only over HTTP here: the tests play the kubelets through hooks."""
    if path == NODES_PATH:
        if method == "GET":
            return Route("node-watch" if _flag(query, "watch") else "node-list")
        raise _method_not_allowed()
    name, _, subresource = path.removeprefix(NODES_PATH + "/").partition("/")
    if subresource not in ("", "status"):
        raise _no_such_resource()
    if method != "GET":
        raise _method_not_allowed()
    return Route("node-get", name)


def _service_account_route(method: str, match: re.Match[str]) -> Route:
    name, namespace, subresource = match["name"], match["namespace"], match["sub"] or ""
    if (subresource, method) == ("", "GET"):
        return Route("serviceaccount-get", name, namespace)
    if (subresource, method) == ("", "DELETE"):
        return Route("serviceaccount-delete", name, namespace)
    if (subresource, method) == ("/token", "POST"):
        return Route("token-request", name, namespace)
    if subresource in ("", "/token"):
        raise _method_not_allowed()
    raise _no_such_resource()


def _binding_route(method: str, path: str) -> Route:
    if path == BINDINGS_PATH:
        kinds = {"POST": "clusterrolebinding-create", "GET": "clusterrolebinding-list"}
        if method not in kinds:
            raise _method_not_allowed()
        return Route(kinds[method])
    name, _, subresource = path.removeprefix(BINDINGS_PATH + "/").partition("/")
    if subresource:
        raise _no_such_resource()
    kinds = {"GET": "clusterrolebinding-get", "DELETE": "clusterrolebinding-delete"}
    if method not in kinds:
        raise _method_not_allowed()
    return Route(kinds[method], name)


def _no_such_resource() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


# (subresource, method) -> kind, for paths naming one object.
_OBJECT_ROUTES = {
    ("", "GET"): "get",
    ("", "DELETE"): "delete",
    ("", "PUT"): "update",
    ("approval", "GET"): "get",
    ("approval", "PUT"): "approval",
}


def _method_not_allowed() -> ApiError:
    message = "the server does not allow this method on the requested resource"
    return ApiError(405, "MethodNotAllowed", message, {})


def _flag(query: dict[str, list[str]], key: str) -> bool:
    return query.get(key, ["false"])[0].lower() in ("true", "1")


# --- selectors (Nodes only; the CSR routes ignore them, as before) -----------------------------

_NODE_FIELDS: dict[str, Callable[[Json], str]] = {
    "metadata.name": lambda node: node["metadata"]["name"],
    "spec.unschedulable": lambda node: str(bool(node.get("spec", {}).get("unschedulable"))).lower(),
}
_Requirement = tuple[str, str, str | None]  # (key, operator, value); operator: = != exists !


def _split_requirement(term: str, selector: str) -> _Requirement:
    for operator in ("!=", "==", "="):
        key, found, value = term.partition(operator)
        if found:
            return key.strip(), "!=" if operator == "!=" else "=", value.strip()
    raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")


def _field_requirements(selector: str) -> list[_Requirement]:
    requirements = [_split_requirement(t, selector) for t in selector.split(",") if t.strip()]
    for key, _, _ in requirements:
        if key not in _NODE_FIELDS:
            raise bad_request(f"field label not supported: {key}")
    return requirements


def _label_requirements(selector: str) -> list[_Requirement]:
    """Equality-based terms (`a=b`, `a==b`, `a!=b`, `a`, `!a`); set-based ones are refused."""
    if "(" in selector or re.search(r"\s(in|notin)\s", selector):
        raise bad_request("set-based label selectors are not implemented by the fake API server")
    requirements: list[_Requirement] = []
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "=" in term:
            requirements.append(_split_requirement(term, selector))
        elif term.startswith("!"):
            requirements.append((term[1:].strip(), "!", None))
        else:
            requirements.append((term, "exists", None))
    return requirements


def _label_matches(labels: dict[str, str], key: str, operator: str, value: str | None) -> bool:
    if operator == "exists":
        return key in labels
    if operator == "!":
        return key not in labels
    return (labels.get(key) == value) == (operator == "=")


def node_selector(query: dict[str, list[str]]) -> Callable[[Json], bool] | None:
    """The `fieldSelector` and `labelSelector` of a Node LIST or WATCH as a predicate.

    Field selectors: `metadata.name` and `spec.unschedulable`, as the real API supports for
    Nodes; anything else is a 400. None when the request selects everything.
    """
    fields = _field_requirements(query.get("fieldSelector", [""])[0])
    labels = _label_requirements(query.get("labelSelector", [""])[0])
    if not fields and not labels:
        return None

    def accepts(node: Json) -> bool:
        node_labels = node.get("metadata", {}).get("labels") or {}
        for key, operator, value in fields:
            if (_NODE_FIELDS[key](node) == value) != (operator == "="):
                return False
        return all(_label_matches(node_labels, *requirement) for requirement in labels)

    return accepts


@dataclass(frozen=True)
class User:
    """Who a bearer token authenticates as; the API server copies it into a new CSR's spec."""

    username: str
    groups: tuple[str, ...] = ("system:masters", "system:authenticated")
    uid: str = ""


@dataclass
class _Fault:
    error: ApiError
    times: int


@dataclass
class _Hold:
    seconds: float
    times: int


class TlsRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 over a connection of a TlsHttpServer: handshake in its own thread, no logging."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # watch events are small writes that must leave at once

    def setup(self) -> None:
        # The TLS handshake runs here, in the connection's thread, not in the accept loop.
        self.request.settimeout(5)
        self.request.do_handshake()
        self.request.settimeout(None)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request counter is the log tests read."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        """Answer one request; subclasses implement it."""
        raise NotImplementedError


class _Handler(TlsRequestHandler):
    """One connection; dispatches requests to the FakeApiServer that owns the HTTP server."""

    server: _HttpServer

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            user = fake._authenticate(self.headers.get("Authorization", ""))
            workload = workload_route(method, url.path.rstrip("/"))
            if workload is not None:
                fake._record(workload[0])
                fake._inject_fault(workload[0])
                content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                body = json.loads(raw_body or b"null") if raw_body else None
                code, payload = fake.workloads.serve(*workload, body, query, content_type)
                self._send_json(code, payload, fake.body_delays.get(workload[0], 0.0))
                return
            target = route(method, url.path, query)
            fake._record(target.kind)
            fake._inject_fault(target.kind)
            if fake._hold(target.kind, self._send_watch_headers):
                self.close_connection = True
                return
            if target.kind == "watch":
                self._watch(query)
                return
            if target.kind == "node-watch":
                self._watch(query, fake.node_store, node_selector(query))
                return
            code, payload = fake._serve(target, _parse_body(raw_body, method), user, query)
        except ApiError as error:
            code, payload = error.code, error.status()
        self._send_json(code, payload)

    def _send_json(self, code: int, payload: Json, body_delay: float = 0.0) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body_delay:
            self.wfile.flush()
            time.sleep(body_delay)
        self.wfile.write(data)

    def _watch(
        self,
        query: dict[str, list[str]],
        store: ObjectStore | None = None,
        accepts: Callable[[Json], bool] | None = None,
    ) -> None:
        """Chunked newline-delimited JSON events until timeoutSeconds or server stop."""
        fake = self.server.fake
        store = store or fake.store
        since = _resource_version(query)
        timeout = _seconds(query, "timeoutSeconds", fake.max_watch_seconds)
        self._send_watch_headers()
        try:
            bookmarks = _flag(query, "allowWatchBookmarks")
            watcher = store.subscribe(since, bookmarks=bookmarks, accepts=accepts)
        except ApiError as error:  # too old: the watch cache answers with an ERROR event
            self._write_chunk({"type": "ERROR", "object": error.status()})
            self.wfile.write(b"0\r\n\r\n")
            return
        try:
            for event in watcher.stream(time.monotonic() + timeout):
                self._write_chunk(event)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away (or stop() cut the connection)
            self.close_connection = True
        finally:
            store.unsubscribe(watcher)

    def _send_watch_headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _write_chunk(self, event: Json) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))


def _parse_body(raw: bytes, method: str) -> Json:
    if method not in ("POST", "PUT"):
        return {}
    try:
        body = json.loads(raw or b"null")
    except json.JSONDecodeError as error:
        raise bad_request(f"couldn't get version/kind; json parse error: {error}") from error
    if not isinstance(body, dict):
        raise bad_request("the body of the request was in an unknown format")
    return body


def _seconds(query: dict[str, list[str]], key: str, default: float) -> float:
    value = query.get(key, [""])[0]
    if not value:
        return default
    try:
        return float(value)
    except ValueError as error:
        raise bad_request(f'invalid {key} "{value}"') from error


def _resource_version(query: dict[str, list[str]]) -> int | None:
    value = query.get("resourceVersion", [""])[0]
    if value in ("", "0"):
        return None
    if not value.isdigit():
        raise bad_request(f'invalid resource version "{value}"')
    return int(value)


class TlsHttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer over TLS that remembers its connections so stop() can cut them.

    Binds 127.0.0.1 on an ephemeral port. Shared by the fake API server and the fake kubelet.
    """

    daemon_threads = False  # server_close() joins every connection thread
    block_on_close = True

    def __init__(self, context: ssl.SSLContext, handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]

    def serve_in_background(self, name: str) -> None:
        """Serve from a thread of its own until `stop_serving`."""
        self._serving = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._serving.start()

    def stop_serving(self) -> None:
        """Stop accepting, cut idle keep-alive connections, join every thread."""
        self.shutdown()
        self.cut_connections()
        self.server_close()
        self._serving.join()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Unblock threads reading idle keep-alive connections (shutdown, not close)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection-level failures (TLS refused, client gone) are normal in tests."""


class _HttpServer(TlsHttpServer):
    """The fake API server's HTTP server: handlers reach the FakeApiServer as `server.fake`."""

    def __init__(self, fake: FakeApiServer, context: ssl.SSLContext) -> None:
        self.fake = fake
        super().__init__(context, _Handler)


# --- Nodes and ServiceAccount tokens, shaped like the real ones ---------------------------------

# (type, reason, message) of the conditions a kubelet posts besides Ready, all "False" when fine.
_PRESSURE_CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)
# status -> (reason, message) of the Ready condition.
_READY_CONDITION = {
    "True": ("KubeletReady", "kubelet is posting ready status"),
    "False": (
        "KubeletNotReady",
        "container runtime network not ready: NetworkReady=false "
        "reason:NetworkPluginNotReady message:Network plugin returns error: "
        "cni plugin not initialized",
    ),
    "Unknown": ("NodeStatusUnknown", "Kubelet stopped posting node status."),
}
# Ready status -> the taint key the node lifecycle controller puts on a node that is not Ready.
_NOT_READY_TAINTS = {
    "False": "node.kubernetes.io/not-ready",
    "Unknown": "node.kubernetes.io/unreachable",
}


def node_object(
    name: str,
    *,
    addresses: Sequence[tuple[str, str]],
    kubelet_port: int,
    ready: bool,
    now: datetime.datetime,
    labels: dict[str, str] | None = None,
) -> Json:
    """A Node as a kubelet registers it and keeps it (metadata filled in by the store)."""
    node: Json = {
        "kind": NODE_TYPE.kind,
        "apiVersion": NODE_TYPE.api_version,
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                **(labels or {}),
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {},
        "status": {
            "capacity": {"cpu": "2", "memory": "4015948Ki", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "3913548Ki", "pods": "110"},
            "conditions": [],
            "addresses": [{"type": kind, "address": address} for kind, address in addresses],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                "bootID": str(uuid.uuid4()),
                "kernelVersion": "6.1.0-18-amd64",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": FAKE_KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
    _set_node_readiness(node, "True" if ready else "False", rfc3339(now))
    return node


def _set_node_readiness(node: Json, ready: str, now: str) -> None:
    """Post a Ready status ("True"/"False": the kubelet; "Unknown": the lifecycle controller).

    lastTransitionTime moves only when a condition's status changes; the kubelet moves
    lastHeartbeatTime, the controller does not. The not-ready/unreachable taints follow Ready.
    """
    old = {c["type"]: c for c in node["status"].get("conditions", [])}
    wanted = [(kind, "False", reason, message) for kind, reason, message in _PRESSURE_CONDITIONS]
    wanted.append(("Ready", ready, *_READY_CONDITION[ready]))
    conditions = []
    for kind, status, reason, message in wanted:
        previous = old.get(kind, {})
        if ready == "Unknown":
            status, reason, message = "Unknown", *_READY_CONDITION["Unknown"]
        changed = previous.get("status") != status
        conditions.append(
            {
                "type": kind,
                "status": status,
                "lastHeartbeatTime": (
                    previous.get("lastHeartbeatTime", now) if ready == "Unknown" else now
                ),
                "lastTransitionTime": now if changed else previous["lastTransitionTime"],
                "reason": reason,
                "message": message,
            }
        )
    node["status"]["conditions"] = conditions
    spec = node.setdefault("spec", {})
    taints = [t for t in spec.get("taints", []) if t["key"] not in _NOT_READY_TAINTS.values()]
    if ready in _NOT_READY_TAINTS:
        key = _NOT_READY_TAINTS[ready]
        taints += [
            {"key": key, "effect": "NoSchedule"},
            {"key": key, "effect": "NoExecute", "timeAdded": now},
        ]
    if taints:
        spec["taints"] = taints
    else:
        spec.pop("taints", None)


@dataclass(frozen=True)
class IssuedToken:
    """A token the TokenRequest API handed out: for whom, for which audiences, until when."""

    namespace: str
    name: str
    uid: str  # the ServiceAccount's: a token does not survive its account being re-created
    audiences: tuple[str, ...]
    expires: datetime.datetime

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def _service_account_jwt(issued: IssuedToken, now: datetime.datetime) -> str:
    """A token shaped like the real one (a JWT with the real claims) so code that peeks at it
    sees what it would in a cluster. The signature is random: only `review_token` checks it."""

    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = {
        "aud": list(issued.audiences),
        "exp": int(issued.expires.timestamp()),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "iss": DEFAULT_API_AUDIENCES[0],
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": issued.namespace,
            "serviceaccount": {"name": issued.name, "uid": issued.uid},
        },
        "sub": issued.subject,
    }
    header = {"alg": "RS256", "kid": "fake-apiserver"}
    return ".".join(
        [
            segment(json.dumps(header).encode()),
            segment(json.dumps(claims).encode()),
            segment(secrets.token_bytes(32)),
        ]
    )


# --- the facade tests use ------------------------------------------------------------------------


class FakeApiServer:
    """The fake API server: `with FakeApiServer() as server:` then `server.kubeconfig()`.

    Test hooks act on the store directly (no HTTP, not counted): create, get, list, delete,
    approve, deny, issue, bump, conflict_next_approval, compact, bookmark, fail_next,
    hold_next; for the verification step add_node, set_node_ready, set_node_unknown,
    bump_node, delete_node, get_node, list_nodes, add_service_account, delete_service_account,
    service_accounts, review_token, token_subject; add_cluster_role_binding,
    cluster_role_bindings, set_cluster_role, subject_access_review.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        clock: Clock = utc_now,
        max_watch_seconds: float = 60.0,
        signing_duration: datetime.timedelta = datetime.timedelta(days=365),
        api_audiences: Sequence[str] = DEFAULT_API_AUDIENCES,
    ) -> None:
        self.token = token or secrets.token_hex(16)
        self.max_watch_seconds = max_watch_seconds
        self.signing_duration = signing_duration
        self.api_audiences = tuple(api_audiences)
        self._revision = Revision()
        self.store = CsrStore(clock, self._revision)
        self.node_store = ObjectStore(clock, NODE_TYPE, self._revision)
        self._service_accounts: dict[tuple[str, str], Json] = {}
        from tests.fake_rbac import FakeRbac  # it builds on this module's types

        self.rbac = FakeRbac(clock, self._revision)
        from tests.fake_tokens import FakeTokens

        self.tokens = FakeTokens(clock, self._revision)
        from tests.fake_workloads import FakeWorkloads

        self.workloads = FakeWorkloads(self)
        self._tokens: dict[str, IssuedToken] = {}
        self._accounts_lock = threading.Lock()
        self.ca = CertificateAuthority.create(clock())
        self._clock = clock
        self._users = {self.token: User("kubernetes-admin")}
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._faults: dict[str, _Fault] = {}
        self._holds: dict[str, _Hold] = {}
        self.body_delays: dict[str, float] = {}
        self._released = threading.Event()
        self._httpd: _HttpServer | None = None

    # lifecycle

    def start(self) -> FakeApiServer:
        """Serve on 127.0.0.1, an ephemeral port; a stopped server cannot be started again."""
        if self.store.closed:
            raise RuntimeError("a stopped FakeApiServer cannot be restarted; make a new one")
        self._httpd = _HttpServer(self, self.ca.server_context())
        self._httpd.serve_in_background("fake-apiserver")
        return self

    def stop(self) -> None:
        """End watch streams, stop accepting, cut idle connections, join every thread."""
        if self._httpd is None:
            return
        self._released.set()
        self.store.close(timeout=2.0)
        self.node_store.close(timeout=2.0)
        self._httpd.stop_serving()
        self._httpd = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake API server is not started")
        return f"https://127.0.0.1:{self._httpd.server_port}"

    @property
    def ca_pem(self) -> bytes:
        return self.ca.ca_pem

    def add_token(self, token: str, user: User) -> None:
        """Accept another bearer token, authenticating as `user` (e.g. a node)."""
        self._users[token] = user

    def revoke_token(self, token: str) -> None:
        """Stop accepting `token`, as a rotated credential's old one is: 401 from now on."""
        del self._users[token]

    def kubeconfig(self, token: str | None = None) -> str:
        """A kubeconfig YAML for this server: CA embedded, bearer token (default: the admin's)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fake",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "approver", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "approver"}}],
            "current-context": "fake",
        }
        return yaml.safe_dump(config, sort_keys=False)

    # request counting and fault injection

    def counts(self) -> Counter[str]:
        """Requests served so far by kind (list, watch, get, create, delete, update, approval,
        unauthorized; node-list, node-watch, node-get, serviceaccount-get, token-request);
        a copy."""
        with self._counts_lock:
            return Counter(self._counts)

    def reset_counts(self) -> None:
        with self._counts_lock:
            self._counts.clear()

    def delay_bodies(self, kind: str, seconds: float) -> None:
        """Send the body of each answer to `kind` (a workload request) `seconds` after its
        headers, as a busy server or network may."""
        self.body_delays[kind] = seconds

    def fail_next(
        self,
        kind: str,
        code: int = 500,
        reason: str = "InternalError",
        message: str = "injected failure",
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests of `kind` with an error Status (e.g. 503, 429)."""
        with self._counts_lock:
            self._faults[kind] = _Fault(ApiError(code, reason, message, {}), times)

    def hold_next(self, kind: str, seconds: float = 30.0, times: int = 1) -> None:
        """Go silent on the next `times` requests of `kind` for `seconds` (or until stop()).

        A dropped connection: the request is counted, a watch gets its 200 and headers (its
        stream then carries nothing, not even its end at timeoutSeconds), anything else gets
        no answer at all. When the hold ends the connection is closed without an answer.
        """
        with self._counts_lock:
            self._holds[kind] = _Hold(seconds, times)

    def _hold(self, kind: str, send_watch_headers: Callable[[], None]) -> bool:
        """Hold this request if `hold_next` asked for it: True once the hold is over."""
        with self._counts_lock:
            hold = self._holds.get(kind)
            if hold is None:
                return False
            hold.times -= 1
            if hold.times <= 0:
                del self._holds[kind]
        if kind in ("watch", "node-watch"):
            send_watch_headers()
        self._released.wait(hold.seconds)
        return True

    def _record(self, kind: str) -> None:
        with self._counts_lock:
            self._counts[kind] += 1

    def _inject_fault(self, kind: str) -> None:
        with self._counts_lock:
            fault = self._faults.get(kind)
            if fault is None:
                return
            fault.times -= 1
            if fault.times <= 0:
                del self._faults[kind]
        raise fault.error

    def _authenticate(self, header: str) -> User:
        scheme, _, token = header.partition(" ")
        user = self._users.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            self._record("unauthorized")
            raise unauthorized()
        return user

    # request handling

    def _serve(
        self,
        target: Route,
        body: Json,
        user: User,
        query: dict[str, list[str]] | None = None,
    ) -> tuple[int, Json]:
        """Answer one non-watch request: (HTTP code, JSON body)."""
        name = target.name or ""
        if target.kind == "node-list":
            accepts = node_selector(query or {})
            nodes, rv = self.node_store.list()
            items = [node for node in nodes if accepts is None or accepts(node)]
            for item in items:  # list items carry no kind/apiVersion, as in the real API
                item.pop("kind", None)
                item.pop("apiVersion", None)
            listing = {"kind": "NodeList", "apiVersion": "v1"}
            return 200, {**listing, "metadata": {"resourceVersion": str(rv)}, "items": items}
        if target.kind == "node-get":
            return 200, self.node_store.get(name)
        if target.kind == "serviceaccount-create":
            return 201, self._create_service_account(target.namespace or "", body)
        if target.kind == "serviceaccount-get":
            return 200, self._service_account(target.namespace or "", name)
        if target.kind == "serviceaccount-delete":
            return 200, self.delete_service_account(target.namespace or "", name)
        if target.kind == "token-request":
            return 201, self._request_token(target.namespace or "", name, body)
        if target.kind.startswith("clusterrolebinding-"):
            return self._serve_binding(target.kind, name, body)
        if target.kind == "subjectaccessreview":
            return 201, self.rbac.review(body)
        if target.kind.startswith(("secret-", "lease-")):
            return self.tokens.serve(target, body)
        if target.kind == "list":
            items, rv = self.store.list()
            for item in items:  # list items carry no kind/apiVersion, as in the real API
                item.pop("kind", None)
                item.pop("apiVersion", None)
            listing = {"kind": f"{KIND}List", "apiVersion": API_VERSION}
            return 200, {**listing, "metadata": {"resourceVersion": str(rv)}, "items": items}
        if target.kind == "get":
            return 200, self.store.get(name)
        if target.kind == "create":
            return 201, self._create_from_request(body, user)
        if target.kind == "delete":
            deleted = self.store.delete(name)
            return 200, deleted_status(CSR_TYPE, name, deleted["metadata"]["uid"])
        if target.kind == "approval":
            return 200, self.store.update_approval(name, body)
        if target.kind == "update":
            return 200, self.store.update_metadata(name, body)
        raise _method_not_allowed()

    def _serve_binding(self, kind: str, name: str, body: Json) -> tuple[int, Json]:
        if kind == "clusterrolebinding-create":
            return 201, self.rbac.create_binding(body)
        if kind == "clusterrolebinding-get":
            return 200, self.rbac.get_binding(name)
        if kind == "clusterrolebinding-delete":
            return 200, self.rbac.delete_binding(name)
        items = self.rbac.list_bindings()
        for item in items:  # list items carry no kind/apiVersion, as in the real API
            item.pop("kind", None)
            item.pop("apiVersion", None)
        listing = {"kind": "ClusterRoleBindingList", "apiVersion": "rbac.authorization.k8s.io/v1"}
        metadata = {"resourceVersion": str(self._revision.current)}
        return 200, {**listing, "metadata": metadata, "items": items}

    def _create_from_request(self, body: Json, user: User) -> Json:
        """POST: validated, and spec.username/groups/uid come from the token, not the body."""
        errors = validate_create(body)
        if errors:
            raise invalid((body.get("metadata") or {}).get("name", ""), errors)
        spec = body["spec"]
        for key in ("username", "groups", "uid", "extra"):
            spec.pop(key, None)
        spec["username"], spec["groups"] = user.username, list(user.groups)
        if user.uid:
            spec["uid"] = user.uid
        body.setdefault("metadata", {}).pop("resourceVersion", None)
        body["status"] = {}
        return self.store.create(body)

    # test hooks

    @property
    def resource_version(self) -> int:
        return self.store.resource_version

    def create(self, csr: Json) -> Json:
        """Store a CSR as given (no validation, spec.username/groups kept): the stored object."""
        return self.store.create(csr)

    def get(self, name: str) -> Json:
        return self.store.get(name)

    def list(self) -> list[Json]:
        return self.store.list()[0]

    def delete(self, name: str) -> Json:
        return self.store.delete(name)

    def approve(
        self, name: str, reason: str = "TestApprove", message: str = "approved by the test"
    ) -> Json:
        return self._add_condition(name, "Approved", reason, message)

    def deny(
        self, name: str, reason: str = "TestDeny", message: str = "denied by the test"
    ) -> Json:
        return self._add_condition(name, "Denied", reason, message)

    def _add_condition(self, name: str, kind: str, reason: str, message: str) -> Json:
        current = self.store.get(name)
        conditions = current.get("status", {}).get("conditions", [])
        condition = {"type": kind, "status": "True", "reason": reason, "message": message}
        current["status"]["conditions"] = [*conditions, condition]
        return self.store.update_approval(name, current)

    def issue(
        self,
        name: str,
        *,
        lifetime: datetime.timedelta | None = None,
        require_approved: bool = True,
    ) -> x509.Certificate:
        """Play the signer: sign the request with the test CA into status.certificate.

        The lifetime is the smallest of `lifetime`, spec.expirationSeconds and the signing
        duration, like the kube-controller-manager signer (which also backdates 5 minutes).
        """
        csr = self.store.get(name)
        types = {c.get("type") for c in csr.get("status", {}).get("conditions", [])}
        if require_approved and ("Approved" not in types or "Denied" in types):
            raise ValueError(f"{name} is not approved")
        request = parse_request(base64.b64decode(csr["spec"]["request"]))
        durations = [self.signing_duration, lifetime]
        if csr["spec"].get("expirationSeconds"):
            durations.append(datetime.timedelta(seconds=csr["spec"]["expirationSeconds"]))
        now = self._clock()
        not_after = now + min(d for d in durations if d is not None)
        usages = csr["spec"].get("usages", [])
        certificate = self.ca.sign(request, usages, now - BACKDATE, not_after)
        pem = certificate.public_bytes(serialization.Encoding.PEM)

        def set_certificate(obj: Json) -> None:
            obj["status"]["certificate"] = base64.b64encode(pem).decode()

        self.store.mutate(name, set_certificate)
        return certificate

    def bump(self, name: str) -> Json:
        """Simulate a concurrent writer: the object gets a new resourceVersion (MODIFIED)."""
        return self.store.bump(name)

    def conflict_next_approval(self, name: str) -> None:
        """Make the next approval of `name` lose a race: the object is bumped just before it."""
        self.store.conflict_next_approval(name)

    def compact(self) -> int:
        """Compact history at the current resourceVersion (returned); older watches get 410.

        Like etcd compaction it applies to every kind: CSR and Node watches alike.
        """
        self.node_store.compact()
        return self.store.compact()

    def bookmark(self) -> None:
        self.store.bookmark()

    def wait_for_watchers(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until `count` watch streams are open (so a test can change things after)."""
        if not self.store.wait_for_watchers(count, timeout):
            raise TimeoutError(f"{count} watch(es) not open after {timeout}s")

    # --- Nodes: the tests play the kubelets and the node lifecycle controller ---

    def add_node(
        self,
        name: str,
        *,
        ready: bool,
        addresses: Sequence[tuple[str, str]] | None = None,
        kubelet_port: int = KUBELET_PORT,
        labels: dict[str, str] | None = None,
    ) -> Json:
        """Register a Node as its kubelet does (ADDED): the stored object.

        `addresses` are (type, address) pairs, default InternalIP 127.0.0.1 and the Hostname;
        `kubelet_port` is status.daemonEndpoints.kubeletEndpoint.Port, so a test can point a
        program at a FakeKubelet listening on an ephemeral port.
        """
        if addresses is None:
            addresses = [("InternalIP", "127.0.0.1"), ("Hostname", name)]
        node = node_object(
            name,
            addresses=addresses,
            kubelet_port=kubelet_port,
            labels=labels,
            ready=ready,
            now=self._clock(),
        )
        return self.node_store.create(node)

    def set_node_ready(self, name: str, ready: bool) -> Json:
        """The kubelet posts its status: Ready True (KubeletReady) or False (KubeletNotReady).

        Always a MODIFIED event with a new resourceVersion (the heartbeat time moves too);
        lastTransitionTime only changes when the status does, and the not-ready taints follow.
        """
        now = rfc3339(self._clock())
        status = "True" if ready else "False"
        return self.node_store.mutate(name, lambda node: _set_node_readiness(node, status, now))

    def set_node_unknown(self, name: str) -> Json:
        """The node lifecycle controller gave up on the kubelet: every condition Unknown."""
        now = rfc3339(self._clock())
        return self.node_store.mutate(name, lambda node: _set_node_readiness(node, "Unknown", now))

    def bump_node(self, name: str) -> Json:
        """A MODIFIED event that changes nothing a readiness check should look at."""
        return self.node_store.bump(name)

    def delete_node(self, name: str) -> Json:
        return self.node_store.delete(name)

    def get_node(self, name: str) -> Json:
        return self.node_store.get(name)

    def list_nodes(self) -> list[Json]:
        return self.node_store.list()[0]

    def wait_for_node_watchers(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until `count` Node watch streams are open."""
        if not self.node_store.wait_for_watchers(count, timeout):
            raise TimeoutError(f"{count} node watch(es) not open after {timeout}s")

    # --- ServiceAccounts and the TokenRequest API ---

    def add_service_account(
        self, namespace: str, name: str, labels: dict[str, str] | None = None
    ) -> Json:
        """Create a ServiceAccount (409 AlreadyExists if it does): the stored object."""
        metadata: Json = {"name": name, **({"labels": labels} if labels else {})}
        return self._create_service_account(namespace, {"metadata": metadata})

    def delete_service_account(self, namespace: str, name: str) -> Json:
        """Delete a ServiceAccount: the deleted object. Its tokens stop authenticating at once."""
        with self._accounts_lock:
            account = self._service_accounts.pop((namespace, name), None)
            if account is None:
                raise not_found(name, SERVICE_ACCOUNT_TYPE)
            self._revision.advance()
            return account

    def service_accounts(self) -> list[tuple[str, str]]:
        """(namespace, name) of every ServiceAccount, sorted."""
        with self._accounts_lock:
            return sorted(self._service_accounts)

    def _create_service_account(self, namespace: str, body: Json) -> Json:
        """POST .../serviceaccounts: the name from the body, the namespace from the path."""
        metadata = dict(body.get("metadata") or {})
        name = name_to_create(namespace, body, SERVICE_ACCOUNT_TYPE)
        with self._accounts_lock:
            if (namespace, name) in self._service_accounts:
                raise already_exists(name, SERVICE_ACCOUNT_TYPE)
            metadata |= {
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(self._revision.advance()),
                "creationTimestamp": rfc3339(self._clock()),
            }
            account = {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": metadata}
            self._service_accounts[namespace, name] = account
            return copy.deepcopy(account)

    # --- RBAC: what a kubelet's webhook authorizer asks ---

    def add_cluster_role_binding(
        self,
        name: str,
        cluster_role: str,
        subjects: list[Json],
        labels: dict[str, str] | None = None,
    ) -> Json:
        """Bind `cluster_role` to `subjects`, as `kubectl create clusterrolebinding` does."""
        metadata: Json = {"name": name, **({"labels": labels} if labels else {})}
        role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole"}
        body = {"metadata": metadata, "roleRef": {**role_ref, "name": cluster_role}}
        return self.rbac.create_binding({**body, "subjects": subjects})

    def cluster_role_bindings(self) -> list[str]:
        """The names of every ClusterRoleBinding, sorted."""
        return [binding["metadata"]["name"] for binding in self.rbac.list_bindings()]

    def set_cluster_role(self, name: str, rules: list[Json]) -> None:
        self.rbac.set_cluster_role(name, rules)

    def subject_access_review(
        self, user: User, verb: str, resource: str, subresource: str = ""
    ) -> bool:
        """Whether RBAC allows `user` to `verb` the core `resource`/`subresource` now."""
        return self.rbac.allows(user.username, user.groups, verb, resource, subresource)

    @property
    def issued_tokens(self) -> dict[str, IssuedToken]:
        """Every token TokenRequest handed out, by token; a copy."""
        with self._accounts_lock:
            return dict(self._tokens)

    def review_token(self, token: str, audiences: Sequence[str] | None = None) -> User | None:
        """What a TokenReview answers: the user a bearer token authenticates as, or None.

        This is what a kubelet with webhook authentication asks (it sends no audiences, so the
        token must be for one of `api_audiences`). Static tokens (`token`, `add_token`) pass
        as they are; a ServiceAccount token must be unexpired, for one of the audiences, and
        its ServiceAccount must still exist (the same one: a re-created account has a new uid).
        """
        if token in self._users:
            return self._users[token]
        with self._accounts_lock:
            issued = self._tokens.get(token)
            if issued is None:
                return None
            account = self._service_accounts.get((issued.namespace, issued.name))
        if account is None or account["metadata"]["uid"] != issued.uid:
            return None
        if self._clock() >= issued.expires:
            return None
        wanted = self.api_audiences if audiences is None else tuple(audiences)
        if not set(wanted) & set(issued.audiences):
            return None
        groups = (
            "system:serviceaccounts",
            f"system:serviceaccounts:{issued.namespace}",
            "system:authenticated",
        )
        return User(issued.subject, groups, issued.uid)

    def token_subject(self, token: str, audiences: Sequence[str] | None = None) -> str | None:
        """The username `review_token` authenticates, e.g. `system:serviceaccount:ns:name`."""
        user = self.review_token(token, audiences)
        return user.username if user else None

    def _service_account(self, namespace: str, name: str) -> Json:
        with self._accounts_lock:
            account = self._service_accounts.get((namespace, name))
            if account is None:
                raise not_found(name, SERVICE_ACCOUNT_TYPE)
            return copy.deepcopy(account)

    def _request_token(self, namespace: str, name: str, body: Json) -> Json:
        """POST .../serviceaccounts/{name}/token, in the order the real TokenREST checks."""
        metadata = body.get("metadata") or {}
        for key, expected in (("name", name), ("namespace", namespace)):
            sent = metadata.get(key)
            if sent and sent != expected:
                detail = f"must match the service account {key} if specified"
                error = FieldError("Invalid value", f"metadata.{key}", detail, sent)
                raise invalid(name, [error], TOKEN_REQUEST_TYPE)
        account = self._service_account(namespace, name)
        spec = dict(body.get("spec") or {})
        seconds = spec.get("expirationSeconds")
        if seconds is None:
            seconds = DEFAULT_TOKEN_SECONDS
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise bad_request("spec.expirationSeconds: expected an integer")
        if seconds < MIN_TOKEN_SECONDS or seconds > MAX_TOKEN_SECONDS:
            detail = (
                "may not specify a duration less than 10 minutes"
                if seconds < MIN_TOKEN_SECONDS
                else "may not specify a duration larger than 2^32 seconds"
            )
            error = FieldError("Invalid value", "spec.expirationSeconds", detail, seconds)
            raise invalid("", [error], TOKEN_REQUEST_TYPE)
        audiences = list(spec.get("audiences") or self.api_audiences)
        now = self._clock().replace(microsecond=0)
        issued = IssuedToken(
            namespace,
            name,
            account["metadata"]["uid"],
            tuple(audiences),
            now + datetime.timedelta(seconds=seconds),
        )
        token = _service_account_jwt(issued, now)
        with self._accounts_lock:
            self._tokens[token] = issued
        spec |= {"audiences": audiences, "expirationSeconds": seconds}
        spec.setdefault("boundObjectRef", None)
        return {
            "kind": TOKEN_REQUEST_TYPE.kind,
            "apiVersion": TOKEN_REQUEST_TYPE.api_version,
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": rfc3339(now)},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": rfc3339(issued.expires)},
        }
