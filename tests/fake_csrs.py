"""The fake API server's CertificateSigningRequests (certificates.k8s.io/v1), and their signer.

It exists so the CSR approver can be tested against the official `kubernetes` client end to
end (TLS, bearer token, list + watch, the /approval subresource, 409 on a stale
resourceVersion) without a cluster. It keeps the real API's semantics where an approver can
observe them:

- LIST returns a `CertificateSigningRequestList` whose `metadata.resourceVersion` is the point
  to WATCH from (see `tests.fake_store` for versions, events and compaction);
- POST is validated as pkg/apis/certificates/validation validates a create (`validate_create`:
  a request that parses and verifies, known and unique usages, a qualified signerName,
  expirationSeconds of 10 minutes at least), and spec.username/groups/uid come from the
  token, not the body;
- PUT `.../{name}/approval` only changes `status.conditions`, 409s on a stale resourceVersion,
  fills condition timestamps, and refuses (422) Approved together with Denied, removing an
  Approved/Denied/Failed condition, or a True-only condition with another status;
- PUT on the object itself changes only labels and annotations, as the real csrStrategy does;
- `FakeCsrs.issue` plays the kube-controller-manager signer with the cluster's
  `CertificateAuthority`.

CSR selectors, PATCH and the CSR /status subresource are not implemented. Objects added with
`FakeApiServer.create` skip validation on purpose: an approver must not rely on the API server
having rejected a malformed request.
"""

from __future__ import annotations

import base64
import copy
import datetime
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.fake_http import Query, Route, User, flag
from tests.fake_pki import BACKDATE, CertificateAuthority
from tests.fake_status import (
    FieldError,
    Json,
    ResourceType,
    bad_request,
    conflict,
    deleted_status,
    invalid,
    method_not_allowed,
    no_such_resource,
)
from tests.fake_store import Clock, ObjectStore, Revision, list_body, rfc3339

GROUP = "certificates.k8s.io"
API_VERSION = "certificates.k8s.io/v1"
KIND = "CertificateSigningRequest"
RESOURCE = "certificatesigningrequests"
COLLECTION_PATH = f"/apis/{GROUP}/v1/{RESOURCE}"
CSR_TYPE = ResourceType(GROUP, "v1", KIND, RESOURCE)

# (subresource, method) -> kind, for paths naming one object.
_OBJECT_ROUTES = {
    ("", "GET"): "get",
    ("", "DELETE"): "delete",
    ("", "PUT"): "update",
    ("approval", "GET"): "get",
    ("approval", "PUT"): "approval",
}


def csr_route(method: str, path: str, query: Query) -> Route | None:
    """list, watch, create, get, delete, update or approval; None for other paths."""
    if path == COLLECTION_PATH:
        if method == "GET":
            return Route("watch" if flag(query, "watch") else "list")
        if method == "POST":
            return Route("create")
        raise method_not_allowed()
    rest = path.removeprefix(COLLECTION_PATH + "/")
    if rest == path:
        return None
    name, _, subresource = rest.partition("/")
    if not name or subresource not in ("", "approval"):
        raise no_such_resource()
    kind = _OBJECT_ROUTES.get((subresource, method))
    if kind is None:
        raise method_not_allowed()
    return Route(kind, name)


class FakeCsrs:
    """The CSRs of one fake cluster: their store, the requests on them, and their signer."""

    def __init__(
        self,
        clock: Clock,
        revision: Revision,
        ca: CertificateAuthority,
        signing_duration: datetime.timedelta,
    ) -> None:
        self._clock = clock
        self.store = CsrStore(clock, revision)
        self.ca = ca
        self.signing_duration = signing_duration

    def serve(self, target: Route, body: Json, user: User) -> tuple[int, Json]:
        """Answer one CSR request but a watch (streamed from `store`): (HTTP code, JSON body)."""
        name = target.name or ""
        if target.kind == "list":
            items, rv = self.store.list()
            return 200, list_body(f"{KIND}List", API_VERSION, items, rv)
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
        raise method_not_allowed()

    def _create_from_request(self, body: Json, user: User) -> Json:
        """POST: validated, and spec.username/groups/uid come from the token, not the body."""
        errors = validate_create(body)
        if errors:
            raise invalid((body.get("metadata") or {}).get("name", ""), errors, CSR_TYPE)
        spec = body["spec"]
        for key in ("username", "groups", "uid", "extra"):
            spec.pop(key, None)
        spec["username"], spec["groups"] = user.username, list(user.groups)
        if user.uid:
            spec["uid"] = user.uid
        body.setdefault("metadata", {}).pop("resourceVersion", None)
        body["status"] = {}
        return self.store.create(body)

    # test hooks: the approver and the signer of kube-controller-manager

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
                raise invalid(name, errors, CSR_TYPE)
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
            raise conflict(name, CSR_TYPE)

    def conflict_next_approval(self, name: str) -> None:
        with self._lock:
            self._require(name)
            self._conflict_next.add(name)


# --- validation (k8s.io/kubernetes pkg/apis/certificates/validation) ---------------------------

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
