"""The renewal approver's identity provider against the fake API server: a ServiceAccount and
its token Secret, made, checked by refresh, replaced when gone, and deleted."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from components.renewal.identity import (
    INVALID_SINCE,
    MANAGED_BY,
    NAMESPACE,
    ApproverIdentityProvider,
)
from components.settings.admin_kubeconfig import CONFIG_KEY
from tests.factories import configured
from tests.fake_apiserver import FakeApiServer
from tests.provider_host import provider_host

ACCOUNT = "kubelet-bootstrap-approver-dev-0123abcd"


def provider(server: FakeApiServer) -> ApproverIdentityProvider:
    return configured(ApproverIdentityProvider(), server.kubeconfig())


def make(server: FakeApiServer) -> dict[str, Any]:
    return provider(server).create({"name": ACCOUNT}).outs


def stored_token(server: FakeApiServer, outs: dict[str, Any]) -> str:
    secret = server.tokens.secret(NAMESPACE, outs["secret_name"])
    return base64.b64decode(secret["data"]["token"]).decode()


def test_create_makes_the_account_and_returns_its_token(server: FakeApiServer) -> None:
    outs = make(server)

    account = server.accounts.get(NAMESPACE, ACCOUNT)
    secret = server.tokens.secret(NAMESPACE, outs["secret_name"])
    assert account["metadata"]["labels"] == MANAGED_BY
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"]["kubernetes.io/service-account.name"] == ACCOUNT
    assert outs["token"] == stored_token(server, outs) and outs["token"]
    assert outs["secret_uid"] == secret["metadata"]["uid"]
    assert outs["missing"] is None


def test_refresh_of_an_intact_identity_changes_nothing(server: FakeApiServer) -> None:
    outs = make(server)
    read = provider(server).read(f"{NAMESPACE}/{ACCOUNT}", outs).outs
    assert read == outs
    assert provider(server).diff("", read, {"name": ACCOUNT}).changes is False


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_secret_gone_or_replaced_is_seen_by_refresh_and_replaced(
    server: FakeApiServer, how: str
) -> None:
    outs = make(server)
    server.tokens.delete_secret(NAMESPACE, outs["secret_name"])
    if how == "replaced":
        server.tokens.create_secret(
            NAMESPACE,
            {
                "metadata": {
                    "name": outs["secret_name"],
                    "annotations": {"kubernetes.io/service-account.name": ACCOUNT},
                },
                "type": "kubernetes.io/service-account-token",
            },
        )

    read = provider(server).read(f"{NAMESPACE}/{ACCOUNT}", outs).outs
    diff = provider(server).diff("", read, {"name": ACCOUNT})

    assert read["missing"] and outs["secret_name"] in read["missing"]
    assert diff.changes and diff.replaces == ["missing"] and diff.delete_before_replace


def test_an_account_left_by_an_interrupted_run_is_used_again(server: FakeApiServer) -> None:
    server.accounts.create(NAMESPACE, {"metadata": {"name": ACCOUNT, "labels": MANAGED_BY}})
    outs = make(server)
    assert outs["token"] == stored_token(server, outs)


def test_someone_elses_account_of_that_name_is_refused(server: FakeApiServer) -> None:
    server.accounts.create(NAMESPACE, {"metadata": {"name": ACCOUNT}})
    with pytest.raises(RuntimeError, match="not kubelet-bootstrap's"):
        make(server)
    assert server.tokens.secrets(NAMESPACE) == []


def test_delete_removes_both_and_accepts_them_gone(server: FakeApiServer) -> None:
    outs = make(server)
    provider(server).delete(f"{NAMESPACE}/{ACCOUNT}", outs)
    assert server.tokens.secrets(NAMESPACE) == []
    assert (NAMESPACE, ACCOUNT) not in server.accounts.names()
    provider(server).delete(f"{NAMESPACE}/{ACCOUNT}", outs)


def test_a_failed_request_never_says_the_token(server: FakeApiServer) -> None:
    outs = make(server)
    server.fail_next("secret-get", 500, "Internal Server Error", f"echo {outs['token']}")
    with pytest.raises(RuntimeError) as failure:
        provider(server).read(f"{NAMESPACE}/{ACCOUNT}", outs)
    assert outs["token"] not in str(failure.value)
    assert str(failure.value).endswith("500 Internal Server Error")


def test_the_provider_host_unpickles_configures_and_creates(server: FakeApiServer) -> None:
    with provider_host(ApproverIdentityProvider(), {CONFIG_KEY: server.kubeconfig()}) as host:
        id_, outs = host.create({"name": ACCOUNT})
    assert id_ == f"{NAMESPACE}/{ACCOUNT}"
    assert outs["token"] == stored_token(server, outs)


def test_a_token_marked_invalid_is_seen_by_refresh_and_replaced(server: FakeApiServer) -> None:
    outs = make(server)
    server.tokens.label_secret(NAMESPACE, outs["secret_name"], INVALID_SINCE, "2026-12-01")

    read = provider(server).read(f"{NAMESPACE}/{ACCOUNT}", outs).outs

    assert read["missing"].endswith("was marked invalid since 2026-12-01")
    assert provider(server).diff("", read, {"name": ACCOUNT}).replaces == ["missing"]


def test_a_token_secret_left_by_an_interrupted_run_is_used_again(server: FakeApiServer) -> None:
    first = make(server)
    server.accounts.delete(NAMESPACE, ACCOUNT)  # as if the run stopped before the account
    server.accounts.create(NAMESPACE, {"metadata": {"name": ACCOUNT, "labels": MANAGED_BY}})
    again = make(server)
    assert again["secret_uid"] == first["secret_uid"] and again["token"] == first["token"]


def test_someone_elses_secret_of_that_name_is_refused(server: FakeApiServer) -> None:
    server.tokens.create_secret(
        NAMESPACE, {"metadata": {"name": f"{ACCOUNT}-token"}, "type": "Opaque"}
    )
    with pytest.raises(RuntimeError, match=f"Secret {NAMESPACE}/{ACCOUNT}-token exists"):
        make(server)
