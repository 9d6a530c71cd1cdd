"""`ApproverIdentity`: the renewal approver's own credential, a ServiceAccount token.

Never the admin credential: the approver holds a token of ServiceAccount
`kube-system/<name>`, bound (`renewal.approver.ApproverRbac`) to list and watch CSRs and to
approve for the `kubernetes.io/kubelet-serving` signer only. The token is that of a
`kubernetes.io/service-account-token` Secret: it does not expire, so an approver that ran
through a cluster whose certificates last minutes still authenticates (a client certificate
would expire with them, and a TokenRequest token within the API server's maximum). It is a
secret output, so the state holds it encrypted only, and it reaches the hosts as stdin.

Deleting the Secret revokes the token at once. `pulumi refresh` notices a Secret that is gone
or was emptied, and the next update makes a new one (and restarts the approvers with it);
destroy, or turning the approver off, deletes both.

Pickled by dill into the state, by reference: the module has no side effects.
"""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Callable
from typing import Any

import pulumi
from kubernetes.client.exceptions import ApiException
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource

from components.cluster.admin_provider import AdminProvider

NAMESPACE = "kube-system"
TOKEN_TYPE = "kubernetes.io/service-account-token"
ACCOUNT_ANNOTATION = "kubernetes.io/service-account.name"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubelet-bootstrap"}
REQUEST_SECONDS = 30
TOKEN_WAIT_SECONDS = 60  # kube-controller-manager's token controller fills it in at once
TOKEN_POLL_SECONDS = 0.5
# Set by kube-controller-manager's legacy token cleaner (or by hand): the token is refused from
# then on (k8s.io/kubernetes pkg/serviceaccount/legacy.go).
INVALID_SINCE = "kubernetes.io/legacy-token-invalid-since"


class ApproverIdentityProvider(AdminProvider):
    """Makes, checks and deletes the approver's ServiceAccount and its token Secret."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        core = self._core_api()
        name = props["name"]
        secret = _token_secret_name(name)
        self._create_ours(
            f"ServiceAccount {NAMESPACE}/{name}",
            lambda: core.create_namespaced_service_account(
                NAMESPACE, _account_body(name), _request_timeout=REQUEST_SECONDS
            ),
            lambda: core.read_namespaced_service_account(
                name, NAMESPACE, _request_timeout=REQUEST_SECONDS
            ),
            lambda found: True,
        )
        self._create_ours(
            f"Secret {NAMESPACE}/{secret}",
            lambda: core.create_namespaced_secret(
                NAMESPACE, _secret_body(name), _request_timeout=REQUEST_SECONDS
            ),
            lambda: _read_secret(core, secret),
            lambda found: (
                found.type == TOKEN_TYPE
                and (found.metadata.annotations or {}).get(ACCOUNT_ANNOTATION) == name
            ),
        )
        token, uid = self._wait_for_token(core, secret)
        outs = {"name": name, "secret_name": secret, "secret_uid": uid, "token": token}
        return CreateResult(id_=f"{NAMESPACE}/{name}", outs={**outs, "missing": None})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Whether the token still authenticates as far as the cluster shows: its Secret is
        there, the same one, with a token, not marked invalid. If not, `missing` says why, and
        diff replaces."""
        secret = _read_secret(self._core_api(), props["secret_name"])
        name = f"Secret {NAMESPACE}/{props['secret_name']}"
        labels = (secret.metadata.labels or {}) if secret is not None else {}
        missing = None
        if secret is None:
            missing = f"{name} is gone"
        elif secret.metadata.uid != props.get("secret_uid") or not (secret.data or {}).get("token"):
            missing = f"{name} was replaced or emptied"
        elif INVALID_SINCE in labels:
            missing = f"{name} was marked invalid since {labels[INVALID_SINCE]}"
        if missing:
            print(f"{missing}: the approver gets a new token", file=sys.stderr, flush=True)
        return ReadResult(id_=id_, outs={**props, "missing": missing})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in ("name",) if olds.get(key) != news.get(key)]
        if olds.get("missing"):
            replaces.append("missing")
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        core = self._core_api()
        name = props["name"]
        for kind, remove, object_name in (
            ("Secret", core.delete_namespaced_secret, _token_secret_name(name)),
            ("ServiceAccount", core.delete_namespaced_service_account, name),
        ):
            try:
                remove(object_name, NAMESPACE, _request_timeout=REQUEST_SECONDS)
            except ApiException as error:
                if error.status != 404:
                    raise RuntimeError(_message(f"delete {kind} {object_name}", error)) from None

    @staticmethod
    def _create_ours(
        what: str, create: Callable[[], Any], read: Callable[[], Any], fits: Callable[[Any], bool]
    ) -> None:
        """Create an object, or use the one a run interrupted after making it left: ours by
        its label, and `fits`. One of that name that is not ours is refused, not taken over."""
        try:
            create()
        except ApiException as error:
            if error.status != 409:
                raise RuntimeError(_message(f"create {what}", error)) from None
            found = read()
            labels = (found.metadata.labels or {}) if found is not None else {}
            if found is None or labels.items() < MANAGED_BY.items() or not fits(found):
                raise RuntimeError(
                    f"{what} exists and is not kubelet-bootstrap's (no app.kubernetes.io/"
                    "managed-by: kubelet-bootstrap label, or made for another account): "
                    "delete it, or give this stack another name"
                ) from None

    def _wait_for_token(self, core: Any, secret: str) -> tuple[str, str]:
        deadline = time.monotonic() + TOKEN_WAIT_SECONDS
        while True:
            found = _read_secret(core, secret)
            token = ((found.data or {}).get("token") if found else None) or ""
            if token:
                return base64.b64decode(token).decode(), found.metadata.uid
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Secret {NAMESPACE}/{secret} got no token within {TOKEN_WAIT_SECONDS}s: "
                    "does kube-controller-manager run its token controller "
                    "(--service-account-private-key-file)?"
                )
            time.sleep(TOKEN_POLL_SECONDS)

    def _core_api(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.admin_client())


def _token_secret_name(name: str) -> str:
    return f"{name}-token"


def _account_body(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NAMESPACE, "labels": MANAGED_BY}}


def _secret_body(name: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": _token_secret_name(name),
            "namespace": NAMESPACE,
            "labels": MANAGED_BY,
            "annotations": {ACCOUNT_ANNOTATION: name},
        },
        "type": TOKEN_TYPE,
    }


def _read_secret(core: Any, name: str) -> Any:
    try:
        return core.read_namespaced_secret(name, NAMESPACE, _request_timeout=REQUEST_SECONDS)
    except ApiException as error:
        if error.status == 404:
            return None
        raise RuntimeError(_message(f"read Secret {name}", error)) from None


def _message(what: str, error: Any) -> str:
    """The API's answer without its body, which for a Secret may echo the token."""
    return f"{what} in {NAMESPACE}: {error.status} {error.reason}"


class ApproverIdentity(Resource, module="kubelet-bootstrap", name="ApproverIdentity"):
    """The approver's ServiceAccount and its token (a secret output)."""

    token: pulumi.Output[str]
    secret_uid: pulumi.Output[str]
    """Which token the approvers hold: a new one restarts them."""

    def __init__(self, name: str, account: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            ApproverIdentityProvider(),
            name,
            {
                "name": account,
                "secret_name": None,
                "secret_uid": None,
                "token": None,
                "missing": None,
            },
            pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    additional_secret_outputs=["token"], delete_before_replace=True
                ),
            ),
        )
