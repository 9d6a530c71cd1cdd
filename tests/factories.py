"""Test material made on the spot: a cluster CA, an SSH key, and stack configurations."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

NS = "kubelet-bootstrap"
FIXED_CLOCK = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)


def make_certificate(*, ca: bool, common_name: str = "kubernetes-ca") -> str:
    """A self-signed PEM certificate, a CA one or not."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(FIXED_CLOCK)
        .not_valid_after(FIXED_CLOCK + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_ssh_key() -> str:
    return (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )


ADMIN_TOKEN = "admin-token-for-tests-only"


def admin_kubeconfig(ca_pem: str, server: str = "https://10.0.0.10:6443") -> str:
    """Admin kubeconfig content, as a stack would hold it in its secret config."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kubernetes",
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": ADMIN_TOKEN}}],
            "contexts": [{"name": "admin", "context": {"cluster": "kubernetes", "user": "admin"}}],
            "current-context": "admin",
        }
    )


def node_list(count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"node-{i}", "address": f"10.0.{i // 250}.{i % 250 + 1}"} for i in range(count)
    ]


def stack_config(
    ca_file: Path, ssh_key: str, nodes: int | list[dict[str, Any]] = 3, **overrides: Any
) -> dict[str, Any]:
    """A valid stack configuration (full keys); `overrides` replace top-level keys by short name."""
    config: dict[str, Any] = {
        "apiServer": "https://10.0.0.10:6443",
        "caCertFile": str(ca_file),
        "kubeconfig": admin_kubeconfig(ca_file.read_text()),
        "ssh": {"user": "root", "privateKey": ssh_key},
        "cluster": {"dnsDomain": "cluster.local", "dnsServiceIP": "10.254.0.2"},
        "nodes": node_list(nodes) if isinstance(nodes, int) else nodes,
    }
    config.update(overrides)
    return {f"{NS}:{key}": value for key, value in config.items() if value is not None}
