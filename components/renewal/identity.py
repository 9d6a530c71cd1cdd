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

Pickled by dill into the state: the module has no side effects, and its clients are imported
inside the methods.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource

from components.cluster.admin_provider import AdminProvider

NAMESPACE = "kube-system"
TOKEN_TYPE = "kubernetes.io/service-account-token"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubelet-bootstrap"}
REQUEST_SECONDS = 30
TOKEN_WAIT_SECONDS = 60  # kube-controller-manager's token controller fills it in at once
TOKEN_POLL_SECONDS = 0.5


class ApproverIdentityProvider(AdminProvider):
    """Makes, checks and deletes the approver's ServiceAccount and its token Secret."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        core = self._core_api()
        name = props["name"]
        self._create_account(core, name)
        secret = _token_secret_name(name)
        _call(core.create_namespaced_secret, f"create Secret {secret}")(
            NAMESPACE, _secret_body(name), _request_timeout=REQUEST_SECONDS
        )
        token, uid = self._wait_for_token(core, secret)
        outs = {"name": name, "secret_name": secret, "secret_uid": uid, "token": token}
        return CreateResult(id_=f"{NAMESPACE}/{name}", outs={**outs, "missing": None})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Whether the token still authenticates as far as the cluster shows: its Secret is
        there, the same one, with a token. If not, `missing` says why, and diff replaces."""
        secret = _read_secret(self._core_api(), props["secret_name"])
        missing = None
        if secret is None:
            missing = f"Secret {NAMESPACE}/{props['secret_name']} is gone"
        elif secret.metadata.uid != props.get("secret_uid") or not (secret.data or {}).get("token"):
            missing = f"Secret {NAMESPACE}/{props['secret_name']} was replaced or emptied"
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
            _call(remove, f"delete {kind} {object_name}", absent_ok=True)(
                object_name, NAMESPACE, _request_timeout=REQUEST_SECONDS
            )

    def _create_account(self, core: Any, name: str) -> None:
        """The ServiceAccount, or the one a run interrupted after making it left (ours by its
        label); one of that name without the label is someone else's: refused."""
        from kubernetes.client.exceptions import ApiException

        body = {"metadata": {"name": name, "namespace": NAMESPACE, "labels": MANAGED_BY}}
        try:
            core.create_namespaced_service_account(
                NAMESPACE, body, _request_timeout=REQUEST_SECONDS
            )
        except ApiException as error:
            if error.status != 409:
                raise RuntimeError(_message(f"create ServiceAccount {name}", error)) from None
            found = core.read_namespaced_service_account(
                name, NAMESPACE, _request_timeout=REQUEST_SECONDS
            )
            if (found.metadata.labels or {}).items() < MANAGED_BY.items():
                raise RuntimeError(
                    f"ServiceAccount {NAMESPACE}/{name} exists and is not kubelet-bootstrap's "
                    "(no app.kubernetes.io/managed-by: kubelet-bootstrap label): rename or "
                    "delete it, or give this stack another name"
                ) from None

    def _wait_for_token(self, core: Any, secret: str) -> tuple[str, str]:
        import base64

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


def _secret_body(name: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": _token_secret_name(name),
            "namespace": NAMESPACE,
            "labels": MANAGED_BY,
            "annotations": {"kubernetes.io/service-account.name": name},
        },
        "type": TOKEN_TYPE,
    }


def _read_secret(core: Any, name: str) -> Any:
    from kubernetes.client.exceptions import ApiException

    try:
        return core.read_namespaced_secret(name, NAMESPACE, _request_timeout=REQUEST_SECONDS)
    except ApiException as error:
        if error.status == 404:
            return None
        raise RuntimeError(_message(f"read Secret {name}", error)) from None


def _call(method: Any, what: str, *, absent_ok: bool = False) -> Any:
    """`method`, with an API error turned into one that names `what` and never the body."""
    from kubernetes.client.exceptions import ApiException

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ApiException as error:
            if absent_ok and error.status == 404:
                return None
            raise RuntimeError(_message(what, error)) from None

    return call


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
