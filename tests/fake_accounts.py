"""The fake API server's ServiceAccounts and the TokenRequest API, and the review of the
tokens it hands out.

For the verification step (call each kubelet with a short-lived ServiceAccount token) it
serves, with the real API's semantics:

- ServiceAccount create (the name from the body, the namespace from the path; 409
  AlreadyExists), GET, and DELETE, which answers with the deleted account and revokes its
  tokens at once;
- the TokenRequest subresource (`POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`),
  checked in the order the real TokenREST checks: a name or namespace in the body that is not
  the path's is 422, a missing account 404, expirationSeconds under 10 minutes or over 2^32
  seconds 422; it defaults to an hour, and the audiences to the API server's;
- issued tokens are JWTs with the real claims, and what a kubelet's webhook TokenReview checks
  (`review`): unexpired, for one of the audiences asked (the API server's when none are), and
  from a ServiceAccount that still exists (the same one: a re-created account has a new uid).
  They do not authenticate to the fake API server itself.

Not modelled: list and watch, updates, bound object references, and the token's signature
(it is random; only `review` checks a token).
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import re
import secrets
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from tests.fake_http import Route, User
from tests.fake_status import (
    FieldError,
    Json,
    ResourceType,
    already_exists,
    bad_request,
    invalid,
    method_not_allowed,
    name_to_create,
    no_such_resource,
    not_found,
)
from tests.fake_store import Clock, Revision, rfc3339

SERVICE_ACCOUNT_TYPE = ResourceType("", "v1", "ServiceAccount", "serviceaccounts")
TOKEN_REQUEST_TYPE = ResourceType("authentication.k8s.io", "v1", "TokenRequest", "token")
# What a kube-apiserver started with --service-account-issuer=https://kubernetes.default.svc
# .cluster.local accepts by default; a token for other audiences fails its TokenReview.
DEFAULT_API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)
DEFAULT_TOKEN_SECONDS = 3600  # TokenRequest defaulting when spec.expirationSeconds is unset
MIN_TOKEN_SECONDS = 600
MAX_TOKEN_SECONDS = 1 << 32

_SERVICE_ACCOUNTS_PATH = re.compile(r"/api/v1/namespaces/(?P<namespace>[^/]+)/serviceaccounts")
_SERVICE_ACCOUNT_PATH = re.compile(
    r"/api/v1/namespaces/(?P<namespace>[^/]+)/serviceaccounts/(?P<name>[^/]+)(?P<sub>/[^/]*)?"
)


def account_route(method: str, path: str) -> Route | None:
    """serviceaccount-create, -get, -delete or token-request; None for other paths."""
    accounts = _SERVICE_ACCOUNTS_PATH.fullmatch(path)
    if accounts is not None:
        if method != "POST":
            raise method_not_allowed()
        return Route("serviceaccount-create", namespace=accounts["namespace"])
    match = _SERVICE_ACCOUNT_PATH.fullmatch(path)
    if match is None:
        return None
    name, namespace, subresource = match["name"], match["namespace"], match["sub"] or ""
    if (subresource, method) == ("", "GET"):
        return Route("serviceaccount-get", name, namespace)
    if (subresource, method) == ("", "DELETE"):
        return Route("serviceaccount-delete", name, namespace)
    if (subresource, method) == ("/token", "POST"):
        return Route("token-request", name, namespace)
    if subresource in ("", "/token"):
        raise method_not_allowed()
    raise no_such_resource()


class FakeAccounts:
    """ServiceAccounts and the tokens issued for them in one fake cluster, thread-safe."""

    def __init__(self, clock: Clock, revision: Revision, api_audiences: Sequence[str]) -> None:
        self._clock = clock
        self._revision = revision
        self.api_audiences = tuple(api_audiences)
        self._accounts: dict[tuple[str, str], Json] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._lock = threading.Lock()

    def serve(self, target: Route, body: Json) -> tuple[int, Json]:
        namespace, name = target.namespace or "", target.name or ""
        if target.kind == "serviceaccount-create":
            return 201, self.create(namespace, body)
        if target.kind == "serviceaccount-get":
            return 200, self.get(namespace, name)
        if target.kind == "serviceaccount-delete":
            return 200, self.delete(namespace, name)
        return 201, self.request_token(namespace, name, body)

    # ServiceAccounts

    def create(self, namespace: str, body: Json) -> Json:
        """POST .../serviceaccounts: the name from the body, the namespace from the path."""
        metadata = dict(body.get("metadata") or {})
        name = name_to_create(namespace, body, SERVICE_ACCOUNT_TYPE)
        with self._lock:
            if (namespace, name) in self._accounts:
                raise already_exists(name, SERVICE_ACCOUNT_TYPE)
            metadata |= {
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(self._revision.advance()),
                "creationTimestamp": rfc3339(self._clock()),
            }
            account = {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": metadata}
            self._accounts[namespace, name] = account
            return copy.deepcopy(account)

    def get(self, namespace: str, name: str) -> Json:
        with self._lock:
            account = self._accounts.get((namespace, name))
            if account is None:
                raise not_found(name, SERVICE_ACCOUNT_TYPE)
            return copy.deepcopy(account)

    def delete(self, namespace: str, name: str) -> Json:
        """Delete a ServiceAccount: the deleted object. Its tokens stop authenticating at once."""
        with self._lock:
            account = self._accounts.pop((namespace, name), None)
            if account is None:
                raise not_found(name, SERVICE_ACCOUNT_TYPE)
            self._revision.advance()
            return account

    def uid(self, namespace: str, name: str) -> str | None:
        """The account's uid, or None when there is no such account."""
        with self._lock:
            account = self._accounts.get((namespace, name))
            return None if account is None else account["metadata"]["uid"]

    def names(self) -> list[tuple[str, str]]:
        """(namespace, name) of every ServiceAccount, sorted."""
        with self._lock:
            return sorted(self._accounts)

    # tokens

    def request_token(self, namespace: str, name: str, body: Json) -> Json:
        """POST .../serviceaccounts/{name}/token, in the order the real TokenREST checks."""
        metadata = body.get("metadata") or {}
        for key, expected in (("name", name), ("namespace", namespace)):
            sent = metadata.get(key)
            if sent and sent != expected:
                detail = f"must match the service account {key} if specified"
                error = FieldError("Invalid value", f"metadata.{key}", detail, sent)
                raise invalid(name, [error], TOKEN_REQUEST_TYPE)
        account = self.get(namespace, name)
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
        with self._lock:
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

    @property
    def issued(self) -> dict[str, IssuedToken]:
        """Every token TokenRequest handed out, by token; a copy."""
        with self._lock:
            return dict(self._tokens)

    def review(self, token: str, audiences: Sequence[str] | None = None) -> User | None:
        """What a TokenReview answers for a token TokenRequest issued: its user, or None.

        The token must be unexpired, for one of the audiences (default: `api_audiences`), and
        its ServiceAccount must still exist (the same one: a re-created account has a new uid).
        """
        with self._lock:
            issued = self._tokens.get(token)
            if issued is None:
                return None
            account = self._accounts.get((issued.namespace, issued.name))
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
    sees what it would in a cluster. The signature is random: only `review` checks it."""

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
