"""The fake cluster's PKI: a throwaway CA, and certificates signed the way the cluster signs.

- `CertificateAuthority.create` makes the cluster CA and the API server's serving certificate
  (127.0.0.1 and localhost), ECDSA P-256, made with cryptography;
- `CertificateAuthority.sign` signs a CSR like kube-controller-manager's csrsigning controller
  (pkg/controller/certificates/signer): subject and SANs copied from the request, key usages
  and extended key usages from `spec.usages`, notBefore backdated 5 minutes (`BACKDATE`) to
  tolerate clock skew, notAfter capped by the CA's own;
- `issue_server_certificate` makes a serving certificate shaped like a kubelet's from
  kubernetes.io/kubelet-serving, for the fake kubelets;
- `server_context_from_pem` turns PEM into a TLS server context for any of the fakes.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.factories import certificate_builder
from tests.fake_store import utc_now

# The kube-controller-manager signer backdates notBefore to tolerate clock skew.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertificateAuthority:
    """A throwaway CA and a 127.0.0.1 serving certificate it signed, made with cryptography."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    server_key: ec.EllipticCurvePrivateKey
    server_certificate: x509.Certificate

    @classmethod
    def create(cls, now: datetime.datetime) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-apiserver-ca")])
        since = now - BACKDATE
        ca = (
            certificate_builder(
                name, name, key.public_key(), since, now + datetime.timedelta(days=2)
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
        sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        server = (
            certificate_builder(
                server_name, name, server_key.public_key(), since, now + datetime.timedelta(days=1)
            )
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, ca, server_key, server)

    @property
    def ca_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def server_context(self) -> ssl.SSLContext:
        """A server SSLContext; the key only touches disk inside a directory deleted at once."""
        return server_context_from_pem(
            self.server_certificate.public_bytes(serialization.Encoding.PEM),
            private_key_pem(self.server_key),
        )

    def issue_server_certificate(
        self,
        *,
        ips: Sequence[str] = ("127.0.0.1",),
        dns: Sequence[str] = (),
        common_name: str = "localhost",
        organization: str | None = None,
        lifetime: datetime.timedelta = datetime.timedelta(days=1),
        now: datetime.datetime | None = None,
    ) -> tuple[bytes, bytes]:
        """A new serving certificate signed by this CA: (certificate PEM, PKCS#8 key PEM).

        Shaped like a kubelet serving certificate issued through kubernetes.io/kubelet-serving
        (ECDSA P-256, digital signature + server auth, the given IP and DNS SANs), so a client
        that verifies against the cluster CA with hostname checking accepts it for those names.
        """
        now = now or utc_now()
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        sans += [x509.DNSName(name) for name in dns]
        builder = certificate_builder(
            x509.Name(attributes),
            self.certificate.subject,
            key.public_key(),
            now - BACKDATE,
            min(now + lifetime, self.certificate.not_valid_after_utc),
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        certificate = (
            builder.add_extension(_key_usage("digital signature"), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM), private_key_pem(key)

    def sign(
        self,
        request: x509.CertificateSigningRequest,
        usages: list[str],
        not_before: datetime.datetime,
        not_after: datetime.datetime,
    ) -> x509.Certificate:
        """Sign like the csrsigning controller: subject and SANs copied, usages from spec."""
        builder = certificate_builder(
            request.subject,
            self.certificate.subject,
            request.public_key(),
            not_before,
            min(not_after, self.certificate.not_valid_after_utc),
        )
        try:
            san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            builder = builder.add_extension(san.value, critical=False)
        except x509.ExtensionNotFound:
            pass
        builder = builder.add_extension(_key_usage(*usages), critical=True)
        extended = [_EXTENDED_USAGES[u] for u in usages if u in _EXTENDED_USAGES]
        if extended:
            builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        return builder.sign(self.key, hashes.SHA256())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def server_context_from_pem(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS server context for a certificate (chain) and key given as PEM.

    `ssl` only loads keys from files, so they touch disk inside a directory deleted at once.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory, "tls.crt"), Path(directory, "tls.key")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


_EXTENDED_USAGES = {
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
}


def _key_usage(*usages: str, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature="digital signature" in usages or "signing" in usages,
        content_commitment="content commitment" in usages,
        key_encipherment="key encipherment" in usages,
        data_encipherment="data encipherment" in usages,
        key_agreement="key agreement" in usages,
        key_cert_sign=cert_sign or "cert sign" in usages,
        crl_sign=cert_sign or "crl sign" in usages,
        encipher_only=False,
        decipher_only=False,
    )
