"""The token issue provider against the fake API server: the Secret it makes, and the refresh
that gives a node without a client certificate a new token once its own expired."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from components.cluster.bootstrap_token import bootstrap_group
from components.cluster.token_issue import TokenIssueProvider
from components.settings.admin_kubeconfig import CONFIG_KEY
from tests.factories import configured
from tests.fake_apiserver import FakeApiServer
from tests.provider_host import provider_host

NODE = "kube-node1"


def provider(server: FakeApiServer) -> TokenIssueProvider:
    return configured(TokenIssueProvider(), server.kubeconfig())


def props(ttl_seconds: int = 3600) -> dict[str, Any]:
    """The inputs the program gives the resource for one node."""
    return {
        "node_name": NODE,
        "extra_group": bootstrap_group(NODE),
        "ttl_seconds": ttl_seconds,
    }


def issue(server: FakeApiServer, ttl_seconds: int = 3600) -> dict[str, Any]:
    """Create the resource and return its outputs as the state keeps them."""
    result = provider(server).create(props(ttl_seconds))
    assert result.id == result.outs["secret_name"]
    return result.outs


def refreshed(server: FakeApiServer, outs: dict[str, Any]) -> dict[str, Any]:
    """What `pulumi refresh` records: the outputs `read` returns."""
    result = provider(server).read(outs["secret_name"], dict(outs))
    assert result.id == outs["secret_name"]
    return result.outs


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def expire(server: FakeApiServer, outs: dict[str, Any]) -> None:
    """The token's expiration passes and the tokencleaner deletes its Secret."""
    later = datetime.now(timezone.utc) + timedelta(seconds=int(outs["ttl_seconds"]) + 1)
    assert server.tokens.clean_tokens(later) == [outs["secret_name"]]


def joined(server: FakeApiServer, renewed_ago: timedelta = timedelta(seconds=5)) -> None:
    """The node's kubelet got its client certificate: it registered and renews its Lease."""
    server.add_node(NODE, ready=True)
    server.tokens.renew_lease(NODE, at=datetime.now(timezone.utc) - renewed_ago)


def test_create_makes_a_bootstrap_token_secret(server: FakeApiServer) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    outs = issue(server, ttl_seconds=5400)

    secret = server.tokens.secret("kube-system", outs["secret_name"])
    data = decoded(secret)
    assert re.fullmatch(r"[a-z0-9]{6}", outs["token_id"])
    assert re.fullmatch(r"[a-z0-9]{16}", outs["token_secret"])
    assert outs["secret_name"] == f"bootstrap-token-{outs['token_id']}"
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubelet-bootstrap"}
    assert data == {
        "description": f"kubelet-bootstrap token for node {NODE}",
        "token-id": outs["token_id"],
        "token-secret": outs["token_secret"],
        "expiration": outs["expiration"],
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": "system:bootstrappers:kube-node1",
    }
    expiration = datetime.strptime(outs["expiration"], "%Y-%m-%dT%H:%M:%SZ")
    expiration = expiration.replace(tzinfo=timezone.utc)
    assert before + timedelta(seconds=5400) <= expiration
    assert expiration <= datetime.now(timezone.utc) + timedelta(seconds=5400)
    assert outs["reissue"] is None


def test_each_issue_draws_a_new_id_and_secret(server: FakeApiServer) -> None:
    first, second = issue(server), issue(server)
    assert first["token_id"] != second["token_id"]
    assert first["token_secret"] != second["token_secret"]


def test_a_live_token_is_kept_whether_or_not_the_node_joined(server: FakeApiServer) -> None:
    outs = issue(server)
    assert refreshed(server, outs)["reissue"] is None  # still bootstrapping: the token works
    joined(server)
    assert refreshed(server, outs) == {**outs, "reissue": None}


def test_an_expired_token_of_a_node_that_never_joined_is_issued_anew(
    server: FakeApiServer, capfd: pytest.CaptureFixture[str]
) -> None:
    outs = issue(server, ttl_seconds=60)
    expire(server, outs)

    after = refreshed(server, outs)

    assert after["reissue"] == (
        f"{NODE}: its Secret {outs['secret_name']} is gone (the tokencleaner deletes expired "
        f"tokens), and there is no Node {NODE}: its kubelet never got its client certificate"
    )
    assert f"{after['reissue']}: a new bootstrap token is issued" in capfd.readouterr().err
    diff = provider(server).diff(outs["secret_name"], after, props(60))
    assert diff.changes is True
    assert diff.replaces == ["reissue"]
    assert diff.delete_before_replace is True
    # The replacement: its old Secret is gone already, and the new token is another one.
    provider(server).delete(outs["secret_name"], after)
    again = issue(server, ttl_seconds=60)
    assert again["token_id"] != outs["token_id"]
    assert again["expiration"] >= outs["expiration"]


def test_an_expired_token_of_a_node_with_its_certificate_changes_nothing(
    server: FakeApiServer,
) -> None:
    """Its Secret is gone as it should be: nothing is re-created, nothing diffs."""
    outs = issue(server, ttl_seconds=60)
    joined(server)
    expire(server, outs)

    after = refreshed(server, outs)

    assert after == {**outs, "reissue": None}
    diff = provider(server).diff(outs["secret_name"], after, props(60))
    assert diff.changes is False
    assert server.tokens.secrets("kube-system") == []


def test_a_node_whose_kubelet_stopped_renewing_its_lease_gets_a_new_token(
    server: FakeApiServer,
) -> None:
    """Re-imaged, or its client certificate lost: the Node stays, its Lease goes stale."""
    outs = issue(server, ttl_seconds=60)
    joined(server, renewed_ago=timedelta(minutes=5))
    expire(server, outs)

    reason = refreshed(server, outs)["reissue"]

    assert reason is not None
    assert f"the kubelet of Node {NODE} last renewed its Lease at" in reason


def test_a_lease_renewed_within_two_durations_counts_as_working(server: FakeApiServer) -> None:
    outs = issue(server, ttl_seconds=60)
    joined(server, renewed_ago=timedelta(seconds=70))
    expire(server, outs)
    assert refreshed(server, outs)["reissue"] is None


def test_a_node_without_a_lease_has_no_working_identity(server: FakeApiServer) -> None:
    outs = issue(server, ttl_seconds=60)
    server.add_node(NODE, ready=False)
    expire(server, outs)
    assert "has no Lease" in refreshed(server, outs)["reissue"]


def test_an_expired_secret_the_cleaner_has_not_deleted_yet_counts_as_expired(
    server: FakeApiServer,
) -> None:
    """The API server refuses an expired token whether or not its Secret still exists."""
    outs = issue(server)
    server.tokens.delete_secret("kube-system", outs["secret_name"])
    past = "2020-01-01T00:00:00Z"
    body = {
        "metadata": {"name": outs["secret_name"]},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {"token-id": outs["token_id"], "expiration": past},
    }
    server.tokens.create_secret("kube-system", body)

    reason = refreshed(server, outs)["reissue"]

    assert reason is not None
    assert f"its Secret {outs['secret_name']} expired at {past}" in reason


def test_a_new_ttl_is_recorded_and_keeps_the_current_token(server: FakeApiServer) -> None:
    outs = issue(server, ttl_seconds=3600)
    news = props(ttl_seconds=7200)
    diff = provider(server).diff(outs["secret_name"], outs, news)
    assert diff.changes is True
    assert diff.replaces == []
    updated = provider(server).update(outs["secret_name"], outs, news).outs
    assert updated == {**outs, "ttl_seconds": 7200}


def test_delete_removes_the_secret_and_accepts_one_already_gone(server: FakeApiServer) -> None:
    outs = issue(server)
    provider(server).delete(outs["secret_name"], outs)
    assert server.tokens.secrets("kube-system") == []
    provider(server).delete(outs["secret_name"], outs)


def test_a_failed_request_never_says_the_token_secret(server: FakeApiServer) -> None:
    outs = issue(server)
    server.fail_next("secret-delete", 403, "Forbidden", f"echo {outs['token_secret']}")
    with pytest.raises(RuntimeError) as failure:
        provider(server).delete(outs["secret_name"], outs)
    assert str(failure.value) == f"delete Secret kube-system/{outs['secret_name']}: 403 Forbidden"


def test_the_provider_host_unpickles_configures_and_creates(server: FakeApiServer) -> None:
    config = {CONFIG_KEY: server.kubeconfig()}
    with provider_host(TokenIssueProvider(), config) as host:
        id_, outs = host.create(props())

    assert server.tokens.secret("kube-system", id_)["type"] == "bootstrap.kubernetes.io/token"
    assert outs["secret_name"] == id_ and "kubeconfig" not in outs
