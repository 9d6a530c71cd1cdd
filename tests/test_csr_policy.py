"""The serving-CSR policy: one pure verdict per request, and a reason a person can act on.

Every refusal is checked twice: the rule that fired, and a fragment of the message naming the
offending value (the CN, the SAN, the usage, the key...), so a wrong reason fails the test as
surely as a wrong action.
"""

from __future__ import annotations

import base64
import ipaddress
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from components.approval.csr_policy import (
    DEFAULT_MAX_EXPIRATION_SECONDS,
    Action,
    NodeIdentity,
    evaluate,
)
from tests.kubelet_csrs import (
    HOSTILE_SERVING,
    NODE_GROUPS,
    SERVING_SIGNER,
    SERVING_USAGES,
    SERVING_USAGES_WITH_ENCIPHERMENT,
    csr_object,
    hostile_serving_csrs,
    kubelet_client_csr,
    kubelet_serving_csr,
    legitimate_serving_csrs,
    make_key,
    request_of,
)

NODE, IP = "node-0", "10.0.0.1"
OTHER, OTHER_IP = "node-1", "10.0.0.2"
INVENTORY = {
    NODE: NodeIdentity.of(NODE, [IP]),
    OTHER: NodeIdentity.of(OTHER, [OTHER_IP]),
}

# hostile_serving_csrs label -> (rule, fragment of the message naming the offending value).
DENIED: dict[str, tuple[str, str]] = {
    "other-node-cn": ("subject", "'CN=system:node:node-1,O=system:nodes'"),
    "other-node-everything": ("subject", "'CN=system:node:node-1,O=system:nodes'"),
    "requestor-not-a-node": ("requestor", "'system:serviceaccount:default:attacker'"),
    "bootstrap-requestor": ("requestor", "'system:bootstrap:abcdef'"),
    "groups-without-system-nodes": ("groups", "['system:authenticated'] do not include"),
    "organization-missing": ("subject", "subject 'CN=system:node:node-0' is not"),
    "organization-extra": ("subject", "O=system:masters"),
    "organization-wrong": ("subject", "'CN=system:node:node-0,O=system:masters'"),
    "extra-subject-ou": ("subject", "OU=evil"),
    "cn-missing": ("subject", "subject 'O=system:nodes' is not"),
    "dns-of-other-node": ("san-dns", "DNS name 'node-1' is not a name of node-0"),
    "dns-prefix-of-name": ("san-dns", "DNS name 'node-0.evil.io'"),
    "ip-of-other-node": ("san-ip", "IP address 10.0.0.2 is not an address of node-0"),
    "ip-foreign": ("san-ip", "IP address 192.0.2.66"),
    "wildcard-dns": ("san-wildcard", "'*.node-0'"),
    "kubernetes-service-dns": ("san-dns", "DNS name 'kubernetes.default.svc'"),
    "email-san": ("san-type", "RFC822Name 'admin@example.com'"),
    "uri-san": (
        "san-type",
        "UniformResourceIdentifier 'spiffe://cluster.local/ns/kube-system/sa/admin'",
    ),
    "no-san": ("san", "names no DNS name or IP address"),
    "client-auth-usage": ("usages", "['client auth', 'digital signature', 'server auth']"),
    "missing-server-auth": ("usages", "usages ['digital signature'] are not"),
    "cert-sign-usage": ("usages", "'cert sign'"),
    "big-expiration": ("expiration", "expirationSeconds 315360000 is above the policy's"),
    "rsa-1024": ("key", "RSA key of 1024 bits"),
    "ed25519": ("key", "Ed25519 keys are not allowed"),
    "ca-true": ("ca", "CA:TRUE"),
    "bad-signature": ("signature", "signature does not verify"),
    "malformed-pem": ("pem", "not a well-formed PKCS#10 request"),
    "not-pem": ("pem", "(found: none)"),
    "second-pem-block": ("pem", "(found: CERTIFICATE REQUEST, CERTIFICATE REQUEST)"),
}
# hostile_serving_csrs label -> rule: requests that are none of this stack's business.
IGNORED: dict[str, str] = {
    "unknown-node": "unmanaged",
    "client-signer-with-serving-shape": "signer",
}


@pytest.fixture(scope="module")
def hostile() -> dict[str, dict[str, Any]]:
    return hostile_serving_csrs(NODE, IP, other_node=OTHER, other_ip=OTHER_IP)


def name_of(csr: dict[str, Any]) -> str:
    return csr["metadata"]["name"]


def with_extensions(
    node: str, extensions: list[x509.ExtensionType], key: Any = None
) -> dict[str, Any]:
    """A serving CSR for `node` (CN, O, DNS and IP right) with extra extensions in it."""
    key = key or make_key("ecdsa-p256")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
        ]
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    builder = builder.add_extension(
        x509.SubjectAlternativeName([x509.DNSName(node)]), critical=False
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return csr_object(
        pem,
        signer=SERVING_SIGNER,
        usages=SERVING_USAGES,
        username=f"system:node:{node}",
        groups=NODE_GROUPS,
    )


# --- what a real kubelet sends is approved -------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "usages"),
    [
        pytest.param("ecdsa-p256", SERVING_USAGES, id="ecdsa-p256-current"),
        pytest.param("rsa-2048", SERVING_USAGES_WITH_ENCIPHERMENT, id="rsa-2048"),
        pytest.param("ecdsa-p256", SERVING_USAGES_WITH_ENCIPHERMENT, id="ecdsa-p256-pre-1.27"),
    ],
)
def test_the_kubelets_own_request_shapes_are_approved(key: str, usages: tuple[str, ...]) -> None:
    csr = kubelet_serving_csr(NODE, ips=(IP,), key=key, usages=usages)

    verdict = evaluate(csr, INVENTORY)

    assert (verdict.action, verdict.node, verdict.rule) == (Action.APPROVE, NODE, "genuine")
    assert verdict.message == f"{name_of(csr)}: genuine serving request of {NODE}"


@pytest.mark.parametrize("label", ["ecdsa-current", "ecdsa-pre-1.27", "rsa-2048", "ip-only"])
def test_every_legitimate_kubelet_request_of_the_factory_is_approved(label: str) -> None:
    csr = legitimate_serving_csrs(NODE, IP)[label]
    assert evaluate(csr, INVENTORY).action is Action.APPROVE


def test_default_kubelet_usages_are_exactly_the_two_shapes_of_the_policy() -> None:
    """Pin the factory, so the approvals above really are the kubelet's shapes."""
    assert kubelet_serving_csr(NODE)["spec"]["usages"] == ["digital signature", "server auth"]
    assert kubelet_serving_csr(NODE, key="rsa-2048")["spec"]["usages"] == [
        "digital signature",
        "key encipherment",
        "server auth",
    ]


# --- hostile and malformed requests for a managed node are denied, naming the offence ----------


def test_every_hostile_request_of_the_factory_has_an_expected_verdict() -> None:
    assert set(DENIED) | set(IGNORED) == set(HOSTILE_SERVING)
    assert len(DENIED) >= 20


@pytest.mark.parametrize(("label", "expected"), DENIED.items(), ids=list(DENIED))
def test_hostile_request_is_denied_for_the_right_reason(
    hostile: dict[str, dict[str, Any]], label: str, expected: tuple[str, str]
) -> None:
    rule, fragment = expected
    csr = hostile[label]

    verdict = evaluate(csr, INVENTORY)

    assert (verdict.action, verdict.node, verdict.rule) == (Action.DENY, NODE, rule)
    assert verdict.message.startswith(f"{name_of(csr)} for {NODE}: ")
    assert fragment in verdict.message


@pytest.mark.parametrize(("label", "rule"), IGNORED.items(), ids=list(IGNORED))
def test_requests_of_other_nodes_and_signers_are_ignored(
    hostile: dict[str, dict[str, Any]], label: str, rule: str
) -> None:
    verdict = evaluate(hostile[label], INVENTORY)
    assert (verdict.action, verdict.node, verdict.rule) == (Action.IGNORE, None, rule)


@pytest.mark.parametrize(
    ("csr", "rule", "fragment"),
    [
        pytest.param(
            kubelet_serving_csr(NODE, ips=(IP, "10.254.0.1")),
            "san-ip",
            "IP address 10.254.0.1 is not an address of node-0",
            id="kubernetes-service-ip",
        ),
        pytest.param(
            kubelet_serving_csr(NODE, dns=(NODE, "kubernetes"), ips=(IP,)),
            "san-dns",
            "DNS name 'kubernetes'",
            id="kubernetes-short-name",
        ),
        pytest.param(
            kubelet_serving_csr(
                NODE, dns=(NODE, "kubernetes.default.svc.cluster.local"), ips=(IP,)
            ),
            "san-dns",
            "DNS name 'kubernetes.default.svc.cluster.local'",
            id="kubernetes-service-fqdn",
        ),
        pytest.param(
            kubelet_serving_csr(NODE, dns=(NODE, "localhost"), ips=(IP, "127.0.0.1")),
            "san-dns",
            "DNS name 'localhost'",
            id="localhost",
        ),
        pytest.param(
            kubelet_serving_csr(NODE, dns=(NODE, "*"), ips=(IP,)),
            "san-wildcard",
            "wildcard DNS name '*'",
            id="bare-wildcard",
        ),
        pytest.param(
            kubelet_serving_csr(NODE, ips=(IP,), key=ec.generate_private_key(ec.SECP256K1())),
            "key",
            "ECDSA curve secp256k1 is not P-256",
            id="ecdsa-secp256k1",
        ),
        pytest.param(
            kubelet_serving_csr(
                NODE, ips=(IP,), usages=("digital signature", "server auth", "server auth")
            ),
            "usages",
            "'server auth', 'server auth'",
            id="duplicated-usage",
        ),
        pytest.param(
            kubelet_serving_csr(NODE, ips=(IP,), usages=("key encipherment", "server auth")),
            "usages",
            "['key encipherment', 'server auth'] are not",
            id="no-digital-signature",
        ),
        pytest.param(
            kubelet_serving_csr(NODE, ips=(IP,), usages=()),
            "usages",
            "usages [] are not",
            id="no-usages",
        ),
        pytest.param(
            kubelet_serving_csr(NODE, ips=(IP,), username=f"system:node:{OTHER}"),
            "subject",
            "'CN=system:node:node-0,O=system:nodes' is not exactly "
            "'CN=system:node:node-1,O=system:nodes'",
            id="requestor-and-cn-are-different-managed-nodes",
        ),
        pytest.param(
            kubelet_serving_csr(
                NODE, ips=(IP,), username="system:node:not-in-stack", groups=NODE_GROUPS
            ),
            "requestor",
            "requested by 'system:node:not-in-stack', not by the node itself",
            id="unmanaged-node-claims-a-managed-cn",
        ),
        pytest.param(
            kubelet_serving_csr(NODE, ips=(IP,), organizations=("system:nodes", "system:nodes")),
            "subject",
            "O=system:nodes,O=system:nodes",
            id="organization-twice",
        ),
        pytest.param(
            with_extensions(NODE, [x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])]),
            "extension",
            "unexpected extension 2.5.29.37",
            id="extended-key-usage-extension",
        ),
    ],
)
def test_more_hostile_requests_are_denied_for_the_right_reason(
    csr: dict[str, Any], rule: str, fragment: str
) -> None:
    verdict = evaluate(csr, INVENTORY)
    assert (verdict.action, verdict.rule) == (Action.DENY, rule), verdict.message
    assert fragment in verdict.message


def test_expiration_at_the_limit_is_approved_and_one_second_more_is_denied() -> None:
    at_limit = kubelet_serving_csr(NODE, ips=(IP,), expiration_seconds=3600)
    above = kubelet_serving_csr(NODE, ips=(IP,), expiration_seconds=3601)

    assert evaluate(at_limit, INVENTORY, max_expiration_seconds=3600).action is Action.APPROVE
    verdict = evaluate(above, INVENTORY, max_expiration_seconds=3600)
    assert (verdict.action, verdict.rule) == (Action.DENY, "expiration")
    assert "expirationSeconds 3601 is above the policy's 3600" in verdict.message


def test_default_expiration_limit_is_a_year() -> None:
    year = kubelet_serving_csr(NODE, ips=(IP,), expiration_seconds=DEFAULT_MAX_EXPIRATION_SECONDS)
    assert evaluate(year, INVENTORY).action is Action.APPROVE


# --- the prefix trick: node `a` must not get names of node `auth` --------------------------------

PREFIX_INVENTORY = {
    "a": NodeIdentity.of("a", ["10.0.1.1"]),
    "auth": NodeIdentity.of("auth", ["10.0.1.2"]),
}


@pytest.mark.parametrize(
    ("csr", "rule", "fragment"),
    [
        pytest.param(
            kubelet_serving_csr("a", dns=("a", "auth.evil.io"), ips=("10.0.1.1",)),
            "san-dns",
            "DNS name 'auth.evil.io' is not a name of a",
            id="a-asks-for-auth.evil.io",
        ),
        pytest.param(
            kubelet_serving_csr("a", dns=("a", "auth"), ips=("10.0.1.1",)),
            "san-dns",
            "DNS name 'auth' is not a name of a",
            id="a-asks-for-auth",
        ),
        pytest.param(
            kubelet_serving_csr("a", dns=("a", "a.evil.io"), ips=("10.0.1.1",)),
            "san-dns",
            "DNS name 'a.evil.io' is not a name of a",
            id="a-asks-for-a.evil.io",
        ),
        pytest.param(
            kubelet_serving_csr("a", ips=("10.0.1.1",), common_name="system:node:auth"),
            "subject",
            "'CN=system:node:auth,O=system:nodes'",
            id="a-asks-as-cn-auth",
        ),
        pytest.param(
            kubelet_serving_csr("a", ips=("10.0.1.1", "10.0.1.2")),
            "san-ip",
            "IP address 10.0.1.2 is not an address of a",
            id="a-asks-for-the-ip-of-auth",
        ),
    ],
)
def test_node_a_cannot_get_names_that_merely_start_with_a(
    csr: dict[str, Any], rule: str, fragment: str
) -> None:
    verdict = evaluate(csr, PREFIX_INVENTORY)
    assert (verdict.action, verdict.node, verdict.rule) == (Action.DENY, "a", rule)
    assert fragment in verdict.message


def test_nodes_a_and_auth_each_get_their_own_names() -> None:
    for node, ip in (("a", "10.0.1.1"), ("auth", "10.0.1.2")):
        verdict = evaluate(kubelet_serving_csr(node, ips=(ip,)), PREFIX_INVENTORY)
        assert (verdict.action, verdict.node) == (Action.APPROVE, node)


# --- names: case, trailing dots, extraSANs ------------------------------------------------------

EXTRA_INVENTORY = {
    NODE: NodeIdentity.of(
        NODE, [IP, "192.168.7.10", "2001:DB8::0001"], ["Node-0.Example.COM.", "api-gw.internal"]
    ),
}


@pytest.mark.parametrize(
    ("dns", "ips"),
    [
        pytest.param(("NODE-0",), (IP,), id="upper-case-name"),
        pytest.param(("node-0.",), (IP,), id="trailing-dot"),
        pytest.param(("node-0.example.com",), (IP,), id="extra-san-lower-case"),
        pytest.param(("NODE-0.EXAMPLE.COM.",), (IP,), id="extra-san-upper-case-trailing-dot"),
        pytest.param(("node-0", "api-gw.internal"), (IP,), id="second-extra-san"),
        pytest.param((NODE,), (IP, "192.168.7.10"), id="extra-san-ip"),
        pytest.param((NODE,), ("2001:db8::1",), id="extra-san-ipv6-normalised"),
    ],
)
def test_dns_ignores_case_and_a_trailing_dot_and_extra_sans_are_accepted(
    dns: tuple[str, ...], ips: tuple[str, ...]
) -> None:
    verdict = evaluate(kubelet_serving_csr(NODE, dns=dns, ips=ips), EXTRA_INVENTORY)
    assert verdict.action is Action.APPROVE, verdict.message


def test_a_name_beside_the_extra_sans_is_still_denied() -> None:
    csr = kubelet_serving_csr(NODE, dns=("node-0.example.com.evil.io",), ips=(IP,))
    verdict = evaluate(csr, EXTRA_INVENTORY)
    assert (verdict.action, verdict.rule) == (Action.DENY, "san-dns")
    assert "allowed: ['api-gw.internal', 'node-0', 'node-0.example.com']" in verdict.message


# --- what the policy leaves alone ----------------------------------------------------------------


@pytest.mark.parametrize(
    "csr",
    [
        pytest.param(kubelet_client_csr(NODE), id="client-bootstrap"),
        pytest.param(kubelet_client_csr(NODE, bootstrap=False), id="client-renewal"),
        pytest.param(kubelet_serving_csr(NODE, signer="example.com/other"), id="other-signer"),
    ],
)
def test_other_signers_are_ignored(csr: dict[str, Any]) -> None:
    verdict = evaluate(csr, INVENTORY)
    assert (verdict.action, verdict.rule) == (Action.IGNORE, "signer")


def test_a_genuine_request_of_another_clusters_node_is_ignored() -> None:
    verdict = evaluate(kubelet_serving_csr("node-7", ips=("10.9.0.7",)), INVENTORY)
    assert (verdict.action, verdict.node, verdict.rule) == (Action.IGNORE, None, "unmanaged")


@pytest.mark.parametrize(
    "status",
    [
        pytest.param({"conditions": [{"type": "Approved", "status": "True"}]}, id="approved"),
        pytest.param({"conditions": [{"type": "Denied", "status": "True"}]}, id="denied"),
        pytest.param({"conditions": [{"type": "Failed", "status": "True"}]}, id="failed"),
        pytest.param({"certificate": "LS0tLS1CRUdJTg=="}, id="issued"),
    ],
)
def test_decided_requests_are_ignored(status: dict[str, Any]) -> None:
    for csr in (kubelet_serving_csr(NODE, ips=(IP,)), kubelet_serving_csr(NODE, dns=("evil",))):
        verdict = evaluate({**csr, "status": status}, INVENTORY)
        assert (verdict.action, verdict.rule) == (Action.IGNORE, "decided")


# --- requests the API server may let through must not crash the policy --------------------------


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def duplicate_san_request(node: str, ip: str, second_dns: str) -> dict[str, Any]:
    """A signed request with two subjectAltName extensions: [node, ip] and [second_dns].

    Go's x509.ParseCertificateRequest (so the API server) accepts duplicate extensions in a
    CSR and keeps the last SAN it reads; `cryptography` refuses to load the extension list.
    Built by writing an issuerAltName, renaming its OID to subjectAltName and signing again.
    """
    key = make_key("ecdsa-p256")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
        ]
    )
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(node), x509.IPAddress(ipaddress.ip_address(ip))]
            ),
            critical=False,
        )
        .add_extension(x509.IssuerAlternativeName([x509.DNSName(second_dns)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    issuer_alt_name, subject_alt_name = bytes.fromhex("0603551d12"), bytes.fromhex("0603551d11")
    tbs = request.tbs_certrequest_bytes.replace(issuer_alt_name, subject_alt_name)
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    ecdsa_with_sha256 = _tlv(0x30, _tlv(0x06, bytes.fromhex("2a8648ce3d040302")))
    der = _tlv(0x30, tbs + ecdsa_with_sha256 + _tlv(0x03, b"\x00" + signature))
    pem = x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM)
    return csr_object(
        pem,
        signer=SERVING_SIGNER,
        usages=SERVING_USAGES,
        username=f"system:node:{node}",
        groups=NODE_GROUPS,
    )


def test_duplicate_san_request_is_well_formed_and_correctly_signed() -> None:
    """The fixture is a real attack shape, not a broken request: it parses and verifies."""
    csr = duplicate_san_request(NODE, IP, "kubernetes.default.svc")

    request = x509.load_pem_x509_csr(base64.b64decode(csr["spec"]["request"]))
    assert request.is_signature_valid
    with pytest.raises(x509.DuplicateExtension):
        _ = request.extensions


def test_request_with_two_san_extensions_is_denied_not_a_crash() -> None:
    """`cryptography` raises DuplicateExtension lazily, from `request.extensions`; Go's parser,
    and so the API server, accepts two SAN extensions. A node of the stack can post such a
    request: it must get a verdict (denied), not stop the approver for every node.
    """
    csr = duplicate_san_request(NODE, IP, "kubernetes.default.svc")

    verdict = evaluate(csr, INVENTORY)

    assert (verdict.action, verdict.node) == (Action.DENY, NODE)
    assert "2.5.29.17" in verdict.message or "extension" in verdict.message


# sha1WithRSAEncryption, and RSASSA-PSS with its default parameters: SHA-1, MGF1 over SHA-1,
# a 20-byte salt.
_RSA_WITH_SHA1 = _tlv(0x30, _tlv(0x06, bytes.fromhex("2a864886f70d010105")) + b"\x05\x00")
_RSA_PSS_DEFAULTS = _tlv(0x30, _tlv(0x06, bytes.fromhex("2a864886f70d01010a")) + _tlv(0x30, b""))


def sha1_signed_request(node: str, ip: str, *, pss: bool) -> dict[str, Any]:
    """The kubelet's RSA request for `node`, signed again over SHA-1 (PKCS#1 v1.5, or RSA-PSS).

    cryptography's builder refuses SHA-1, so the request is assembled by hand.
    """
    key = make_key("rsa-2048")
    tbs = request_of(kubelet_serving_csr(node, ips=(ip,), key=key)).tbs_certrequest_bytes
    if pss:
        algorithm = _RSA_PSS_DEFAULTS
        signature = key.sign(tbs, padding.PSS(padding.MGF1(hashes.SHA1()), 20), hashes.SHA1())
    else:
        algorithm, signature = _RSA_WITH_SHA1, key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    der = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    return csr_object(
        x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM),
        signer=SERVING_SIGNER,
        usages=SERVING_USAGES_WITH_ENCIPHERMENT,
        username=f"system:node:{node}",
        groups=NODE_GROUPS,
    )


@pytest.mark.parametrize(
    ("pss", "fragment"),
    [
        pytest.param(True, "the request is signed with sha1, a broken hash", id="rsa-pss"),
        pytest.param(False, "signature does not verify", id="pkcs1-v1.5"),
    ],
)
def test_a_request_signed_over_sha1_is_refused(pss: bool, fragment: str) -> None:
    """cryptography 50 fails a PKCS#1 v1.5 signature over SHA-1 but verifies one made with
    RSA-PSS; the policy refuses that one too, naming the hash. Go's approver refuses both."""
    verdict = evaluate(sha1_signed_request(NODE, IP, pss=pss), INVENTORY)

    assert (verdict.action, verdict.node, verdict.rule) == (Action.DENY, NODE, "signature")
    assert fragment in verdict.message


# --- NodeIdentity ---------------------------------------------------------------------------------


def test_node_identity_normalises_names_and_addresses() -> None:
    identity = NodeIdentity.of("node-0", ["2001:DB8:0::1", "10.0.0.1"], ["Node-0.Example.com."])
    assert identity.ips == frozenset({"2001:db8::1", "10.0.0.1"})
    assert identity.dns_names == frozenset({"node-0", "node-0.example.com"})


def test_node_identity_refuses_a_bad_address() -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        NodeIdentity.of("node-0", ["10.0.0.300"])
