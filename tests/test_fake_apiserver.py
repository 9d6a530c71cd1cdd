"""The fake API server and the kubelet CSR factory, proved with the real `kubernetes` client.

The approver's tests trust both, so these tests pin the behaviour the approver depends on:
list + resourceVersion, watch events, the /approval subresource and its 409/422 answers,
401 and 410, issuing, request counting, and CSRs that look exactly like a kubelet's.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import threading
import time
from collections import Counter
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ReadTimeoutError

from tests.fake_apiserver import FakeApiServer
from tests.fake_controllers import Signer, clean_csrs
from tests.fake_csrs import validate_create
from tests.fake_http import User
from tests.fake_store import rfc3339, utc_now
from tests.kubelet_csrs import (
    CLIENT_SIGNER,
    SERVING_SIGNER,
    SERVING_USAGES,
    SERVING_USAGES_WITH_ENCIPHERMENT,
    generate_name,
    hostile_serving_csrs,
    kubelet_client_csr,
    kubelet_serving_csr,
    legitimate_serving_csrs,
    request_of,
    to_model,
)


def certificates_api(server: FakeApiServer, token: str | None = None) -> client.CertificatesV1Api:
    """A client configured the way the approver will be: from kubeconfig YAML text."""
    configuration = client.Configuration()
    config.load_kube_config_from_dict(
        yaml.safe_load(server.kubeconfig(token=token)), client_configuration=configuration
    )
    return client.CertificatesV1Api(client.ApiClient(configuration))


@pytest.fixture
def api(server: FakeApiServer) -> client.CertificatesV1Api:
    return certificates_api(server)


FAILED = {
    "type": "Failed",
    "status": "True",
    "reason": "SignerValidationFailure",
    "message": "invalid usage for server certificate",
    "lastUpdateTime": rfc3339(utc_now()),
    "lastTransitionTime": rfc3339(utc_now()),
}


def approved(csr: Any, reason: str = "KubeletServingApproved") -> Any:
    """`csr` (a model) with an Approved condition appended, as an approver sends it."""
    condition = client.V1CertificateSigningRequestCondition(
        type="Approved", status="True", reason=reason, message="approved by the test"
    )
    csr.status = csr.status or client.V1CertificateSigningRequestStatus()
    csr.status.conditions = [*(csr.status.conditions or []), condition]
    return csr


def status_of(error: ApiException) -> dict[str, Any]:
    return json.loads(error.body)


def first_events(api: client.CertificatesV1Api, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """The first `count` watch events (stopping there, not at the timeout)."""
    watcher = watch.Watch()
    events = []
    for event in watcher.stream(api.list_certificate_signing_request, timeout_seconds=5, **kwargs):
        events.append(event)
        if len(events) == count:
            watcher.stop()
    return events


# --- the fake API server through the real client -----------------------------------------------


def test_list_returns_every_csr_and_a_resource_version(server, api):
    first = server.create(kubelet_serving_csr("node-0"))
    second = server.create(kubelet_client_csr("node-1"))

    listing = api.list_certificate_signing_request()

    assert {item.metadata.name for item in listing.items} == {
        first["metadata"]["name"],
        second["metadata"]["name"],
    }
    assert listing.metadata.resource_version == second["metadata"]["resourceVersion"]
    assert all(item.metadata.uid and item.metadata.creation_timestamp for item in listing.items)


def test_new_client_from_config_dict_reaches_the_server(server):
    server.create(kubelet_serving_csr("node-0"))
    api_client = config.new_client_from_config_dict(yaml.safe_load(server.kubeconfig()))

    listing = client.CertificatesV1Api(api_client).list_certificate_signing_request()

    assert len(listing.items) == 1


def test_watch_from_the_list_version_replays_added_then_modified(server, api):
    since = api.list_certificate_signing_request().metadata.resource_version
    name = server.create(kubelet_serving_csr("node-0"))["metadata"]["name"]
    api.replace_certificate_signing_request_approval(
        name, approved(api.read_certificate_signing_request(name))
    )

    events = first_events(api, 2, resource_version=since)

    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", name),
        ("MODIFIED", name),
    ]
    assert events[1]["object"].status.conditions[0].type == "Approved"


def test_watch_delivers_live_changes_at_once(server, api):
    since = api.list_certificate_signing_request().metadata.resource_version
    received: list[tuple[str, float]] = []
    watcher = watch.Watch()

    def consume() -> None:
        for event in watcher.stream(
            api.list_certificate_signing_request, resource_version=since, timeout_seconds=5
        ):
            received.append((event["type"], time.monotonic()))
            if len(received) == 2:
                watcher.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    server.wait_for_watchers(1)
    created_at = time.monotonic()
    name = server.create(kubelet_serving_csr("node-0"))["metadata"]["name"]
    server.delete(name)
    thread.join(timeout=5)

    assert not thread.is_alive()
    assert [kind for kind, _ in received] == ["ADDED", "DELETED"]
    assert received[-1][1] - created_at < 1.0  # live, not at the 5 s timeout


def test_watch_closes_at_timeout_seconds(server, api):
    since = api.list_certificate_signing_request().metadata.resource_version
    started = time.monotonic()

    events = list(
        watch.Watch().stream(
            api.list_certificate_signing_request, resource_version=since, timeout_seconds=1
        )
    )

    assert events == []
    assert 0.9 < time.monotonic() - started < 3


def test_watch_without_version_starts_with_every_object(server, api):
    name = server.create(kubelet_serving_csr("node-0"))["metadata"]["name"]

    events = first_events(api, 1)

    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", name)]


def test_bookmarks_reach_watches_that_allow_them(server, api):
    since = api.list_certificate_signing_request().metadata.resource_version
    watcher = watch.Watch()
    received: list[dict[str, Any]] = []

    def consume() -> None:
        for event in watcher.stream(
            api.list_certificate_signing_request,
            resource_version=since,
            allow_watch_bookmarks=True,
            timeout_seconds=5,
        ):
            received.append(event)
            watcher.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    server.wait_for_watchers(1)
    server.bookmark()
    thread.join(timeout=5)

    assert received[0]["type"] == "BOOKMARK"
    assert received[0]["raw_object"]["metadata"]["resourceVersion"] == since


def test_approval_sets_the_condition_and_bumps_the_version(server, api):
    stored = server.create(kubelet_serving_csr("node-0"))
    name = stored["metadata"]["name"]

    result = api.replace_certificate_signing_request_approval(
        name, approved(api.read_certificate_signing_request(name))
    )

    (condition,) = result.status.conditions
    assert (condition.type, condition.status, condition.reason) == (
        "Approved",
        "True",
        "KubeletServingApproved",
    )
    assert condition.last_update_time is not None
    assert condition.last_transition_time is not None
    assert int(result.metadata.resource_version) > int(stored["metadata"]["resourceVersion"])
    assert server.get(name)["status"]["conditions"][0]["type"] == "Approved"
    assert server.get(name)["spec"] == stored["spec"]  # /approval never touches the spec


def test_approval_with_a_stale_version_is_a_409_conflict(server, api):
    name = server.create(kubelet_serving_csr("node-0"))["metadata"]["name"]
    stale = api.read_certificate_signing_request(name)
    server.bump(name)

    with pytest.raises(ApiException) as raised:
        api.replace_certificate_signing_request_approval(name, approved(stale))

    assert raised.value.status == 409
    status = status_of(raised.value)
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]
    assert "conditions" not in server.get(name)["status"]


def test_conflict_next_approval_makes_exactly_one_approval_lose_a_race(server, api):
    name = server.create(kubelet_serving_csr("node-0"))["metadata"]["name"]
    server.conflict_next_approval(name)
    body = approved(api.read_certificate_signing_request(name))

    with pytest.raises(ApiException) as raised:
        api.replace_certificate_signing_request_approval(name, body)
    assert raised.value.status == 409

    retried = approved(api.read_certificate_signing_request(name))
    result = api.replace_certificate_signing_request_approval(name, retried)
    assert result.status.conditions[0].type == "Approved"


@pytest.mark.parametrize(
    ("existing", "sent"),
    [
        ((), ("Approved", "Denied")),  # mutually exclusive
        (("Approved",), ("Denied",)),  # removing Approved
        (("Approved",), ("Approved", "Denied")),  # Denied after Approved
        (("Denied",), ("Approved",)),  # removing Denied
        ((), ("Approved", "Approved")),  # duplicate type
    ],
)
def test_approval_refuses_invalid_condition_changes_with_422(server, api, existing, sent):
    name = server.create(kubelet_serving_csr("node-0"))["metadata"]["name"]
    for kind in existing:
        (server.approve if kind == "Approved" else server.deny)(name)
    body = api.read_certificate_signing_request(name)
    body.status.conditions = [
        client.V1CertificateSigningRequestCondition(type=kind, status="True", reason="Test")
        for kind in sent
    ]

    with pytest.raises(ApiException) as raised:
        api.replace_certificate_signing_request_approval(name, body)

    assert raised.value.status == 422
    status = status_of(raised.value)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"]


def test_approved_condition_with_status_false_is_refused(server, api):
    name = server.create(kubelet_serving_csr("node-0"))["metadata"]["name"]
    body = api.read_certificate_signing_request(name)
    body.status.conditions = [
        client.V1CertificateSigningRequestCondition(type="Approved", status="False")
    ]

    with pytest.raises(ApiException) as raised:
        api.replace_certificate_signing_request_approval(name, body)

    assert raised.value.status == 422
    assert 'supported values: "True"' in status_of(raised.value)["message"]


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_a_wrong_or_missing_token_is_a_401(server, token):
    api = certificates_api(server, token=token or " ")

    with pytest.raises(ApiException) as raised:
        api.list_certificate_signing_request()

    assert raised.value.status == 401
    assert status_of(raised.value)["reason"] == "Unauthorized"
    assert server.counts() == {"unauthorized": 1}


def test_watching_from_a_compacted_version_is_410_gone(server, api):
    since = api.list_certificate_signing_request().metadata.resource_version
    server.create(kubelet_serving_csr("node-0"))
    server.compact()

    with pytest.raises(ApiException) as raised:
        list(
            watch.Watch().stream(
                api.list_certificate_signing_request, resource_version=since, timeout_seconds=1
            )
        )

    assert raised.value.status == 410
    assert "Expired" in str(raised.value.reason)


def test_get_and_delete_of_a_missing_csr_are_404(server, api):
    for call in (api.read_certificate_signing_request, api.delete_certificate_signing_request):
        with pytest.raises(ApiException) as raised:
            call("csr-missing")
        assert raised.value.status == 404
        assert status_of(raised.value)["reason"] == "NotFound"


def test_create_through_the_api_validates_and_records_the_requestor(server):
    server.add_token("node-0-token", User("system:node:node-0", ("system:nodes",)))
    api = certificates_api(server, token="node-0-token")

    created = api.create_certificate_signing_request(
        to_model(kubelet_serving_csr("node-0", username="forged", groups=("system:masters",)))
    )
    assert (created.spec.username, created.spec.groups) == ("system:node:node-0", ["system:nodes"])

    with pytest.raises(ApiException) as raised:
        api.create_certificate_signing_request(
            to_model(kubelet_serving_csr("node-0", corrupt_signature=True))
        )
    assert raised.value.status == 422


def test_issue_signs_the_request_with_the_test_ca(server, api):
    csr = kubelet_serving_csr("node-0", ips=("10.0.0.7",), expiration_seconds=3600)
    name = server.create(csr)["metadata"]["name"]
    with pytest.raises(ValueError, match="not approved"):
        server.issue(name)
    server.approve(name)

    server.issue(name)

    issued = api.read_certificate_signing_request(name).status.certificate
    certificate = x509.load_pem_x509_certificate(base64.b64decode(issued))
    assert certificate.subject == request_of(csr).subject
    assert certificate.issuer == server.ca.certificate.subject
    certificate.verify_directly_issued_by(server.ca.certificate)
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["node-0"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]
    lifetime = certificate.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=59) < lifetime <= datetime.timedelta(hours=1)


def test_requests_are_counted_by_kind_and_can_be_reset(server, api):
    name = server.create(kubelet_serving_csr("node-0"))["metadata"]["name"]
    api.list_certificate_signing_request()
    api.list_certificate_signing_request()
    csr = api.read_certificate_signing_request(name)
    api.replace_certificate_signing_request_approval(name, approved(csr))
    first_events(api, 1)

    assert server.counts() == {"list": 2, "get": 1, "approval": 1, "watch": 1}
    server.reset_counts()
    assert server.counts() == {}


def test_fail_next_injects_an_error_status_once(server, api):
    server.fail_next("list", code=503, reason="ServiceUnavailable")

    with pytest.raises(ApiException) as raised:
        api.list_certificate_signing_request()

    assert raised.value.status == 503
    assert api.list_certificate_signing_request().items == []


def test_a_held_list_gets_no_answer_until_the_client_gives_up(server):
    server.hold_next("list")
    configuration = client.Configuration()
    config.load_kube_config_from_dict(
        yaml.safe_load(server.kubeconfig()), client_configuration=configuration
    )
    configuration.retries = False  # urllib3 would otherwise send it again at once
    api = client.CertificatesV1Api(client.ApiClient(configuration))
    started = time.monotonic()

    with pytest.raises(ReadTimeoutError):
        api.list_certificate_signing_request(_request_timeout=1)

    assert 1 <= time.monotonic() - started < 2
    assert api.list_certificate_signing_request().items == []
    assert server.counts() == Counter(list=2)


def test_a_held_watch_opens_then_stays_silent_past_its_timeout_seconds(server, api):
    server.hold_next("watch")
    server.create(kubelet_serving_csr("node-0"))  # an event the held stream never delivers
    events = []
    started = time.monotonic()

    with pytest.raises(ReadTimeoutError):
        for event in watch.Watch().stream(
            api.list_certificate_signing_request, timeout_seconds=1, _request_timeout=2
        ):
            events.append(event)

    assert events == []
    assert 2 <= time.monotonic() - started < 3
    assert len(first_events(api, 1)) == 1  # the next watch is served


def test_the_csr_cleaner_deletes_what_kube_controller_manager_deletes(server):
    def make(**kwargs: Any) -> str:
        return server.create(kubelet_serving_csr("node-0", **kwargs))["metadata"]["name"]

    pending, approved, issued, denied, failed = (make() for _ in range(5))
    server.approve(approved)
    server.approve(issued)
    server.issue(issued)
    server.deny(denied)
    server.store.mutate(failed, lambda csr: csr["status"].update(conditions=[FAILED]))
    short = make()
    server.approve(short)
    server.issue(short, lifetime=datetime.timedelta(minutes=30))
    now = utc_now()

    assert clean_csrs(server, now) == []
    assert clean_csrs(server, now + datetime.timedelta(minutes=40)) == [short]  # expired
    assert sorted(clean_csrs(server, now + datetime.timedelta(minutes=61))) == sorted(
        [issued, denied, failed]
    )
    assert clean_csrs(server, now + datetime.timedelta(hours=23)) == []
    assert clean_csrs(server, now + datetime.timedelta(hours=24, minutes=1)) == [pending]
    assert [csr["metadata"]["name"] for csr in server.list()] == [approved]  # never issued


def test_the_signer_issues_approved_requests_only(server):
    with Signer(server) as signer:
        approved, denied = (server.create(kubelet_serving_csr("node-0")) for _ in range(2))
        server.approve(approved["metadata"]["name"])
        server.deny(denied["metadata"]["name"])
        server.bump(denied["metadata"]["name"])
    assert signer.issued == [approved["metadata"]["name"]]
    assert server.get(approved["metadata"]["name"])["status"]["certificate"]
    assert "certificate" not in server.get(denied["metadata"]["name"])["status"]


def test_stop_ends_open_watches_and_joins_threads():
    server = FakeApiServer().start()
    api = certificates_api(server)
    api.list_certificate_signing_request()  # leaves an idle keep-alive connection
    ended = threading.Event()

    def consume() -> None:
        try:
            for _ in watch.Watch().stream(api.list_certificate_signing_request, timeout_seconds=60):
                pass
        finally:
            ended.set()

    threading.Thread(target=consume, daemon=True).start()
    server.wait_for_watchers(1)
    started = time.monotonic()

    server.stop()

    assert ended.wait(timeout=5)
    assert time.monotonic() - started < 3
    assert server.store.watch_count == 0


# --- CSRs made like a kubelet makes them -------------------------------------------------------


def test_default_serving_csr_is_exactly_what_a_current_kubelet_sends():
    csr = kubelet_serving_csr("node-0")
    request = request_of(csr)

    assert request.is_signature_valid
    assert [(a.oid, a.value) for a in request.subject] == [
        (NameOID.ORGANIZATION_NAME, "system:nodes"),
        (NameOID.COMMON_NAME, "system:node:node-0"),
    ]
    sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["node-0"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.1")]
    assert len(request.extensions) == 1
    key = request.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    assert csr["apiVersion"] == "certificates.k8s.io/v1"
    assert csr["metadata"]["name"].startswith("csr-")
    assert csr["spec"]["signerName"] == SERVING_SIGNER
    assert csr["spec"]["usages"] == list(SERVING_USAGES)
    assert csr["spec"]["username"] == "system:node:node-0"
    assert "system:nodes" in csr["spec"]["groups"]
    assert "expirationSeconds" not in csr["spec"]
    assert csr["status"] == {}


def test_generated_names_look_like_the_api_servers_and_never_repeat():
    """Tests create thousands of CSRs in one fake server: a repeated name is `AlreadyExists`."""
    names = [generate_name() for _ in range(30_000)]

    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"csr-[bcdfghjklmnpqrstvwxz2456789]{5}", name) for name in names)


def test_corrupt_signature_still_parses_but_does_not_verify():
    request = request_of(kubelet_serving_csr("node-0", corrupt_signature=True))

    assert request.is_signature_valid is False


@pytest.mark.parametrize(
    ("key", "key_type", "size"),
    [
        ("rsa-2048", rsa.RSAPublicKey, 2048),
        ("rsa-1024", rsa.RSAPublicKey, 1024),
        ("ed25519", ed25519.Ed25519PublicKey, None),
        ("ecdsa-p384", ec.EllipticCurvePublicKey, 384),
    ],
)
def test_key_variants_produce_those_keys(key, key_type, size):
    csr = kubelet_serving_csr("node-0", key=key)
    public_key = request_of(csr).public_key()

    assert isinstance(public_key, key_type)
    assert getattr(public_key, "key_size", None) == size
    assert request_of(csr).is_signature_valid
    expected = SERVING_USAGES_WITH_ENCIPHERMENT if key.startswith("rsa") else SERVING_USAGES
    assert csr["spec"]["usages"] == list(expected)


def test_ca_true_adds_basic_constraints_to_the_request():
    request = request_of(kubelet_serving_csr("node-0", ca_true=True))

    assert request.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_client_csr_uses_the_other_signer_and_the_bootstrap_identity():
    csr = kubelet_client_csr("node-0")
    request = request_of(csr)

    assert csr["spec"]["signerName"] == CLIENT_SIGNER
    assert csr["spec"]["usages"] == ["digital signature", "client auth"]
    assert csr["spec"]["username"] == "system:bootstrap:abcdef"
    assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "system:node:node-0"
    )
    assert len(request.extensions) == 0


def test_hostile_catalogue_is_large_and_every_request_distinct():
    hostile = hostile_serving_csrs("node-0", "10.0.0.1", other_node="node-1", other_ip="10.0.0.2")
    legitimate = legitimate_serving_csrs("node-0", "10.0.0.1")

    assert len(hostile) >= 20
    requests = [csr["spec"]["request"] for csr in hostile.values()]
    assert len(set(requests)) == len(requests)
    assert all(request_of(csr).is_signature_valid for csr in legitimate.values())


def test_the_api_server_would_reject_only_the_unparsable_or_unsigned_hostile_requests():
    """A real API server admits most attacks (even a second PEM block): the approver is the gate."""
    hostile = hostile_serving_csrs()

    rejected = {label for label, csr in hostile.items() if validate_create(csr)}

    assert rejected == {"bad-signature", "malformed-pem", "not-pem"}


_labels = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(
    node=_labels,
    ips=st.lists(st.ip_addresses().map(str), max_size=3, unique=True),
    extra_dns=st.lists(_labels, max_size=3, unique=True),
)
def test_serving_csr_carries_exactly_the_names_it_was_given(node, ips, extra_dns):
    dns = [node, *extra_dns]
    request = request_of(kubelet_serving_csr(node, dns=dns, ips=ips))
    sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert sans.get_values_for_type(x509.DNSName) == dns
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == [
        str(ipaddress.ip_address(ip)) for ip in ips
    ]
    assert request.subject.rfc4514_string() == f"CN=system:node:{node},O=system:nodes"
