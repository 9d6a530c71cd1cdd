"""Which kubelet serving-certificate requests are genuine: a pure verdict per CSR.

The cluster's own approver never approves serving certificates, because the names a kubelet
puts in its request are self-reported (kubernetes#62471). Public approvers that did it anyway
were broken by one missing check each (DESIGN.md lists the advisories). This policy approves a
request only when every field matches what the stack's inventory says of that node, and names
the rule and the value whenever it refuses one, so a person can act on it.
"""

from __future__ import annotations

import base64
import binascii
import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

SERVING_SIGNER = "kubernetes.io/kubelet-serving"
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
APPROVED_REASON = "KubeletBootstrapApproved"
DENIED_REASON = "KubeletBootstrapDenied"

# The kubelet asks for these (client-go certificate/csr): `key encipherment` only for RSA keys
# since 1.27, for every key before.
_USAGES = frozenset({"digital signature", "server auth"})
_USAGES_WITH_ENCIPHERMENT = _USAGES | {"key encipherment"}
_CURVES = (ec.SECP256R1, ec.SECP384R1)
# Collisions are practical for both; cryptography already refuses them in PKCS#1 v1.5 and
# ECDSA signatures, but verifies an RSA-PSS signature over SHA-1.
_BROKEN_HASHES = (hashes.SHA1, hashes.MD5)
_MIN_RSA_BITS = 2048
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----")
_ALLOWED_EXTENSIONS = frozenset(
    {ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.BASIC_CONSTRAINTS}
)

# A year, the default of kube-controller-manager's --cluster-signing-duration.
DEFAULT_MAX_EXPIRATION_SECONDS = 365 * 24 * 3600


class Action(enum.Enum):
    APPROVE = "approve"
    DENY = "deny"
    IGNORE = "ignore"


@dataclass(frozen=True)
class Verdict:
    """What to do with one CSR, and why, in words an operator can act on."""

    action: Action
    node: str | None
    rule: str
    message: str


@dataclass(frozen=True)
class NodeIdentity:
    """What the stack knows of a node: the only names its serving certificate may carry."""

    name: str
    ips: frozenset[str]
    dns_names: frozenset[str]

    @classmethod
    def of(cls, name: str, ips: Iterable[str], dns_names: Iterable[str] = ()) -> NodeIdentity:
        return cls(
            name=name,
            ips=frozenset(str(ipaddress.ip_address(ip)) for ip in ips),
            dns_names=frozenset(_dns(n) for n in (name, *dns_names)),
        )


class _RefusalError(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def evaluate(
    csr: Mapping[str, Any],
    inventory: Mapping[str, NodeIdentity],
    *,
    max_expiration_seconds: int = DEFAULT_MAX_EXPIRATION_SECONDS,
) -> Verdict:
    """The verdict on `csr` (as the API returns it) for the nodes of `inventory`."""
    spec = csr.get("spec") or {}
    name = (csr.get("metadata") or {}).get("name", "<unnamed>")
    if spec.get("signerName") != SERVING_SIGNER:
        return Verdict(Action.IGNORE, None, "signer", f"{name}: signer is not {SERVING_SIGNER}")
    if _decided(csr):
        return Verdict(Action.IGNORE, None, "decided", f"{name}: already approved or denied")
    node = _managed_node(spec, inventory)
    if node is None:
        return Verdict(Action.IGNORE, None, "unmanaged", f"{name}: not a node of this stack")
    try:
        _check(spec, inventory[node], max_expiration_seconds)
    except _RefusalError as refusal:
        return Verdict(Action.DENY, node, refusal.rule, f"{name} for {node}: {refusal.message}")
    return Verdict(Action.APPROVE, node, "genuine", f"{name}: genuine serving request of {node}")


def _decided(csr: Mapping[str, Any]) -> bool:
    status = csr.get("status") or {}
    types = {c.get("type") for c in status.get("conditions") or []}
    return bool(types & {"Approved", "Denied", "Failed"}) or bool(status.get("certificate"))


def _managed_node(spec: Mapping[str, Any], inventory: Mapping[str, NodeIdentity]) -> str | None:
    """The managed node a request is from, or claims to be for; None when neither."""
    username = str(spec.get("username", ""))
    if username.startswith(NODE_USER_PREFIX) and username[len(NODE_USER_PREFIX) :] in inventory:
        return username[len(NODE_USER_PREFIX) :]
    try:
        claimed = _common_name(_parse_request(spec.get("request")))
    except _RefusalError:
        return None
    if claimed.startswith(NODE_USER_PREFIX) and claimed[len(NODE_USER_PREFIX) :] in inventory:
        return claimed[len(NODE_USER_PREFIX) :]
    return None


def _check(spec: Mapping[str, Any], node: NodeIdentity, max_expiration_seconds: int) -> None:
    expected_user = f"{NODE_USER_PREFIX}{node.name}"
    username = spec.get("username")
    if username != expected_user:
        raise _RefusalError(
            "requestor", f"requested by {username!r}, not by the node itself ({expected_user!r})"
        )
    groups = list(spec.get("groups") or [])
    if NODES_GROUP not in groups:
        raise _RefusalError("groups", f"requestor groups {groups} do not include {NODES_GROUP!r}")
    request = _parse_request(spec.get("request"))
    if not request.is_signature_valid:
        raise _RefusalError("signature", "the request's signature does not verify with its own key")
    algorithm = request.signature_hash_algorithm
    if isinstance(algorithm, _BROKEN_HASHES):
        raise _RefusalError(
            "signature", f"the request is signed with {algorithm.name}, a broken hash"
        )
    _check_subject(request, expected_user)
    _check_extensions(request)
    _check_names(request, node)
    key_kind = _check_key(request)
    _check_usages(spec.get("usages") or [], key_kind)
    expiration = spec.get("expirationSeconds")
    if expiration is not None and int(expiration) > max_expiration_seconds:
        raise _RefusalError(
            "expiration",
            f"expirationSeconds {expiration} is above the policy's {max_expiration_seconds}",
        )


def identity_problem(
    document: x509.Certificate | x509.CertificateSigningRequest, node: NodeIdentity
) -> str | None:
    """Why the subject or SANs of a request or certificate are not `node`'s, or None.

    The same rules as for a request: subject exactly `CN=system:node:<name>, O=system:nodes`,
    at least one SAN, each a DNS name or IP address the stack's inventory gives that node.
    """
    try:
        _check_subject(document, f"{NODE_USER_PREFIX}{node.name}")
        _check_names(document, node)
    except _RefusalError as refusal:
        return refusal.message
    return None


def _parse_request(encoded: Any) -> x509.CertificateSigningRequest:
    try:
        pem = base64.b64decode(str(encoded or ""), validate=True)
    except (binascii.Error, ValueError):
        raise _RefusalError("pem", "spec.request is not base64") from None
    blocks = _PEM_BLOCK.findall(pem)
    if blocks != [b"CERTIFICATE REQUEST"]:
        found = ", ".join(b.decode() for b in blocks) or "none"
        raise _RefusalError(
            "pem", f"spec.request must hold exactly one CERTIFICATE REQUEST block (found: {found})"
        )
    try:
        request = x509.load_pem_x509_csr(pem)
        request.extensions  # noqa: B018 - parsed lazily; a duplicate raises here, not later
    except x509.DuplicateExtension as error:
        raise _RefusalError("extension", f"duplicate extension {error.oid.dotted_string}") from None
    except ValueError:
        raise _RefusalError("pem", "spec.request is not a well-formed PKCS#10 request") from None
    return request


def _common_name(request: x509.CertificateSigningRequest) -> str:
    names = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if len(names) == 1 else ""


def _check_subject(
    document: x509.Certificate | x509.CertificateSigningRequest, expected_user: str
) -> None:
    attributes = [(a.oid, a.value) for a in document.subject]
    expected = [(NameOID.ORGANIZATION_NAME, NODES_GROUP), (NameOID.COMMON_NAME, expected_user)]
    if sorted(attributes, key=str) != sorted(expected, key=str):
        raise _RefusalError(
            "subject",
            f"subject {document.subject.rfc4514_string()!r} is not exactly "
            f"'CN={expected_user},O={NODES_GROUP}'",
        )


def _check_extensions(request: x509.CertificateSigningRequest) -> None:
    for extension in request.extensions:
        if extension.oid not in _ALLOWED_EXTENSIONS:
            raise _RefusalError("extension", f"unexpected extension {extension.oid.dotted_string}")
        if isinstance(extension.value, x509.BasicConstraints) and extension.value.ca:
            raise _RefusalError("ca", "the request asks for a CA certificate (CA:TRUE)")


def _check_names(
    document: x509.Certificate | x509.CertificateSigningRequest, node: NodeIdentity
) -> None:
    try:
        sans = document.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise _RefusalError("san", "it names no DNS name or IP address") from None
    for general_name in sans:
        if isinstance(general_name, x509.DNSName):
            dns = _dns(general_name.value)
            if "*" in dns:
                raise _RefusalError("san-wildcard", f"wildcard DNS name {general_name.value!r}")
            if dns not in node.dns_names:
                raise _RefusalError(
                    "san-dns",
                    f"DNS name {general_name.value!r} is not a name of {node.name} "
                    f"in the stack (allowed: {sorted(node.dns_names)})",
                )
        elif isinstance(general_name, x509.IPAddress):
            ip = str(general_name.value)
            if ip not in node.ips:
                raise _RefusalError(
                    "san-ip",
                    f"IP address {ip} is not an address of {node.name} "
                    f"in the stack (allowed: {sorted(node.ips)})",
                )
        else:
            raise _RefusalError(
                "san-type",
                f"{type(general_name).__name__} {general_name.value!r} is not allowed; "
                "only DNS names and IP addresses",
            )
    if not len(sans):
        raise _RefusalError("san", "it names no DNS name or IP address")


def _check_key(request: x509.CertificateSigningRequest) -> str:
    key = request.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _CURVES):
        return "ecdsa"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= _MIN_RSA_BITS:
        return "rsa"
    if isinstance(key, rsa.RSAPublicKey):
        raise _RefusalError("key", f"RSA key of {key.key_size} bits; at least {_MIN_RSA_BITS}")
    if isinstance(key, ec.EllipticCurvePublicKey):
        raise _RefusalError("key", f"ECDSA curve {key.curve.name} is not P-256 or P-384")
    kind = type(key).__name__.removesuffix("PublicKey")
    raise _RefusalError("key", f"{kind} keys are not allowed: ECDSA P-256, or RSA of 2048+ bits")


def _check_usages(usages: list[str], key_kind: str) -> None:
    # Before 1.27 the kubelet added key encipherment for every key, so ECDSA may carry it too.
    if set(usages) not in (_USAGES, _USAGES_WITH_ENCIPHERMENT) or len(set(usages)) != len(usages):
        raise _RefusalError(
            "usages",
            f"usages {sorted(usages)} are not {sorted(_USAGES)} "
            f"(plus 'key encipherment' for {key_kind.upper()} keys of older kubelets)",
        )


def _dns(name: str) -> str:
    return name.rstrip(".").lower()
