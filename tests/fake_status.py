"""What the fake API server answers when it refuses a request: `Status` objects.

Every fake resource family raises these, so a client of the fake sees what it sees from a
real kube-apiserver: a `Status` body whose `code`, `reason`, `message` and `details` are built
as k8s.io/apimachinery/pkg/api/errors builds them (NotFound, AlreadyExists, Conflict, Invalid,
BadRequest, MethodNotAllowed, Expired, Unauthorized), the `Success` Status a DELETE answers
for most resources, and the `field.Error` list of an Invalid, printed the way Go prints it.
`ResourceType` holds the names of a resource that those messages and details carry.

The official `kubernetes` client turns each of them into an `ApiException` with that status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


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


def not_found(name: str, resource: ResourceType) -> ApiError:
    message = f'{resource.qualified} "{name}" not found'
    return ApiError(404, "NotFound", message, resource.details(name))


def conflict(name: str, resource: ResourceType) -> ApiError:
    """An update sent with a resourceVersion that is no longer the stored one."""
    message = (
        f'Operation cannot be fulfilled on {resource.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, resource.details(name))


def already_exists(name: str, resource: ResourceType) -> ApiError:
    message = f'{resource.qualified} "{name}" already exists'
    return ApiError(409, "AlreadyExists", message, resource.details(name))


def expired(since: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {since} ({oldest})")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def no_such_resource() -> ApiError:
    """A path the API server serves nothing at."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> ApiError:
    message = "the server does not allow this method on the requested resource"
    return ApiError(405, "MethodNotAllowed", message, {})


# --- Invalid: field errors (k8s.io/apimachinery/pkg/util/validation/field) ------------------------

_NO_VALUE: Any = object()
_CAUSE_REASONS = {
    "Invalid value": "FieldValueInvalid",
    "Required value": "FieldValueRequired",
    "Unsupported value": "FieldValueNotSupported",
    "Duplicate value": "FieldValueDuplicate",
    "Forbidden": "FieldValueForbidden",
}


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


def invalid(name: str, errors: list[FieldError], resource: ResourceType) -> ApiError:
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
