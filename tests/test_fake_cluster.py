"""The fake API server's Nodes, ServiceAccounts, TokenRequest API and RBAC, and the fake
kubelet, proved for real.

The verification step's tests trust these fakes, so this pins what that step depends on,
through the official `kubernetes` client (CoreV1Api, RbacAuthorizationV1Api, Watch) and plain
`ssl`/`urllib`: a node list + watch that sees a Node become Ready, a ServiceAccount made and
deleted, a ClusterRoleBinding granting it the kubelet API, a TokenRequest whose token the
kubelet accepts, and a kubelet that answers 401/403/200 and fails TLS verification exactly
when a real, correctly or wrongly configured one would.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.fake_apiserver import FakeApiServer
from tests.fake_kubelet import FakeKubelet
from tests.fake_store import rfc3339, utc_now
from tests.kubelet_csrs import kubelet_serving_csr

KUBELET_API_TEST_SUBJECT = "system:serviceaccount:default:kubelet-api-test"
KUBELET_API_ADMIN = "system:kubelet-api-admin"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18  # OpenSSL's code, whatever its message wording


class Clock:
    """A settable clock, to expire tokens without waiting. It starts at the real time: the
    fake API server's CA takes its validity from it, and clients check that against theirs."""

    def __init__(self) -> None:
        self.start = self.now = utc_now().replace(microsecond=0)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)

    def at(self, seconds: float) -> str:
        """The metav1.Time `seconds` after the start."""
        return rfc3339(self.start + datetime.timedelta(seconds=seconds))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Iterator[FakeApiServer]:
    """The tutorial's cluster: ServiceAccount kubelet-api-test bound to the kubelet API."""
    with FakeApiServer(clock=clock) as fake:
        fake.add_service_account("default", "kubelet-api-test")
        fake.add_cluster_role_binding("kubelet-api-test", KUBELET_API_ADMIN, [account_subject()])
        yield fake


@pytest.fixture
def rbac(server: FakeApiServer) -> Iterator[client.RbacAuthorizationV1Api]:
    configuration = client.Configuration()
    config.load_kube_config_from_dict(
        yaml.safe_load(server.kubeconfig()), client_configuration=configuration
    )
    with client.ApiClient(configuration) as api_client:
        yield client.RbacAuthorizationV1Api(api_client)


@pytest.fixture
def api(server: FakeApiServer) -> Iterator[client.CoreV1Api]:
    """A CoreV1Api configured the way the program will be: from kubeconfig YAML text."""
    configuration = client.Configuration()
    config.load_kube_config_from_dict(
        yaml.safe_load(server.kubeconfig()), client_configuration=configuration
    )
    with client.ApiClient(configuration) as api_client:
        yield client.CoreV1Api(api_client)


@pytest.fixture
def kubelet(server: FakeApiServer) -> Iterator[FakeKubelet]:
    with FakeKubelet.for_cluster(server) as fake:
        yield fake


def account_subject(name: str = "kubelet-api-test", namespace: str = "default") -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def binding_body(name: str, subject: client.RbacV1Subject) -> client.V1ClusterRoleBinding:
    return client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=name, labels={"team": "ops"}),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=KUBELET_API_ADMIN
        ),
        subjects=[subject],
    )


def request_token(
    api: client.CoreV1Api,
    name: str = "kubelet-api-test",
    namespace: str = "default",
    **spec: Any,
) -> Any:
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(**{"expiration_seconds": 600, **spec})
    )
    return api.create_namespaced_service_account_token(name, namespace, body=body)


def kubelet_get(
    kubelet: FakeKubelet, ca_pem: bytes, token: str | None = None, path: str = "/metrics"
) -> tuple[int, str, str]:
    """GET over TLS verified against `ca_pem` with hostname checking: (code, type, body)."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(kubelet.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read().decode()


def first_events(api: client.CoreV1Api, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """The first `count` Node watch events, stopping there rather than at the timeout."""
    watcher = watch.Watch()
    events = []
    for event in watcher.stream(api.list_node, timeout_seconds=5, **kwargs):
        events.append(event)
        if len(events) == count:
            watcher.stop()
    return events


def condition(node: Any, kind: str = "Ready") -> Any:
    return next(c for c in node.status.conditions if c.type == kind)


def is_ready(node: Any) -> bool:
    return condition(node).status == "True"


def status_of(error: ApiException) -> dict[str, Any]:
    return json.loads(error.body)


def in_background(action: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=action)
    thread.start()
    return thread


# --- Nodes -------------------------------------------------------------------------------------


def test_list_node_returns_nodes_shaped_like_real_ones_and_a_resource_version(server, api):
    server.add_node("node-0", ready=False)
    last = server.add_node("node-1", ready=True, addresses=[("InternalIP", "10.0.0.11")])

    listing = api.list_node()

    assert [node.metadata.name for node in listing.items] == ["node-0", "node-1"]
    assert listing.metadata.resource_version == last["metadata"]["resourceVersion"]
    not_ready, ready = listing.items
    assert all(n.metadata.uid and n.metadata.creation_timestamp for n in listing.items)
    assert [c.type for c in ready.status.conditions] == [
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
        "Ready",
    ]
    assert (condition(ready).status, condition(ready).reason) == ("True", "KubeletReady")
    assert (condition(not_ready).status, condition(not_ready).reason) == (
        "False",
        "KubeletNotReady",
    )
    assert [(a.type, a.address) for a in not_ready.status.addresses] == [
        ("InternalIP", "127.0.0.1"),
        ("Hostname", "node-0"),
    ]
    assert [(a.type, a.address) for a in ready.status.addresses] == [("InternalIP", "10.0.0.11")]
    assert ready.status.daemon_endpoints.kubelet_endpoint.port == 10250
    assert ready.spec.taints is None
    assert {t.key for t in not_ready.spec.taints} == {NOT_READY_TAINT}


def test_watch_from_the_list_version_sees_a_node_become_ready(server, api):
    server.add_node("node-0", ready=False)
    listing = api.list_node()
    assert not is_ready(listing.items[0])
    worker = in_background(
        lambda: (server.wait_for_node_watchers(), server.set_node_ready("node-0", True))
    )

    events = []
    watcher = watch.Watch()
    for event in watcher.stream(
        api.list_node, resource_version=listing.metadata.resource_version, timeout_seconds=5
    ):
        events.append(event)
        if is_ready(event["object"]):
            watcher.stop()
    worker.join()

    assert [(e["type"], e["object"].metadata.name) for e in events] == [("MODIFIED", "node-0")]
    ready = events[0]["object"]
    assert int(ready.metadata.resource_version) > int(listing.metadata.resource_version)
    assert condition(ready).reason == "KubeletReady"
    assert ready.spec.taints is None


def test_watch_replays_every_change_after_the_version_in_order(server, api):
    since = api.list_node().metadata.resource_version
    server.add_node("node-0", ready=False)
    server.set_node_ready("node-0", True)
    server.bump_node("node-0")
    server.delete_node("node-0")

    events = first_events(api, 4, resource_version=since)

    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions)
    assert [is_ready(e["object"]) for e in events] == [False, True, True, True]


def test_watch_without_a_version_starts_with_every_node(server, api):
    server.add_node("node-0", ready=True)

    events = first_events(api, 1)

    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "node-0")]


def test_readiness_transitions_move_transition_times_and_taints(server, clock):
    added = server.add_node("node-0", ready=False)
    clock.advance(30)
    still_not_ready = server.set_node_ready("node-0", False)
    clock.advance(30)
    ready = server.set_node_ready("node-0", True)
    clock.advance(30)
    unknown = server.set_node_unknown("node-0")

    def ready_condition(node: dict[str, Any]) -> dict[str, Any]:
        return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")

    assert ready_condition(still_not_ready)["lastTransitionTime"] == clock.at(0)
    assert ready_condition(still_not_ready)["lastHeartbeatTime"] == clock.at(30)
    assert ready_condition(ready)["lastTransitionTime"] == clock.at(60)
    assert "taints" not in ready["spec"]
    assert {c["status"] for c in unknown["status"]["conditions"]} == {"Unknown"}
    assert ready_condition(unknown)["reason"] == "NodeStatusUnknown"
    assert ready_condition(unknown)["lastHeartbeatTime"] == clock.at(60)
    assert {t["key"] for t in unknown["spec"]["taints"]} == {"node.kubernetes.io/unreachable"}
    assert {t["key"] for t in added["spec"]["taints"]} == {NOT_READY_TAINT}


def test_field_and_label_selectors_filter_list_and_watch(server, api):
    since = api.list_node().metadata.resource_version
    server.add_node("node-0", ready=False, labels={"pool": "a"})
    server.add_node("node-1", ready=False, labels={"pool": "b"})
    server.set_node_ready("node-1", True)

    by_name = api.list_node(field_selector="metadata.name=node-1")
    by_label = api.list_node(label_selector="pool=a")
    events = first_events(api, 2, field_selector="metadata.name=node-1", resource_version=since)

    assert [n.metadata.name for n in by_name.items] == ["node-1"]
    assert [n.metadata.name for n in by_label.items] == ["node-0"]
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "node-1"),
        ("MODIFIED", "node-1"),
    ]
    with pytest.raises(ApiException) as raised:
        api.list_node(field_selector="status.phase=Running")
    assert raised.value.status == 400
    assert status_of(raised.value)["message"] == "field label not supported: status.phase"


def test_read_node_and_its_status_and_404_for_a_missing_one(server, api):
    server.add_node("node-0", ready=True)

    assert api.read_node("node-0").metadata.name == "node-0"
    assert is_ready(api.read_node_status("node-0"))
    with pytest.raises(ApiException) as raised:
        api.read_node("node-9")
    assert raised.value.status == 404
    assert status_of(raised.value)["message"] == 'nodes "node-9" not found'
    assert status_of(raised.value)["details"] == {"name": "node-9", "kind": "nodes"}


def test_resource_versions_are_shared_with_csrs_as_etcd_revisions_are(server, api):
    node = server.add_node("node-0", ready=False)
    csr = server.create(kubelet_serving_csr("node-0"))
    ready = server.set_node_ready("node-0", True)

    versions = [int(o["metadata"]["resourceVersion"]) for o in (node, csr, ready)]
    assert versions == sorted(set(versions))
    assert api.list_node().metadata.resource_version == str(server.resource_version)
    events = first_events(api, 1, resource_version=csr["metadata"]["resourceVersion"])
    assert [e["type"] for e in events] == ["MODIFIED"]


def test_watching_nodes_from_a_compacted_version_is_410_gone(server, api):
    since = api.list_node().metadata.resource_version
    server.add_node("node-0", ready=True)
    server.compact()

    with pytest.raises(ApiException) as raised:
        list(watch.Watch().stream(api.list_node, resource_version=since, timeout_seconds=1))

    assert raised.value.status == 410


def test_the_new_kinds_are_counted_and_can_fail_on_demand(server, api):
    server.add_node("node-0", ready=True)
    api.list_node()
    api.read_node("node-0")
    first_events(api, 1)
    api.read_namespaced_service_account("kubelet-api-test", "default")
    request_token(api)
    server.fail_next("token-request", 503, "ServiceUnavailable", "etcd is down")

    with pytest.raises(ApiException) as raised:
        request_token(api)

    assert raised.value.status == 503
    assert server.counts() == {
        "node-list": 1,
        "node-get": 1,
        "node-watch": 1,
        "serviceaccount-get": 1,
        "token-request": 2,
    }


# --- ServiceAccounts and TokenRequest ----------------------------------------------------------


def test_token_request_returns_a_short_lived_token_for_the_service_account(server, api, clock):
    response = request_token(api)

    assert response.kind == "TokenRequest"
    assert response.api_version == "authentication.k8s.io/v1"
    assert (response.metadata.namespace, response.metadata.name) == ("default", "kubelet-api-test")
    assert response.spec.expiration_seconds == 600
    assert response.spec.audiences == ["https://kubernetes.default.svc.cluster.local"]
    assert response.status.expiration_timestamp == clock.now + datetime.timedelta(seconds=600)
    token = response.status.token
    assert server.token_subject(token) == KUBELET_API_TEST_SUBJECT
    assert server.issued_tokens[token].subject == KUBELET_API_TEST_SUBJECT
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == KUBELET_API_TEST_SUBJECT
    assert claims["exp"] == int(response.status.expiration_timestamp.timestamp())


def test_token_request_defaults_to_an_hour_and_keeps_requested_audiences(server, api):
    default = api.create_namespaced_service_account_token(
        "kubelet-api-test", "default", body=client.AuthenticationV1TokenRequest(spec={})
    )
    for_vault = request_token(api, audiences=["vault"])

    assert default.spec.expiration_seconds == 3600
    assert for_vault.spec.audiences == ["vault"]
    assert server.token_subject(for_vault.status.token) is None  # not for the API server
    assert server.token_subject(for_vault.status.token, ["vault"]) == KUBELET_API_TEST_SUBJECT


def test_token_request_for_a_missing_service_account_is_404(api):
    with pytest.raises(ApiException) as raised:
        request_token(api, name="nobody")

    assert raised.value.status == 404
    assert status_of(raised.value)["message"] == 'serviceaccounts "nobody" not found'
    assert status_of(raised.value)["reason"] == "NotFound"


def test_token_request_validates_like_the_real_api(api):
    with pytest.raises(ApiException) as short:
        request_token(api, expiration_seconds=599)
    body = client.AuthenticationV1TokenRequest(
        metadata=client.V1ObjectMeta(name="someone-else"), spec=client.V1TokenRequestSpec()
    )
    with pytest.raises(ApiException) as renamed:
        api.create_namespaced_service_account_token("kubelet-api-test", "default", body=body)

    assert short.value.status == renamed.value.status == 422
    assert status_of(short.value)["message"] == (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: '
        "Invalid value: 599: may not specify a duration less than 10 minutes"
    )
    assert "must match the service account name" in status_of(renamed.value)["message"]


def test_tokens_stop_authenticating_when_expired_or_the_account_is_gone(server, api, clock):
    expiring = request_token(api).status.token
    orphaned = request_token(api).status.token

    clock.advance(599)
    assert server.token_subject(expiring) == KUBELET_API_TEST_SUBJECT
    clock.advance(1)
    assert server.token_subject(expiring) is None

    clock.now -= datetime.timedelta(seconds=600)
    server.delete_service_account("default", "kubelet-api-test")
    server.add_service_account("default", "kubelet-api-test")  # same name, new uid
    assert server.token_subject(orphaned) is None
    assert server.token_subject("not-a-token") is None
    assert server.review_token(server.token).username == "kubernetes-admin"


def test_service_accounts_are_created_and_deleted_like_the_real_api(server, api):
    body = client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="checker", labels={"a": "b"}))
    created = api.create_namespaced_service_account("kube-system", body)
    token = request_token(api, name="checker", namespace="kube-system").status.token
    with pytest.raises(ApiException) as twice:
        api.create_namespaced_service_account("kube-system", body)
    elsewhere = client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="checker", namespace="default")
    )
    with pytest.raises(ApiException) as mismatch:
        api.create_namespaced_service_account("kube-system", elsewhere)

    assert (created.metadata.namespace, created.metadata.labels) == ("kube-system", {"a": "b"})
    assert created.metadata.uid and created.metadata.resource_version
    assert twice.value.status == 409
    assert status_of(twice.value)["message"] == 'serviceaccounts "checker" already exists'
    assert mismatch.value.status == 400
    assert server.token_subject(token) == "system:serviceaccount:kube-system:checker"

    deleted = api.delete_namespaced_service_account("checker", "kube-system")

    assert deleted.metadata.uid == created.metadata.uid  # the registry answers with the object
    assert server.token_subject(token) is None  # its tokens are revoked with it
    assert ("kube-system", "checker") not in server.service_accounts()
    with pytest.raises(ApiException) as gone:
        api.delete_namespaced_service_account("checker", "kube-system")
    assert gone.value.status == 404


# --- RBAC -----------------------------------------------------------------------------------------


def test_cluster_role_bindings_are_created_read_and_deleted_like_the_real_api(server, rbac):
    subject = client.RbacV1Subject(kind="ServiceAccount", name="checker", namespace="kube-system")
    created = rbac.create_cluster_role_binding(binding_body("checker", subject))
    read = rbac.read_cluster_role_binding("checker")
    with pytest.raises(ApiException) as twice:
        rbac.create_cluster_role_binding(binding_body("checker", subject))

    assert created.metadata.uid == read.metadata.uid
    assert read.metadata.labels == {"team": "ops"}
    assert read.role_ref.name == KUBELET_API_ADMIN
    assert [(s.kind, s.namespace, s.name) for s in read.subjects] == [
        ("ServiceAccount", "kube-system", "checker")
    ]
    assert [b.metadata.name for b in rbac.list_cluster_role_binding().items] == [
        "checker",
        "kubelet-api-test",
    ]
    assert twice.value.status == 409
    assert status_of(twice.value)["message"] == (
        'clusterrolebindings.rbac.authorization.k8s.io "checker" already exists'
    )

    status = rbac.delete_cluster_role_binding("checker")

    assert status["kind"] == "Status" and status["status"] == "Success"
    assert (status["details"]["name"], status["details"]["uid"]) == (
        "checker",
        created.metadata.uid,
    )
    with pytest.raises(ApiException) as gone:
        rbac.read_cluster_role_binding("checker")
    assert gone.value.status == 404
    assert status_of(gone.value)["message"] == (
        'clusterrolebindings.rbac.authorization.k8s.io "checker" not found'
    )


def test_a_binding_is_validated_like_the_real_api(rbac):
    no_namespace = client.RbacV1Subject(kind="ServiceAccount", name="checker")
    with pytest.raises(ApiException) as raised:
        rbac.create_cluster_role_binding(binding_body("checker", no_namespace))

    assert raised.value.status == 422
    assert status_of(raised.value)["message"] == (
        'ClusterRoleBinding.rbac.authorization.k8s.io "checker" is invalid: '
        "subjects[0].namespace: Required value"
    )


def test_the_kubelet_asks_the_clusters_rbac_at_each_request(server, api, rbac, kubelet):
    server.add_service_account("kube-system", "checker")
    token = request_token(api, name="checker", namespace="kube-system").status.token
    subject = client.RbacV1Subject(kind="ServiceAccount", name="checker", namespace="kube-system")

    before = kubelet_get(kubelet, server.ca_pem, token)[0]
    rbac.create_cluster_role_binding(binding_body("checker", subject))
    bound = kubelet_get(kubelet, server.ca_pem, token)[0]
    server.set_cluster_role(KUBELET_API_ADMIN, [])
    role_emptied = kubelet_get(kubelet, server.ca_pem, token)[0]

    assert (before, bound, role_emptied) == (403, 200, 403)
    user = server.review_token(token)
    assert server.subject_access_review(user, "get", "nodes", "metrics") is False
    assert server.subject_access_review(user, "get", "nodes", "") is False


def subject_access_review(api_client: client.ApiClient, user: str, groups: list[str]) -> Any:
    spec = client.V1SubjectAccessReviewSpec(
        user=user,
        groups=groups,
        resource_attributes=client.V1ResourceAttributes(
            verb="get", resource="nodes", subresource="metrics", name="node-0"
        ),
    )
    body = client.V1SubjectAccessReview(spec=spec)
    return client.AuthorizationV1Api(api_client).create_subject_access_review(body)


def test_a_subject_access_review_answers_from_rbac(server, rbac):
    groups = ["system:serviceaccounts", "system:authenticated"]
    tutorial = subject_access_review(rbac.api_client, KUBELET_API_TEST_SUBJECT, groups)
    stranger = subject_access_review(rbac.api_client, "system:serviceaccount:default:x", groups)

    assert tutorial.status.allowed is True
    assert stranger.status.allowed is False
    assert tutorial.spec.user == KUBELET_API_TEST_SUBJECT
    assert server.counts()["subjectaccessreview"] == 2


def test_a_new_binding_takes_effect_after_the_authorizers_cache_has_it(server, api, rbac, kubelet):
    """RBAC authorizes from an informer cache: a binding is stored at once, obeyed a bit later."""
    server.rbac.set_propagation_delay(0.3)
    server.add_service_account("kube-system", "checker")
    token = request_token(api, name="checker", namespace="kube-system").status.token
    server.add_cluster_role_binding(
        "checker", KUBELET_API_ADMIN, [account_subject("checker", "kube-system")]
    )
    user = "system:serviceaccount:kube-system:checker"

    stored = rbac.read_cluster_role_binding("checker").metadata.name
    early = (
        kubelet_get(kubelet, server.ca_pem, token)[0],
        subject_access_review(rbac.api_client, user, []).status.allowed,
    )
    time.sleep(0.4)
    later = (
        kubelet_get(kubelet, server.ca_pem, token)[0],
        subject_access_review(rbac.api_client, user, []).status.allowed,
    )

    assert stored == "checker"
    assert early == (403, False)
    assert later == (200, True)


def test_system_masters_may_do_anything(server):
    admin = server.review_token(server.token)
    assert server.subject_access_review(admin, "create", "nodes", "proxy")


# --- the fake kubelet --------------------------------------------------------------------------


def test_kubelet_accepts_the_service_account_token(server, api, kubelet):
    token = request_token(api).status.token

    code, content_type, body = kubelet_get(kubelet, server.ca_pem, token)

    assert code == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert body.startswith("# HELP ")
    assert 'kubelet_node_name{node="node-0"} 1' in body
    assert kubelet.requests()[-1].user == KUBELET_API_TEST_SUBJECT


def test_kubelet_refuses_anonymous_requests_with_401(server, kubelet):
    assert kubelet_get(kubelet, server.ca_pem)[0::2] == (401, "Unauthorized")
    assert kubelet_get(kubelet, server.ca_pem, path="/healthz")[0::2] == (401, "Unauthorized")


def test_kubelet_refuses_unknown_and_wrong_audience_tokens_with_401(server, api, kubelet):
    for_vault = request_token(api, audiences=["vault"]).status.token

    assert kubelet_get(kubelet, server.ca_pem, "made-up")[0::2] == (401, "Unauthorized")
    assert kubelet_get(kubelet, server.ca_pem, for_vault)[0::2] == (401, "Unauthorized")
    assert kubelet.counts() == {"unauthorized": 2}


def test_kubelet_forbids_an_authenticated_but_unauthorized_account(server, api, kubelet):
    server.add_service_account("default", "someone-else")
    token = request_token(api, name="someone-else").status.token

    code, _, body = kubelet_get(kubelet, server.ca_pem, token)

    assert code == 403
    assert body == (
        "Forbidden (user=system:serviceaccount:default:someone-else, verb=get, "
        "resource=nodes, subresource=metrics)"
    )
    server.add_cluster_role_binding(
        "someone-else", KUBELET_API_ADMIN, [account_subject("someone-else")]
    )
    assert kubelet_get(kubelet, server.ca_pem, token)[0] == 200
    assert kubelet.counts() == {"forbidden": 1, "metrics": 1}


def test_kubelet_with_anonymous_auth_still_authorizes_system_anonymous(server):
    with FakeKubelet.for_cluster(server, anonymous_auth=True) as kubelet:
        anonymous = kubelet_get(kubelet, server.ca_pem)
        invalid_token = kubelet_get(kubelet, server.ca_pem, "made-up")

    assert anonymous[0::2] == (
        403,
        "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource=metrics)",
    )
    assert invalid_token[0::2] == (401, "Unauthorized")


def test_misconfigured_kubelet_answers_anonymous_requests_with_200(server):
    with FakeKubelet.for_cluster(
        server, anonymous_auth=True, authorization_mode="AlwaysAllow"
    ) as kubelet:
        code, _, body = kubelet_get(kubelet, server.ca_pem)

    assert code == 200
    assert body.startswith("# HELP ")
    assert kubelet.requests()[-1].user == "system:anonymous"


def test_self_signed_kubelet_fails_verification_against_the_cluster_ca(server, api):
    token = request_token(api).status.token
    with FakeKubelet.for_cluster(server, self_signed=True) as kubelet:
        with pytest.raises(urllib.error.URLError) as raised:
            kubelet_get(kubelet, server.ca_pem, token)
        trusting_itself = kubelet_get(kubelet, kubelet.certificate_pem, token)

    assert isinstance(raised.value.reason, ssl.SSLCertVerificationError)
    assert raised.value.reason.verify_code == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    assert trusting_itself[0] == 200  # only the issuer was wrong, not the names


def test_kubelet_certificate_is_for_its_ip_and_node_name_only(server, kubelet):
    context = ssl.create_default_context(cadata=server.ca_pem.decode())
    assert context.check_hostname

    for name in ("127.0.0.1", "node-0"):
        with (
            socket.create_connection((kubelet.address, kubelet.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            subject = dict(item[0] for item in tls.getpeercert()["subject"])
        assert subject == {"organizationName": "system:nodes", "commonName": "system:node:node-0"}
    with (
        socket.create_connection((kubelet.address, kubelet.port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"),
    ):
        context.wrap_socket(raw, server_hostname="node-1")


def test_kubelet_keeps_alive_and_stop_joins_every_thread(server, api):
    token = request_token(api).status.token
    before = set(threading.enumerate())
    kubelet = FakeKubelet.for_cluster(server).start()
    context = ssl.create_default_context(cadata=server.ca_pem.decode())
    connection = http.client.HTTPSConnection(kubelet.address, kubelet.port, context=context)
    try:
        for _ in range(2):  # two requests on one kept-alive connection
            connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            assert (response.status, response.read()[:7]) == (200, b"# HELP ")
        kubelet.stop()  # with the connection still open
    finally:
        connection.close()

    assert set(threading.enumerate()) <= before
    assert kubelet.counts() == {"metrics": 2}


# --- the verification step, end to end ----------------------------------------------------------


def test_the_verification_step_end_to_end(server, api):
    """Wait for every Node to be Ready, get a token, call every kubelet where its Node says."""
    with (
        FakeKubelet.for_cluster(server, node_name="node-0") as first,
        FakeKubelet.for_cluster(server, node_name="node-1") as second,
    ):
        for kubelet in (first, second):
            server.add_node(kubelet.node_name, ready=False, kubelet_port=kubelet.port)
        listing = api.list_node()
        ready = {n.metadata.name for n in listing.items if is_ready(n)}
        worker = in_background(
            lambda: (
                server.wait_for_node_watchers(),
                server.set_node_ready("node-1", True),
                server.bump_node("node-0"),
                server.set_node_ready("node-0", True),
            )
        )
        watcher = watch.Watch()
        nodes = {n.metadata.name: n for n in listing.items}
        for event in watcher.stream(
            api.list_node, resource_version=listing.metadata.resource_version, timeout_seconds=5
        ):
            nodes[event["object"].metadata.name] = event["object"]
            if is_ready(event["object"]):
                ready.add(event["object"].metadata.name)
            if ready == {"node-0", "node-1"}:
                watcher.stop()
        worker.join()
        token = request_token(api).status.token

        answers = {}
        for name, node in sorted(nodes.items()):
            address = next(a.address for a in node.status.addresses if a.type == "InternalIP")
            port = node.status.daemon_endpoints.kubelet_endpoint.port
            context = ssl.create_default_context(cadata=server.ca_pem.decode())
            for header in ({}, {"Authorization": f"Bearer {token}"}):
                request = urllib.request.Request(
                    f"https://{address}:{port}/metrics", headers=header
                )
                try:
                    with urllib.request.urlopen(request, context=context, timeout=5) as response:
                        answers[name, bool(header)] = response.status
                except urllib.error.HTTPError as error:
                    with error:
                        answers[name, bool(header)] = error.code

    assert ready == {"node-0", "node-1"}
    assert answers == {
        ("node-0", False): 401,
        ("node-0", True): 200,
        ("node-1", False): 401,
        ("node-1", True): 200,
    }
    assert first.counts() == second.counts() == {"unauthorized": 1, "metrics": 1}
