"""The kubelet API check's own identity: made for the check, gone when it ends, pass or fail."""

from __future__ import annotations

import datetime
import re

import pytest

from components.verification import verification_identity
from components.verification.verification_identity import (
    IdentityError,
    VerificationIdentity,
    identity_name,
)
from tests.fake_apiserver import FakeApiServer

NAME = identity_name("dev")
SUBJECT = {"kind": "ServiceAccount", "name": NAME, "namespace": "kube-system"}
OURS = {"app.kubernetes.io/managed-by": "kubelet-bootstrap"}


def may_read_metrics(server: FakeApiServer, token: str) -> bool:
    user = server.review_token(token)
    return user is not None and server.subject_access_review(user, "get", "nodes", "metrics")


def test_the_check_gets_a_short_lived_token_of_its_own_account(server, api) -> None:
    lines: list[str] = []
    with VerificationIdentity(api, lines.append, NAME) as token:
        assert server.service_accounts() == [("kube-system", NAME)]
        binding = server.rbac.get_binding(NAME)
        assert binding["roleRef"]["name"] == "system:kubelet-api-admin"
        assert binding["subjects"] == [SUBJECT]
        assert binding["metadata"]["labels"] == OURS
        assert may_read_metrics(server, token)
    issued = server.issued_tokens[token]
    assert issued.subject == f"system:serviceaccount:kube-system:{NAME}"
    lifetime = issued.expires - datetime.datetime.now(datetime.timezone.utc)
    assert lifetime <= datetime.timedelta(minutes=10), "the shortest lifetime the API grants"
    assert server.service_accounts() == []
    assert server.cluster_role_bindings() == []
    assert server.review_token(token) is None, "deleting the account revokes its token"
    assert lines == [
        f"verifying as ServiceAccount kube-system/{NAME}, bound to system:kubelet-api-admin "
        "for the check only",
        f"removed ClusterRoleBinding {NAME} and ServiceAccount kube-system/{NAME}",
    ]
    assert not any(token in line for line in lines)


def test_the_token_is_handed_out_once_the_api_server_grants_it(server, api) -> None:
    """A kubelet asked before the binding is in force answers 403, and caches that 30 s."""
    server.rbac.set_propagation_delay(0.5)
    with VerificationIdentity(api, print, NAME) as token:
        assert may_read_metrics(server, token)
    assert server.counts()["subjectaccessreview"] >= 2


def test_a_grant_that_never_comes_fails_naming_the_role(
    server, api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verification_identity, "GRANT_WAIT_SECONDS", 0.3)
    server.set_cluster_role("system:kubelet-api-admin", [])
    with pytest.raises(IdentityError) as failure, VerificationIdentity(api, print, NAME):
        pytest.fail("the check must not run")
    assert str(failure.value) == (
        f"the API server does not let ServiceAccount kube-system/{NAME} get nodes/metrics "
        f"0.3s after ClusterRoleBinding {NAME} bound it to system:kubelet-api-admin: has that "
        "ClusterRole been changed? (`kubectl get clusterrole system:kubelet-api-admin -o yaml`)"
    )
    assert server.service_accounts() == []
    assert server.cluster_role_bindings() == []


def test_everything_is_removed_when_the_check_raises(server, api) -> None:
    with (
        pytest.raises(RuntimeError, match="the check failed"),
        VerificationIdentity(api, print, NAME),
    ):
        raise RuntimeError("the check failed")
    assert server.service_accounts() == []
    assert server.cluster_role_bindings() == []


def test_what_an_interrupted_check_left_is_used_and_removed(server, api) -> None:
    server.add_service_account("kube-system", NAME, labels=OURS)
    server.add_cluster_role_binding(NAME, "system:kubelet-api-admin", [SUBJECT], labels=OURS)
    with VerificationIdentity(api, print, NAME) as token:
        assert may_read_metrics(server, token)
    assert server.service_accounts() == []
    assert server.cluster_role_bindings() == []


@pytest.mark.parametrize("kind", ["ServiceAccount", "ClusterRoleBinding"])
def test_an_object_of_that_name_made_by_someone_else_is_refused_and_left_alone(
    server, api, kind: str
) -> None:
    if kind == "ServiceAccount":
        server.add_service_account("kube-system", NAME)
        theirs = f"ServiceAccount kube-system/{NAME}"
    else:
        server.add_cluster_role_binding(NAME, "cluster-admin", [SUBJECT])
        theirs = f"ClusterRoleBinding {NAME}"
    with pytest.raises(IdentityError) as failure, VerificationIdentity(api, print, NAME):
        pytest.fail("the check must not run")
    assert str(failure.value) == (
        f"{theirs} exists and was not made by kubelet-bootstrap (no label "
        "app.kubernetes.io/managed-by=kubelet-bootstrap): the check would delete it; "
        "rename or remove it"
    )
    if kind == "ServiceAccount":
        assert server.service_accounts() == [("kube-system", NAME)]
        assert server.cluster_role_bindings() == []
    else:
        assert server.cluster_role_bindings() == [NAME]
        assert server.rbac.get_binding(NAME)["roleRef"]["name"] == "cluster-admin"
        assert server.service_accounts() == [], "the account it made is removed"


def test_a_removal_that_fails_after_a_passed_check_fails_naming_what_is_left(server, api) -> None:
    server.fail_next("clusterrolebinding-delete", 503, "ServiceUnavailable", "etcd is down")
    with pytest.raises(IdentityError) as failure, VerificationIdentity(api, print, NAME):
        pass
    message = str(failure.value)
    assert message.startswith(f"could not remove ClusterRoleBinding {NAME} (503 ")
    assert f"kubectl delete clusterrolebinding {NAME}" in message
    assert server.cluster_role_bindings() == [NAME]
    assert server.service_accounts() == [], "the account is removed all the same"


def test_a_removal_that_fails_after_a_failed_check_is_logged_and_the_failure_kept(
    server, api
) -> None:
    server.fail_next("serviceaccount-delete", 503, "ServiceUnavailable", "etcd is down")
    lines: list[str] = []
    with (
        pytest.raises(RuntimeError, match="the check failed"),
        VerificationIdentity(api, lines.append, NAME),
    ):
        raise RuntimeError("the check failed")
    assert lines[-1].startswith(f"could not remove ServiceAccount kube-system/{NAME} (503 ")
    assert f"kubectl -n kube-system delete serviceaccount {NAME}" in lines[-1]


def test_one_request_each_makes_uses_and_removes_it(server, api) -> None:
    with VerificationIdentity(api, print, NAME):
        pass
    counts = server.counts()
    assert counts["serviceaccount-create"] == counts["clusterrolebinding-create"] == 1
    assert counts["token-request"] == counts["subjectaccessreview"] == 1
    assert counts["clusterrolebinding-delete"] == counts["serviceaccount-delete"] == 1


@pytest.mark.parametrize(
    ("stack", "name"),
    [
        ("dev", "kubelet-api-verification-dev-ef260e9a"),
        ("Prod_EU.west", "kubelet-api-verification-prod-eu-west-"),
        ("___", "kubelet-api-verification-"),
        ("a" * 400, "kubelet-api-verification-" + "a" * 24 + "-"),
    ],
)
def test_each_stack_has_a_name_of_its_own_that_the_api_server_accepts(
    stack: str, name: str
) -> None:
    """Two stacks of one cluster may verify at the same moment: neither removes the other's."""
    made = identity_name(stack)
    assert made.startswith(name)
    assert len(made) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", made)
    assert identity_name(stack) == made
    assert identity_name(stack + ".") != made and identity_name("prod-eu.west") != identity_name(
        "prod.eu-west"
    )
