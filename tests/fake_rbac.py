"""The fake API server's RBAC: ClusterRoleBindings, and the SubjectAccessReview a kubelet asks.

A kubelet with Webhook authorization asks the API server whether a request's user may, say,
`get nodes/metrics`; RBAC answers from the ClusterRoleBindings of the ClusterRoles granting
it. The verification step makes such a binding for its short-lived ServiceAccount and removes
it, so the fake keeps the real API's behaviour where that step can observe it:

- ClusterRoleBinding create, get, list and delete, validated as the API server validates them
  (`roleRef` to a ClusterRole of the RBAC group, each subject's kind, apiGroup and namespace),
  409 AlreadyExists, 404 NotFound, and a `Status` for a delete;
- the built-in ClusterRole `system:kubelet-api-admin` with the rules of the bootstrap policy
  (Kubernetes 1.31); `system:masters` may do anything;
- the SubjectAccessReview API (`POST .../authorization.k8s.io/v1/subjectaccessreviews`), which
  the kubelet's webhook authorizer asks, answered from the bindings in force at that moment;
- a binding is stored at once but obeyed only once the authorizer's informer cache has it
  (`set_propagation_delay`, none by default), as in a real API server.

Not modelled: Roles and RoleBindings, aggregated ClusterRoles, ClusterRole writes over HTTP
(tests change a role with `set_cluster_role`), and the escalation check on creating a binding
(every user of the fake is a cluster admin). A real kubelet caches the answers it gets
(`authorization.webhook.cacheAuthorizedTTL`, 5 minutes by default); the fake kubelet asks
every time.
"""

from __future__ import annotations

import copy
import datetime
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from tests.fake_http import Route
from tests.fake_status import (
    FieldError,
    Json,
    ResourceType,
    already_exists,
    deleted_status,
    invalid,
    method_not_allowed,
    no_such_resource,
    not_found,
)
from tests.fake_store import Revision, list_body, rfc3339

RBAC_GROUP = "rbac.authorization.k8s.io"
CLUSTER_ROLE_BINDING_TYPE = ResourceType(
    RBAC_GROUP, "v1", "ClusterRoleBinding", "clusterrolebindings"
)
SUBJECT_ACCESS_REVIEW_TYPE = ResourceType(
    "authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews"
)
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")
BINDINGS_PATH = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
REVIEWS_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
MASTERS = "system:masters"

# plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go, as of Kubernetes 1.31.
BUILT_IN_CLUSTER_ROLES: dict[str, list[Json]] = {
    "system:kubelet-api-admin": [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["proxy"]},
        {
            "apiGroups": [""],
            "resources": ["nodes/proxy", "nodes/metrics", "nodes/spec", "nodes/stats", "nodes/log"],
            "verbs": ["*"],
        },
    ],
}


def rbac_route(method: str, path: str) -> Route | None:
    """clusterrolebinding-create, -list, -get, -delete or subjectaccessreview; None for other
    paths."""
    if path == REVIEWS_PATH:
        if method != "POST":
            raise method_not_allowed()
        return Route("subjectaccessreview")
    if path == BINDINGS_PATH:
        kinds = {"POST": "clusterrolebinding-create", "GET": "clusterrolebinding-list"}
        if method not in kinds:
            raise method_not_allowed()
        return Route(kinds[method])
    if not path.startswith(BINDINGS_PATH + "/"):
        return None
    name, _, subresource = path.removeprefix(BINDINGS_PATH + "/").partition("/")
    if subresource:
        raise no_such_resource()
    kinds = {"GET": "clusterrolebinding-get", "DELETE": "clusterrolebinding-delete"}
    if method not in kinds:
        raise method_not_allowed()
    return Route(kinds[method], name)


class FakeRbac:
    """ClusterRoles and ClusterRoleBindings of one fake cluster, thread-safe, without HTTP."""

    def __init__(self, clock: Callable[[], datetime.datetime], revision: Revision) -> None:
        self._clock = clock
        self._revision = revision
        self._lock = threading.Lock()
        self._roles = copy.deepcopy(BUILT_IN_CLUSTER_ROLES)
        self._bindings: dict[str, Json] = {}
        self._in_force: dict[str, float] = {}  # binding -> monotonic time the authorizer has it
        self._propagation_seconds = 0.0

    def serve(self, target: Route, body: Json) -> tuple[int, Json]:
        name = target.name or ""
        if target.kind == "subjectaccessreview":
            return 201, self.review(body)
        if target.kind == "clusterrolebinding-create":
            return 201, self.create_binding(body)
        if target.kind == "clusterrolebinding-get":
            return 200, self.get_binding(name)
        if target.kind == "clusterrolebinding-delete":
            return 200, self.delete_binding(name)
        items = self.list_bindings()
        kind, api_version = "ClusterRoleBindingList", CLUSTER_ROLE_BINDING_TYPE.api_version
        return 200, list_body(kind, api_version, items, self._revision.current)

    # ClusterRoleBindings

    def create_binding(self, body: Json) -> Json:
        """POST: validated; metadata gets uid, resourceVersion and creationTimestamp."""
        binding = copy.deepcopy(body)
        metadata = binding.setdefault("metadata", {})
        name = metadata.get("name") or ""
        errors = validate_cluster_role_binding(binding)
        if errors:
            raise invalid(name, errors, CLUSTER_ROLE_BINDING_TYPE)
        binding["apiVersion"] = CLUSTER_ROLE_BINDING_TYPE.api_version
        binding["kind"] = CLUSTER_ROLE_BINDING_TYPE.kind
        with self._lock:
            if name in self._bindings:
                raise already_exists(name, CLUSTER_ROLE_BINDING_TYPE)
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = rfc3339(self._clock())
            metadata["resourceVersion"] = str(self._revision.advance())
            self._bindings[name] = binding
            self._in_force[name] = time.monotonic() + self._propagation_seconds
            return copy.deepcopy(binding)

    def add_binding(
        self,
        name: str,
        cluster_role: str,
        subjects: list[Json],
        labels: dict[str, str] | None = None,
    ) -> Json:
        """Bind `cluster_role` to `subjects`, as `kubectl create clusterrolebinding` does."""
        metadata: Json = {"name": name, **({"labels": labels} if labels else {})}
        role_ref = {"apiGroup": RBAC_GROUP, "kind": "ClusterRole"}
        body = {"metadata": metadata, "roleRef": {**role_ref, "name": cluster_role}}
        return self.create_binding({**body, "subjects": subjects})

    def get_binding(self, name: str) -> Json:
        with self._lock:
            if name not in self._bindings:
                raise not_found(name, CLUSTER_ROLE_BINDING_TYPE)
            return copy.deepcopy(self._bindings[name])

    def list_bindings(self) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(self._bindings[name]) for name in sorted(self._bindings)]

    def delete_binding(self, name: str) -> Json:
        """DELETE: the `Status` the RBAC registry answers with."""
        with self._lock:
            deleted = self._bindings.pop(name, None)
            if deleted is None:
                raise not_found(name, CLUSTER_ROLE_BINDING_TYPE)
            del self._in_force[name]
            self._revision.advance()
        return deleted_status(CLUSTER_ROLE_BINDING_TYPE, name, deleted["metadata"]["uid"])

    def set_propagation_delay(self, seconds: float) -> None:
        """How long a new binding takes to reach the authorizer's cache (test hook)."""
        with self._lock:
            self._propagation_seconds = seconds

    # ClusterRoles (test hook)

    def set_cluster_role(self, name: str, rules: list[Json]) -> None:
        """Create or replace a ClusterRole's rules, as an administrator editing it would."""
        with self._lock:
            self._roles[name] = copy.deepcopy(rules)

    # the SubjectAccessReview

    def allows(
        self, username: str, groups: tuple[str, ...], verb: str, resource: str, subresource: str
    ) -> bool:
        """Whether RBAC lets the user `verb` the core-group `resource`/`subresource`."""
        if MASTERS in groups:
            return True
        wanted = f"{resource}/{subresource}" if subresource else resource
        now = time.monotonic()
        with self._lock:
            rules = [
                rule
                for name, binding in self._bindings.items()
                if self._in_force[name] <= now
                and any(_names(subject, username, groups) for subject in binding["subjects"])
                for rule in self._roles.get(binding["roleRef"]["name"], [])
            ]
        return any(_grants(rule, verb, wanted) for rule in rules)

    def review(self, body: Json) -> Json:
        """POST subjectaccessreviews: the review with `status.allowed` filled in."""
        spec = body.get("spec") or {}
        attributes = spec.get("resourceAttributes") or {}
        user, groups = spec.get("user") or "", tuple(spec.get("groups") or ())
        if not user and not groups:
            error = FieldError(
                "Invalid value",
                "spec.user,spec.groups",
                "at least one of user or group must be specified",
                [],
            )
            raise invalid("", [error], SUBJECT_ACCESS_REVIEW_TYPE)
        allowed = attributes.get("group", "") == "" and self.allows(
            user,
            groups,
            attributes.get("verb", ""),
            attributes.get("resource", ""),
            attributes.get("subresource", ""),
        )
        return {
            "kind": SUBJECT_ACCESS_REVIEW_TYPE.kind,
            "apiVersion": SUBJECT_ACCESS_REVIEW_TYPE.api_version,
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": {"allowed": allowed},
        }


def validate_cluster_role_binding(binding: Json) -> list[FieldError]:
    """ValidateClusterRoleBinding (pkg/apis/rbac/validation), the checks a client can trip."""
    errors: list[FieldError] = []
    if not binding["metadata"].get("name"):
        errors.append(
            FieldError("Required value", "metadata.name", "name or generateName is required")
        )
    role_ref = binding.get("roleRef") or {}
    if role_ref.get("apiGroup") != RBAC_GROUP:
        errors.append(
            _not_supported("roleRef.apiGroup", role_ref.get("apiGroup", ""), [RBAC_GROUP])
        )
    if role_ref.get("kind") != "ClusterRole":
        errors.append(_not_supported("roleRef.kind", role_ref.get("kind", ""), ["ClusterRole"]))
    if not role_ref.get("name"):
        errors.append(FieldError("Required value", "roleRef.name"))
    for index, subject in enumerate(binding.get("subjects") or []):
        errors += _validate_subject(subject, f"subjects[{index}]")
    return errors


def _validate_subject(subject: Json, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not subject.get("name"):
        errors.append(FieldError("Required value", f"{path}.name"))
    kind, api_group = subject.get("kind", ""), subject.get("apiGroup", "")
    if kind == "ServiceAccount":
        if api_group:
            errors.append(_not_supported(f"{path}.apiGroup", api_group, [""]))
        if not subject.get("namespace"):
            errors.append(FieldError("Required value", f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if api_group != RBAC_GROUP:
            errors.append(_not_supported(f"{path}.apiGroup", api_group, [RBAC_GROUP]))
    else:
        errors.append(_not_supported(f"{path}.kind", kind, list(SUBJECT_KINDS)))
    return errors


def _not_supported(path: str, value: Any, supported: list[str]) -> FieldError:
    listed = ", ".join(f'"{s}"' for s in supported)
    return FieldError("Unsupported value", path, f"supported values: {listed}", value)


def _names(subject: Json, username: str, groups: tuple[str, ...]) -> bool:
    """Whether a binding's subject is this user (appliesToUser in the RBAC authorizer)."""
    if subject["kind"] == "User":
        return subject["name"] == username
    if subject["kind"] == "Group":
        return subject["name"] in groups
    return username == f"system:serviceaccount:{subject['namespace']}:{subject['name']}"


def _grants(rule: Json, verb: str, resource: str) -> bool:
    """RuleAllows for a core-group resource request."""
    return (
        bool({"", "*"} & set(rule.get("apiGroups", [])))
        and bool({resource, "*"} & set(rule.get("resources", [])))
        and bool({verb, "*"} & set(rule.get("verbs", [])))
    )
