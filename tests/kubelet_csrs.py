"""CertificateSigningRequest objects made the way a kubelet makes them, and hostile look-alikes.

The kubelet's serving certificate manager (kubernetes `pkg/kubelet/certificate/kubelet.go`,
client-go `util/certificate`) builds a PKCS#10 request from the template

    Subject: pkix.Name{CommonName: "system:node:<name>", Organization: ["system:nodes"]}
    DNSNames: <hostnames>, IPAddresses: <node IPs>

signs it with a fresh ECDSA P-256 key and posts it with `generateName: csr-`, signer
`kubernetes.io/kubelet-serving` and the usages of `DefaultKubeletServingGetUsages`
(`digital signature, server auth`, plus `key encipherment` for an RSA key; every key got
`key encipherment` before 1.27). Go writes a pkix.Name in the order C, ST, L, O, OU, CN, so
the DER subject holds O before CN, and the SAN extension lists DNS, email, IP then URI names.
The API server fills `spec.username` / `spec.groups` from the requesting user: a kubelet
authenticated by its client certificate is `system:node:<name>` in `system:nodes`.

`kubelet_serving_csr` reproduces that object as the API returns it, and every knob can break
one property, so `hostile_serving_csrs` can list the attacks an approver must refuse.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import itertools
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

SERVING_SIGNER = "kubernetes.io/kubelet-serving"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"

SERVING_USAGES = ("digital signature", "server auth")
# RSA keys on every version, and any key before 1.27.
SERVING_USAGES_WITH_ENCIPHERMENT = ("digital signature", "key encipherment", "server auth")
CLIENT_USAGES = ("digital signature", "client auth")
CLIENT_USAGES_WITH_ENCIPHERMENT = ("digital signature", "key encipherment", "client auth")

NODE_GROUPS = ("system:nodes", "system:authenticated")
BOOTSTRAP_GROUPS = ("system:bootstrappers", "system:authenticated")

KeyKind = Literal["ecdsa-p256", "ecdsa-p384", "rsa-1024", "rsa-2048", "rsa-4096", "ed25519"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

# What the API server's name generator draws from (apiserver/pkg/storage/names, utilrand).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAME_LENGTH = 5
_names_made = itertools.count()


def generate_name(prefix: str = "csr-") -> str:
    """A name like the API server gives an object created with `generateName: csr-`.

    Counted, not random: 1,000 random names collide about once in 30 runs, and a test that
    creates them all in one server then fails with `AlreadyExists`. The count spells the name
    in the API server's alphabet, so names repeat only after 27**5 of them.
    """
    number, letters = next(_names_made), []
    for _ in range(_NAME_LENGTH):
        number, digit = divmod(number, len(_NAME_ALPHABET))
        letters.append(_NAME_ALPHABET[digit])
    return prefix + "".join(reversed(letters))


def make_key(kind: KeyKind) -> PrivateKey:
    """A private key of `kind`; RSA keys are cached because generating them is slow."""
    if kind.startswith("rsa-"):
        return _rsa_key(int(kind.removeprefix("rsa-")))
    if kind == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key kind {kind!r}")


@functools.cache
def _rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def request_pem(
    key: PrivateKey,
    *,
    common_name: str | None,
    organizations: Sequence[str] = ("system:nodes",),
    extra_subject: Sequence[tuple[x509.ObjectIdentifier, str]] = (),
    dns: Iterable[str] = (),
    ips: Iterable[str] = (),
    emails: Iterable[str] = (),
    uris: Iterable[str] = (),
    ca_true: bool = False,
) -> bytes:
    """A PEM `CERTIFICATE REQUEST` laid out like Go's x509.CreateCertificateRequest.

    Subject order is Go's (O, then CN, then anything extra); without SANs there is no SAN
    extension at all, as with Go.
    """
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    attributes += [x509.NameAttribute(oid, value) for oid, value in extra_subject]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    names = _general_names(dns, ips, emails, uris)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ca_true:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def _general_names(
    dns: Iterable[str], ips: Iterable[str], emails: Iterable[str], uris: Iterable[str]
) -> list[x509.GeneralName]:
    """SAN entries in Go's marshalSANs order: DNS, email, IP, URI."""
    return [
        *(x509.DNSName(name) for name in dns),
        *(x509.RFC822Name(email) for email in emails),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips),
        *(x509.UniformResourceIdentifier(uri) for uri in uris),
    ]


def flip_signature_byte(pem: bytes) -> bytes:
    """The same request with the last signature byte flipped: still parses, no longer verifies.

    The signature BIT STRING closes the DER, so its last byte is the last signature byte
    (for ECDSA the low byte of `s`, which keeps the DER well formed).
    """
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    lines = textwrap.wrap(base64.b64encode(bytes(der)).decode(), 64)
    text = "\n".join(
        ["-----BEGIN CERTIFICATE REQUEST-----", *lines, "-----END CERTIFICATE REQUEST-----"]
    )
    return (text + "\n").encode()


def csr_object(
    request: bytes,
    *,
    signer: str,
    usages: Sequence[str],
    username: str,
    groups: Sequence[str],
    uid: str | None = None,
    expiration_seconds: int | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The JSON a CSR has in the API, around an arbitrary `request` (PEM bytes, any content).

    metadata.uid, resourceVersion and creationTimestamp are the server's: the fake API server
    fills them on create. `generateName` is kept when the name was generated, as the API does.
    """
    metadata: dict[str, Any] = {"name": name or generate_name()}
    if name is None:
        metadata["generateName"] = "csr-"
    spec: dict[str, Any] = {
        "request": base64.b64encode(request).decode(),
        "signerName": signer,
        "usages": list(usages),
        "username": username,
        "groups": list(groups),
    }
    if uid is not None:
        spec["uid"] = uid
    if expiration_seconds is not None:
        spec["expirationSeconds"] = expiration_seconds
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": metadata,
        "spec": spec,
        "status": {},
    }


def default_serving_usages(key: KeyKind | PrivateKey, *, pre_1_27: bool = False) -> tuple[str, ...]:
    """DefaultKubeletServingGetUsages: `key encipherment` only for RSA (any key before 1.27)."""
    private = make_key(key) if isinstance(key, str) else key
    if pre_1_27 or isinstance(private, rsa.RSAPrivateKey):
        return SERVING_USAGES_WITH_ENCIPHERMENT
    return SERVING_USAGES


def kubelet_serving_csr(
    node: str,
    *,
    dns: Sequence[str] | None = None,
    ips: Sequence[str] = ("10.0.0.1",),
    key: KeyKind | PrivateKey = "ecdsa-p256",
    usages: Sequence[str] | None = None,
    username: str | None = None,
    groups: Sequence[str] = NODE_GROUPS,
    uid: str | None = None,
    signer: str = SERVING_SIGNER,
    expiration_seconds: int | None = None,
    name: str | None = None,
    common_name: str | None = None,
    organizations: Sequence[str] | None = None,
    extra_subject: Sequence[tuple[x509.ObjectIdentifier, str]] = (),
    emails: Sequence[str] = (),
    uris: Sequence[str] = (),
    ca_true: bool = False,
    corrupt_signature: bool = False,
    append_pem: bytes = b"",
    pem_override: bytes | None = None,
) -> dict[str, Any]:
    """A kubelet-serving CSR for `node` as the API returns it; every default is the kubelet's.

    dns defaults to `(node,)`; usages to the kubelet's for the key type; username and
    common_name to `system:node:<node>` (`common_name=""` leaves CN out); organizations to
    `("system:nodes",)` (`()` leaves O out). `corrupt_signature` flips a signature byte,
    `append_pem` is glued after the request's PEM (a second block, say) and `pem_override`
    replaces the request bytes entirely (malformed PEM).
    """
    private = make_key(key) if isinstance(key, str) else key
    pem = pem_override
    if pem is None:
        pem = request_pem(
            private,
            common_name=f"system:node:{node}" if common_name is None else common_name or None,
            organizations=("system:nodes",) if organizations is None else organizations,
            extra_subject=extra_subject,
            dns=(node,) if dns is None else dns,
            ips=ips,
            emails=emails,
            uris=uris,
            ca_true=ca_true,
        )
        if corrupt_signature:
            pem = flip_signature_byte(pem)
    return csr_object(
        pem + append_pem,
        signer=signer,
        usages=default_serving_usages(private) if usages is None else usages,
        username=f"system:node:{node}" if username is None else username,
        groups=groups,
        uid=uid,
        expiration_seconds=expiration_seconds,
        name=name,
    )


def kubelet_client_csr(
    node: str,
    *,
    key: KeyKind | PrivateKey = "ecdsa-p256",
    bootstrap: bool = True,
    token_id: str = "abcdef",
    username: str | None = None,
    groups: Sequence[str] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A kubelet client-certificate CSR (signer kube-apiserver-client-kubelet).

    With `bootstrap`, it is the first one, posted with the bootstrap token
    (`system:bootstrap:<token_id>` in `system:bootstrappers`); otherwise it is a renewal posted
    by the node itself. An approver of serving certificates must leave both alone.
    """
    private = make_key(key) if isinstance(key, str) else key
    if username is None:
        username = f"system:bootstrap:{token_id}" if bootstrap else f"system:node:{node}"
    if groups is None:
        groups = BOOTSTRAP_GROUPS if bootstrap else NODE_GROUPS
    usages = (
        CLIENT_USAGES_WITH_ENCIPHERMENT if isinstance(private, rsa.RSAPrivateKey) else CLIENT_USAGES
    )
    pem = request_pem(private, common_name=f"system:node:{node}")
    return csr_object(
        pem, signer=CLIENT_SIGNER, usages=usages, username=username, groups=groups, name=name
    )


def request_of(csr: dict[str, Any]) -> x509.CertificateSigningRequest:
    """The parsed request of a CSR object (the first PEM block, as the API server reads it)."""
    return x509.load_pem_x509_csr(base64.b64decode(csr["spec"]["request"]))


def to_model(csr: dict[str, Any]) -> Any:
    """The CSR as the kubernetes client's `V1CertificateSigningRequest` model."""
    from kubernetes.client import V1CertificateSigningRequest

    return V1CertificateSigningRequest.from_dict(csr)


def legitimate_serving_csrs(node: str, ip: str) -> dict[str, dict[str, Any]]:
    """Requests a real kubelet of some supported version sends for `node` at `ip`."""
    return {
        "ecdsa-current": kubelet_serving_csr(node, ips=(ip,)),
        "ecdsa-pre-1.27": kubelet_serving_csr(
            node, ips=(ip,), usages=SERVING_USAGES_WITH_ENCIPHERMENT
        ),
        "rsa-2048": kubelet_serving_csr(node, ips=(ip,), key="rsa-2048"),
        "ip-only": kubelet_serving_csr(node, dns=(), ips=(ip,)),
    }


HostileBuilder = Callable[[str, str, str, str], dict[str, Any]]

_MALFORMED_PEM = (
    b"-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY2VydGlmaWNhdGUgcmVxdWVzdA==\n"
    b"-----END CERTIFICATE REQUEST-----\n"
)


def _second_block(node: str, ip: str, other: str, other_ip: str) -> dict[str, Any]:
    """The node's own request followed by a request for another node in the same field."""
    foreign = request_pem(
        make_key("ecdsa-p256"), common_name=f"system:node:{other}", dns=(other,), ips=(other_ip,)
    )
    return kubelet_serving_csr(node, ips=(ip,), append_pem=foreign)


# name -> builder(node, ip, other_node, other_ip); each breaks exactly one rule of a safe approver.
HOSTILE_SERVING: dict[str, HostileBuilder] = {
    "other-node-cn": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), common_name=f"system:node:{o}"
    ),
    "other-node-everything": lambda n, ip, o, oip: kubelet_serving_csr(
        o, ips=(oip,), username=f"system:node:{n}"
    ),
    "requestor-not-a-node": lambda n, ip, o, oip: kubelet_serving_csr(
        n,
        ips=(ip,),
        username="system:serviceaccount:default:attacker",
        groups=("system:serviceaccounts", "system:authenticated"),
    ),
    "bootstrap-requestor": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), username="system:bootstrap:abcdef", groups=BOOTSTRAP_GROUPS
    ),
    "groups-without-system-nodes": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), groups=("system:authenticated",)
    ),
    "unknown-node": lambda n, ip, o, oip: kubelet_serving_csr("intruder", ips=(ip,)),
    "organization-missing": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), organizations=()
    ),
    "organization-extra": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), organizations=("system:nodes", "system:masters")
    ),
    "organization-wrong": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), organizations=("system:masters",)
    ),
    "extra-subject-ou": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), extra_subject=((NameOID.ORGANIZATIONAL_UNIT_NAME, "evil"),)
    ),
    "cn-missing": lambda n, ip, o, oip: kubelet_serving_csr(n, ips=(ip,), common_name=""),
    "dns-of-other-node": lambda n, ip, o, oip: kubelet_serving_csr(n, dns=(n, o), ips=(ip,)),
    "dns-prefix-of-name": lambda n, ip, o, oip: kubelet_serving_csr(
        n, dns=(n, f"{n}.evil.io"), ips=(ip,)
    ),
    "ip-of-other-node": lambda n, ip, o, oip: kubelet_serving_csr(n, ips=(ip, oip)),
    "ip-foreign": lambda n, ip, o, oip: kubelet_serving_csr(n, ips=(ip, "192.0.2.66")),
    "wildcard-dns": lambda n, ip, o, oip: kubelet_serving_csr(n, dns=(n, f"*.{n}"), ips=(ip,)),
    "kubernetes-service-dns": lambda n, ip, o, oip: kubelet_serving_csr(
        n, dns=(n, "kubernetes.default.svc"), ips=(ip,)
    ),
    "email-san": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), emails=("admin@example.com",)
    ),
    "uri-san": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), uris=("spiffe://cluster.local/ns/kube-system/sa/admin",)
    ),
    "no-san": lambda n, ip, o, oip: kubelet_serving_csr(n, dns=(), ips=()),
    "client-auth-usage": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), usages=("digital signature", "server auth", "client auth")
    ),
    "missing-server-auth": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), usages=("digital signature",)
    ),
    "cert-sign-usage": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), usages=("digital signature", "server auth", "cert sign")
    ),
    "big-expiration": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), expiration_seconds=10 * 365 * 24 * 3600
    ),
    "rsa-1024": lambda n, ip, o, oip: kubelet_serving_csr(n, ips=(ip,), key="rsa-1024"),
    "ed25519": lambda n, ip, o, oip: kubelet_serving_csr(n, ips=(ip,), key="ed25519"),
    "ca-true": lambda n, ip, o, oip: kubelet_serving_csr(n, ips=(ip,), ca_true=True),
    "bad-signature": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), corrupt_signature=True
    ),
    "malformed-pem": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), pem_override=_MALFORMED_PEM
    ),
    "not-pem": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), pem_override=b"definitely not a request"
    ),
    "second-pem-block": _second_block,
    "client-signer-with-serving-shape": lambda n, ip, o, oip: kubelet_serving_csr(
        n, ips=(ip,), signer=CLIENT_SIGNER
    ),
}


def hostile_serving_csrs(
    node: str = "node-0",
    ip: str = "10.0.0.1",
    *,
    other_node: str = "node-1",
    other_ip: str = "10.0.0.2",
) -> dict[str, dict[str, Any]]:
    """Every hostile or malformed serving request of HOSTILE_SERVING, built for `node`.

    `other_node` / `other_ip` should be another managed node of the same inventory, so a SAN
    or CN borrowed from it is a real attack rather than an unknown name.
    """
    return {
        label: build(node, ip, other_node, other_ip) for label, build in HOSTILE_SERVING.items()
    }
