"""`TokenIssue`: one node's bootstrap token and its Secret, issued anew when the node needs it.

`create` makes the token id (public: it names the Secret), the token secret and the
expiration, and creates the `bootstrap.kubernetes.io/token` Secret in kube-system; the secret
is an additional secret output, so the state only ever holds it encrypted. `read`, run by
`pulumi refresh`, looks at the Secret, the Node and its Lease (`node_identity`): when the token
no longer authenticates and the node has no working client identity, it records why in
`reissue`, and `diff` replaces the resource: a new id, secret and expiration, never the
expired Secret again. Otherwise it keeps the state as it is, even for an expired token whose
node has its certificate (the tokencleaner deleted that Secret as it should: nothing is
re-created). A new ttl applies to the next token; the current one keeps its expiration.

Pickled by dill into the state: the module has no side effects, and its clients are imported
inside the methods.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    UpdateResult,
)

from components.cluster.admin_provider import AdminProvider, stored_credential, without_credential

NAMESPACE = "kube-system"
BOOTSTRAP_TOKEN_TYPE = "bootstrap.kubernetes.io/token"
NODE_LEASE_NAMESPACE = "kube-node-lease"
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"  # [a-z0-9], the bootstrap token's alphabet
REQUEST_SECONDS = 30
# Inputs whose change makes another token (a node's name and group do not change in place).
REPLACING = ("node_name", "extra_group")
INPUTS = ("node_name", "extra_group", "ttl_seconds")


class TokenIssueProvider(AdminProvider):
    """Issues, checks and deletes one node's bootstrap token Secret."""

    __module__ = "components.token_issue"  # its stable path in existing state (see there)

    def create(self, props: dict[str, Any]) -> CreateResult:
        from kubernetes.client.exceptions import ApiException

        core = self._core_api()
        for _ in range(3):  # a clash of 6-character ids: draw again
            token = _new_token(props)
            try:
                core.create_namespaced_secret(
                    NAMESPACE, _secret_body(props, token), _request_timeout=REQUEST_SECONDS
                )
            except ApiException as error:
                if error.status == 409:
                    continue
                raise RuntimeError(_api_error("create", token["secret_name"], error)) from None
            outs = {**without_credential(props), **token, "reissue": None}
            return CreateResult(id_=token["secret_name"], outs=outs)
        raise RuntimeError("three bootstrap token ids in a row exist already in kube-system")

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.cluster.node_identity import reissue_reason, token_problem

        core = self._core_api()
        name, now = props["node_name"], datetime.now(timezone.utc)
        secret = _get(core, lambda: core.read_namespaced_secret(id_, NAMESPACE, **_timeout()))
        reason = None
        if token_problem(secret, id_, now) is not None:  # only then does the node matter
            node = _get(core, lambda: core.read_node(name, **_timeout()))
            lease = None if node is None else _lease(core, name)
            reason = reissue_reason(name, id_, secret, node, lease, now)
        if reason:
            print(f"{reason}: a new bootstrap token is issued", file=sys.stderr, flush=True)
        return ReadResult(id_=id_, outs={**without_credential(props), "reissue": reason})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in INPUTS if olds.get(key) != news.get(key)]
        changed += stored_credential(olds)
        replaces = [key for key in REPLACING if key in changed]
        if olds.get("reissue"):
            changed.append("reissue")
            replaces.append("reissue")
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """A new ttl is recorded; the token and its Secret stay."""
        return UpdateResult(outs=without_credential({**olds, **{key: news[key] for key in INPUTS}}))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self._core_api().delete_namespaced_secret(id_, NAMESPACE, **_timeout())
        except ApiException as error:
            if error.status != 404:
                raise RuntimeError(_api_error("delete", id_, error)) from None

    def _core_api(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.admin_client())


def _new_token(props: dict[str, Any]) -> dict[str, str]:
    import secrets

    token_id = "".join(secrets.choice(ALPHABET) for _ in range(6))
    expires = datetime.now(timezone.utc) + timedelta(seconds=int(props["ttl_seconds"]))
    return {
        "token_id": token_id,
        "token_secret": "".join(secrets.choice(ALPHABET) for _ in range(16)),
        "expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "secret_name": f"bootstrap-token-{token_id}",
    }


def _secret_body(props: dict[str, Any], token: dict[str, str]) -> dict[str, Any]:
    """The Secret the bootstrap token authenticator reads (kubernetes.io bootstrap-tokens)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": token["secret_name"],
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "kubelet-bootstrap"},
        },
        "type": BOOTSTRAP_TOKEN_TYPE,
        "stringData": {
            "description": f"kubelet-bootstrap token for node {props['node_name']}",
            "token-id": token["token_id"],
            "token-secret": token["token_secret"],
            "expiration": token["expiration"],
            "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true",
            "auth-extra-groups": props["extra_group"],
        },
    }


def _lease(core: Any, name: str) -> dict[str, Any] | None:
    from kubernetes import client

    leases = client.CoordinationV1Api(core.api_client)
    return _get(
        core, lambda: leases.read_namespaced_lease(name, NODE_LEASE_NAMESPACE, **_timeout())
    )


def _get(core: Any, read: Any) -> dict[str, Any] | None:
    """The object `read` returns as the API's JSON, or None when it does not exist (404)."""
    from kubernetes.client.exceptions import ApiException

    try:
        found = read()
    except ApiException as error:
        if error.status == 404:
            return None
        raise RuntimeError(f"reading the cluster failed: {error.status} {error.reason}") from None
    return core.api_client.sanitize_for_serialization(found)


def _timeout() -> dict[str, Any]:
    return {"_request_timeout": REQUEST_SECONDS}


def _api_error(verb: str, name: str, error: Any) -> str:
    """The API's answer without its body, which for a Secret may echo the token."""
    return f"{verb} Secret {NAMESPACE}/{name}: {error.status} {error.reason}"


class TokenIssue(Resource, module="kubelet-bootstrap", name="TokenIssue"):
    """One node's bootstrap token: id, secret (a secret output), expiration and its Secret."""

    token_id: pulumi.Output[str]
    token_secret: pulumi.Output[str]
    expiration: pulumi.Output[str]
    secret_name: pulumi.Output[str]
    reissue: pulumi.Output[str | None]
    """Why `pulumi refresh` found that the node needs a new token; replaced on the next step."""

    def __init__(
        self,
        name: str,
        node_name: str,
        extra_group: str,
        ttl_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        secret_outputs = pulumi.ResourceOptions(
            additional_secret_outputs=["token_secret"], delete_before_replace=True
        )
        super().__init__(
            TokenIssueProvider(),
            name,
            {
                "node_name": node_name,
                "extra_group": extra_group,
                "ttl_seconds": ttl_seconds,
                "token_id": None,
                "token_secret": None,
                "expiration": None,
                "secret_name": None,
                "reissue": None,
            },
            pulumi.ResourceOptions.merge(opts, secret_outputs),
        )
