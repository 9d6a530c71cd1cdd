"""Whether a certificate is a node's issued serving certificate, and the one a kubelet serves.

A node is done with approval once it holds such a certificate, not once some CSR of it was
approved: kube-controller-manager's CSR cleaner deletes issued CSRs an hour after approval, and
a kubelet that holds a valid serving certificate asks for no new one. So the certificate counts
wherever it is found, in a CSR still listed or on the kubelet's API port, and only if the
cluster CA signed it, it is valid now and it names exactly that node as the stack knows it.
"""

from __future__ import annotations

import base64
import datetime
import socket
import ssl

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from components.approval.csr_policy import NodeIdentity, identity_problem


def certificate_problem(
    certificate: x509.Certificate,
    node: NodeIdentity,
    ca: x509.Certificate,
    now: datetime.datetime,
) -> str | None:
    """Why `certificate` is not an issued serving certificate of `node`, or None when it is."""
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return f"not signed by the cluster CA (its issuer: {certificate.issuer.rfc4514_string()!r})"
    if now < certificate.not_valid_before_utc:
        return f"not valid before {rfc3339(certificate.not_valid_before_utc)}"
    if now >= certificate.not_valid_after_utc:
        return f"expired at {rfc3339(certificate.not_valid_after_utc)}"
    return identity_problem(certificate, node)


def issued_certificate(encoded: str) -> x509.Certificate:
    """The certificate of a CSR's `status.certificate` (base64 PEM; the first, if a chain)."""
    return x509.load_pem_x509_certificates(base64.b64decode(encoded))[0]


def served_certificate(address: str, port: int, timeout: float) -> x509.Certificate:
    """The certificate the kubelet at `address`:`port` presents, not trusted: judge it after.

    Raises OSError (ssl.SSLError included) when nothing answers or the TLS handshake fails, as
    it does while a kubelet with serverTLSBootstrap waits for its first serving certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((address, port), timeout=timeout) as connection,
        context.wrap_socket(connection) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError("the kubelet presented no certificate")
    return x509.load_der_x509_certificate(der)


def rfc3339(moment: datetime.datetime) -> str:
    """A notAfter as the API and the stack outputs write times."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
