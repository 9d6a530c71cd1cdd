"""The tutorial's kubelet API checks, against a fake API server and fake kubelets over real TLS."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client

from components.verification import kubelet_verification
from components.verification.kubelet_api_check import KubeletApiCheckProvider
from components.verification.kubelet_verification import (
    KubeletTarget,
    VerificationError,
    check_kubelet_api,
    readiness,
    verify,
    wait_until_registered,
)
from components.verification.verification_identity import identity_name
from tests.factories import configured
from tests.fake_apiserver import FakeApiServer
from tests.fake_kubelet import FakeKubelet

NAME = identity_name("dev")
IDENTITY = f"system:serviceaccount:kube-system:{NAME}"


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def token(server: FakeApiServer, core: client.CoreV1Api) -> str:
    """A token of the tutorial's ServiceAccount, bound to the kubelet API as the tutorial does."""
    server.add_service_account("default", "kubelet-api-test")
    subject = {"kind": "ServiceAccount", "name": "kubelet-api-test", "namespace": "default"}
    server.add_cluster_role_binding("kubelet-api-test", "system:kubelet-api-admin", [subject])
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    return core.create_namespaced_service_account_token(
        "kubelet-api-test", "default", request
    ).status.token


def target_of(kubelet: FakeKubelet, name: str = "node-0") -> KubeletTarget:
    return KubeletTarget(name, kubelet.address, kubelet.port)


def ca_pem(server: FakeApiServer) -> str:
    return server.ca_pem.decode()


def assert_nothing_left(server: FakeApiServer) -> None:
    """No ServiceAccount, no ClusterRoleBinding, no token that still authenticates."""
    assert server.service_accounts() == []
    assert server.cluster_role_bindings() == []
    assert server.issued_tokens, "the check asked for no token"
    assert not any(server.review_token(t) for t in server.issued_tokens)


def test_a_correct_kubelet_refuses_anonymous_and_serves_the_token(server, token) -> None:
    with FakeKubelet.for_cluster(server) as kubelet:
        check_kubelet_api(target_of(kubelet), ca_pem(server), token, timeout=5)
        answered = [(r.path, r.user, r.code) for r in kubelet.requests()]
    assert answered == [
        ("/metrics", None, 401),
        ("/metrics", "system:serviceaccount:default:kubelet-api-test", 200),
    ]


def test_a_misconfigured_kubelet_fails_naming_node_request_and_status(server, token) -> None:
    options = {"anonymous_auth": True, "authorization_mode": "AlwaysAllow"}
    with FakeKubelet.for_cluster(server, **options) as kubelet:
        port = kubelet.port
        with pytest.raises(VerificationError) as failure:
            check_kubelet_api(target_of(kubelet, "kube-node1"), ca_pem(server), token, timeout=5)
    message = str(failure.value)
    assert message.startswith(f"kube-node1: GET https://127.0.0.1:{port}/metrics ")
    assert "without credentials answered 200, expected 401" in message
    assert token not in message


def test_a_self_signed_serving_certificate_fails_tls_verification(server, token) -> None:
    with FakeKubelet.for_cluster(server, self_signed=True) as kubelet:
        with pytest.raises(VerificationError, match="does not verify against the cluster CA"):
            check_kubelet_api(target_of(kubelet), ca_pem(server), token, timeout=5)
        assert kubelet.requests() == [], "no request may be sent before TLS verifies"


def test_an_unreachable_kubelet_names_node_and_request(server, core) -> None:
    with FakeKubelet.for_cluster(server) as kubelet:
        port = kubelet.port
    with pytest.raises(
        VerificationError, match=rf"^node-0: GET https://127.0.0.1:{port}/metrics: "
    ):
        check_kubelet_api(KubeletTarget("node-0", "127.0.0.1", port), ca_pem(server), "t", 2)


def test_wait_until_registered_lists_once_then_watches(server, core) -> None:
    server.add_node("node-0", ready=True)
    lines: list[str] = []
    registers = threading.Thread(
        target=lambda: (server.wait_for_node_watchers(), server.add_node("node-1", ready=True))
    )
    registers.start()
    wait_until_registered(core, ["node-0", "node-1"], timeout_seconds=10, log=lines.append)
    registers.join()
    assert lines == ["node-0: registered (1/2), Ready", "node-1: registered (2/2), Ready"]
    counts = server.counts()
    assert counts["node-list"] == 1 and counts["node-get"] == 0
    assert counts["node-watch"] >= 1


def test_a_node_not_ready_counts_as_registered_and_says_why(server, core) -> None:
    """A Node turns Ready only once a network plugin runs, which comes after the nodes join."""
    server.add_node("node-0", ready=False)
    lines: list[str] = []
    wait_until_registered(core, ["node-0"], timeout_seconds=10, log=lines.append)
    assert lines == [
        "node-0: registered (1/1), not Ready: KubeletNotReady: container runtime network not "
        "ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns "
        "error: cni plugin not initialized"
    ]
    assert server.counts()["node-watch"] == 0, "every node was there: no need to watch"


def test_a_node_whose_kubelet_stopped_posting_says_so(server, core) -> None:
    server.add_node("node-0", ready=True)
    server.set_node_unknown("node-0")
    lines: list[str] = []
    wait_until_registered(core, ["node-0"], timeout_seconds=10, log=lines.append)
    assert lines == [
        "node-0: registered (1/1), not Ready: NodeStatusUnknown: Kubelet stopped posting node "
        "status."
    ]


def test_a_node_without_a_ready_condition_is_not_ready_yet() -> None:
    """A Node created by other means than its kubelet may carry no conditions at all."""
    assert readiness(client.V1Node(metadata=client.V1ObjectMeta(name="node-0"))) == (
        "not Ready yet (no Ready condition posted)"
    )


def test_wait_until_registered_times_out_naming_the_missing_nodes(server, core) -> None:
    server.add_node("node-0", ready=False)
    with pytest.raises(VerificationError) as failure:
        wait_until_registered(core, ["node-0", "node-1", "node-2"], timeout_seconds=1, log=print)
    assert str(failure.value).startswith("no Node registered after 1s for node-1, node-2 ")
    assert "journalctl -u" in str(failure.value)


def test_verify_passes_on_a_node_that_is_not_ready(server, api) -> None:
    """The kubelet serves its API whether or not the pod network is up."""
    lines: list[str] = []
    with FakeKubelet.for_cluster(server, node_name="node-0") as kubelet:
        server.add_node("node-0", ready=False)
        verify(api, [target_of(kubelet)], ca_pem(server), 10, lines.append, NAME)
        assert [r.code for r in kubelet.requests()] == [401, 200]
    assert lines[0].startswith("node-0: registered (1/1), not Ready: KubeletNotReady: ")
    assert "node-0: kubelet API refuses anonymous (401) and serves /metrics (200)" in lines


def test_verify_checks_every_node_once_registered(server, api) -> None:
    lines: list[str] = []
    with (
        FakeKubelet.for_cluster(server, node_name="node-0") as first,
        FakeKubelet.for_cluster(server, node_name="node-1") as second,
    ):
        server.add_node("node-0", ready=True)
        server.add_node("node-1", ready=True)
        targets = [target_of(first, "node-0"), target_of(second, "node-1")]
        verify(api, targets, ca_pem(server), 10, lines.append, NAME)
        assert (
            [r.code for r in first.requests()] == [r.code for r in second.requests()] == [401, 200]
        )
    assert server.counts()["token-request"] == 1
    assert "node-1: kubelet API refuses anonymous (401) and serves /metrics (200)" in lines


def test_verify_uses_an_identity_that_does_not_outlive_the_check(server, api) -> None:
    """Nothing that can reach every kubelet's API (nodes/proxy: exec in any pod) stays behind."""
    with FakeKubelet.for_cluster(server) as kubelet:
        server.add_node("node-0", ready=True)
        verify(api, [target_of(kubelet)], ca_pem(server), 10, print, NAME)
        assert [(r.user, r.code) for r in kubelet.requests()] == [(None, 401), (IDENTITY, 200)]
    assert_nothing_left(server)
    [issued] = server.issued_tokens.values()
    assert (issued.namespace, issued.name) == ("kube-system", NAME)


def test_the_identity_is_removed_when_the_check_fails(server, api) -> None:
    options = {"anonymous_auth": True, "authorization_mode": "AlwaysAllow"}
    with FakeKubelet.for_cluster(server, **options) as kubelet:
        server.add_node("node-0", ready=True)
        with pytest.raises(VerificationError, match="answered 200, expected 401"):
            verify(api, [target_of(kubelet)], ca_pem(server), 10, print, NAME)
    assert_nothing_left(server)


def test_a_binding_not_yet_in_force_does_not_fail_the_check(server, api) -> None:
    server.rbac.set_propagation_delay(0.5)
    with FakeKubelet.for_cluster(server) as kubelet:
        server.add_node("node-0", ready=True)
        verify(api, [target_of(kubelet)], ca_pem(server), 10, print, NAME)
        assert [r.code for r in kubelet.requests()] == [401, 200]
    assert_nothing_left(server)


def test_a_kubelet_that_does_not_authorize_through_the_cluster_fails_with_403(server, api) -> None:
    with FakeKubelet.for_cluster(server, authorize=lambda *_: False) as kubelet:
        server.add_node("node-0", ready=True)
        with pytest.raises(VerificationError) as failure:
            verify(api, [target_of(kubelet)], ca_pem(server), 10, print, NAME)
    assert "with the verification token answered 403, expected 200" in str(failure.value)
    assert_nothing_left(server)


def test_the_provider_verifies_from_its_inputs_and_keeps_secrets_out_of_logs(
    server, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeKubelet.for_cluster(server) as kubelet:
        server.add_node("node-0", ready=True)
        props = {
            "ca_pem": ca_pem(server),
            "nodes": [{"name": "node-0", "address": kubelet.address, "port": kubelet.port}],
            "timeout_seconds": 10,
            "identity": NAME,
        }
        result = configured(KubeletApiCheckProvider(), server.kubeconfig()).create(props)
    assert result.outs["verified"] == ["node-0"]
    logged = capsys.readouterr().err
    assert "node-0: kubelet API refuses anonymous (401)" in logged
    assert server.token not in logged
    assert not any(token in logged for token in server.issued_tokens)


def test_the_provider_diffs_only_on_what_it_checks() -> None:
    provider = KubeletApiCheckProvider()
    olds = {"ca_pem": "c", "nodes": [], "timeout_seconds": 1}
    assert provider.diff("id", {**olds, "verified": []}, olds).changes is False
    assert provider.diff("id", olds, {**olds, "nodes": [{"name": "n"}]}).changes is True
    assert provider.diff("id", olds, {**olds, "identity": NAME}).changes is False
    # The state of a stack made before the check had its own identity names the tutorial's.
    earlier = {**olds, "service_account": {"namespace": "default", "name": "kubelet-api-test"}}
    assert provider.diff("id", earlier, olds).changes is False


def test_a_kubelet_not_yet_serving_its_issued_certificate_is_tried_again(
    server, api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after approval a kubelet may still serve its self-signed certificate."""
    monkeypatch.setattr(kubelet_verification, "RETRY_SECONDS", 0.01)
    server.add_node("node-0", ready=True)
    lines: list[str] = []
    with FakeKubelet.for_cluster(server, self_signed=True) as early:
        self_signed = target_of(early)
        with FakeKubelet.for_cluster(server) as issued:
            targets = iter([self_signed, self_signed, target_of(issued)])
            real_check = kubelet_verification.check_kubelet_api
            monkeypatch.setattr(
                kubelet_verification,
                "check_kubelet_api",
                lambda _target, *args, **kwargs: real_check(next(targets), *args, **kwargs),
            )
            verify(api, [self_signed], ca_pem(server), 10, lines.append, NAME)
    retries = [line for line in lines if "trying again" in line]
    assert len(retries) == 2
    assert "does not verify against the cluster CA" in retries[0]
    assert "node-0: kubelet API refuses anonymous (401) and serves /metrics (200)" in lines


def test_a_kubelet_that_never_verifies_fails_at_the_deadline(
    server, api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kubelet_verification, "RETRY_SECONDS", 0.2)
    server.add_node("node-0", ready=True)
    with (
        FakeKubelet.for_cluster(server, self_signed=True) as kubelet,
        pytest.raises(VerificationError, match="does not verify against the cluster CA"),
    ):
        verify(api, [target_of(kubelet)], ca_pem(server), 1, print, NAME)


def test_a_wrong_answer_is_not_tried_again(server, api, monkeypatch) -> None:
    monkeypatch.setattr(kubelet_verification, "RETRY_SECONDS", 0.01)
    server.add_node("node-0", ready=True)
    with FakeKubelet.for_cluster(server, authorize=lambda *_: False) as kubelet:
        with pytest.raises(VerificationError, match="answered 403, expected 200"):
            verify(api, [target_of(kubelet)], ca_pem(server), 10, print, NAME)
        assert [r.code for r in kubelet.requests()] == [401, 403]
