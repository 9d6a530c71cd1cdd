"""Whether the admin kubeconfig is this stack's cluster: its current context against the settings.

The Kubernetes provider, serving-CSR approval and verification all act through the admin
kubeconfig's current context, while the nodes are pointed at `apiServer` and trust
`caCertFile`. Were those two clusters, the stack would make tokens and approve CSRs in one
for nodes joining the other. So the context's server must be `apiServer` (or `adminApiServer`,
where the admin reaches the API server at another address than the nodes do: a tunnel, a load
balancer), compared as scheme, host, port and path; and the CA it trusts must include the
certificate of `caCertFile`, as the kubelets' bootstrap kubeconfigs do. Messages name servers,
context and cluster names and CA subjects, never the kubeconfig's credentials.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import ipaddress
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

ANOTHER = "is it another cluster's?"
ADMIN_HINT = (
    " (if the admin reaches this cluster's API server at another address, set adminApiServer to it)"
)
DEFAULT_PORTS = {"https": 443, "http": 80}


def admin_cluster_problem(
    kubeconfig: str, api_server: str, ca_pem: str, admin_api_server: str | None
) -> str | None:
    """What is wrong with the kubeconfig's current cluster for this stack, or None."""
    document = yaml.safe_load(kubeconfig)
    try:
        context_name, cluster_name, cluster = _current_cluster(document)
    except ValueError as error:
        return str(error)
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    try:
        trusted = _trusted_cas(cluster_name, cluster, ca)
    except ValueError as error:
        return str(error)
    mismatches = []
    server = str(cluster.get("server") or "")
    expected, key = (
        (admin_api_server, "adminApiServer") if admin_api_server else (api_server, "apiServer")
    )
    if _endpoint(server) != _endpoint(expected):
        mismatches.append(
            f"its current context {context_name!r} reaches {server or '(no server)'}, "
            f"not {key} {expected}"
        )
    if ca not in trusted:
        mismatches.append(
            f"its cluster {cluster_name!r} trusts {' and '.join(map(_describe, trusted))}, "
            f"not caCertFile's {_describe(ca)}"
        )
    if not mismatches:
        return None
    hint = ADMIN_HINT if mismatches[0].startswith("its current") and not admin_api_server else ""
    return f"{'; '.join(mismatches)}: {ANOTHER}{hint}"


def _current_cluster(document: Any) -> tuple[str, str, dict[str, Any]]:
    """(context name, cluster name, cluster) of the current context; ValueError if none."""
    current = document.get("current-context")
    if not current:
        raise ValueError("has no current-context")
    contexts = _by_name(document, "contexts", "context")
    if current not in contexts:
        raise ValueError(f"its current-context {current!r} is not among its contexts")
    cluster_name = contexts[current].get("cluster")
    clusters = _by_name(document, "clusters", "cluster")
    if cluster_name not in clusters:
        raise ValueError(
            f"its current context {current!r} names cluster {cluster_name!r}, which it does "
            "not define"
        )
    return current, cluster_name, clusters[cluster_name]


def _by_name(document: dict[str, Any], key: str, field: str) -> dict[Any, dict[str, Any]]:
    """`clusters` or `contexts` by name; an entry that is not a mapping names nothing."""
    entries = document.get(key) if isinstance(document.get(key), list) else []
    return {
        entry.get("name"): entry[field]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get(field), dict)
    }


def _trusted_cas(
    name: str, cluster: dict[str, Any], ca: x509.Certificate
) -> list[x509.Certificate]:
    """The certificates the cluster entry trusts for the API server; ValueError if it trusts
    none of its own, or does not verify at all."""
    if cluster.get("insecure-skip-tls-verify"):
        raise ValueError(
            f"its cluster {name!r} sets insecure-skip-tls-verify: the admin connection would not "
            f"be verified; give it caCertFile's CA as certificate-authority-data {_describe(ca)}"
        )
    if cluster.get("certificate-authority-data"):
        try:
            pem = base64.b64decode(str(cluster["certificate-authority-data"]), validate=True)
            return x509.load_pem_x509_certificates(pem)
        except (binascii.Error, ValueError):
            raise ValueError(
                f"its cluster {name!r} has certificate-authority-data that holds no PEM certificate"
            ) from None
    if cluster.get("certificate-authority"):
        path = str(cluster["certificate-authority"])
        try:
            return x509.load_pem_x509_certificates(Path(os.path.expanduser(path)).read_bytes())
        except (OSError, ValueError):
            raise ValueError(
                f"its cluster {name!r} names certificate-authority {path!r}, which cannot be read"
            ) from None
    raise ValueError(
        f"its cluster {name!r} names no certificate-authority(-data): the admin connection "
        f"would trust the system's CAs instead of caCertFile's {_describe(ca)}"
    )


def _endpoint(url: str) -> tuple[Any, ...]:
    """A URL as what it reaches: scheme, host (case, IPv6 spelling), port (default) and path."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # a port that is no number: comparable with nothing else
        return (url,)
    host = (parts.hostname or "").rstrip(".")
    with contextlib.suppress(ValueError):  # a name, not an address
        host = str(ipaddress.ip_address(host))
    return (parts.scheme.lower(), host, port, parts.path.rstrip("/"))


def _describe(certificate: x509.Certificate) -> str:
    fingerprint = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()[:16]
    return f"'{certificate.subject.rfc4514_string()}' (sha256 {fingerprint})"
