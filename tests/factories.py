"""Test material made on the spot: a cluster CA, an SSH key, and stack configurations."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from pulumi.dynamic import Config, ConfigureRequest, ResourceProvider

from components.settings.admin_kubeconfig import CONFIG_KEY

if TYPE_CHECKING:
    from components.settings.model import Settings

NS = "kubelet-bootstrap"
API_SERVER = "https://10.0.0.10:6443"
DNS_SERVICE_IP = "10.254.0.2"
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


def certificate_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: Any,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.CertificateBuilder:
    """A certificate of `subject` by `issuer`, valid between the two moments, to be signed."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


class ClusterCa:
    """A cluster CA whose key the tests hold, to issue the client certificates a kubelet gets."""

    def __init__(self, common_name: str = "kubernetes-ca") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        later = now + datetime.timedelta(days=3650)
        certificate = (
            certificate_builder(self._name, self._name, self._key.public_key(), now, later)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.pem = certificate.public_bytes(serialization.Encoding.PEM).decode()

    def kubelet_client_pem(
        self,
        node: str,
        *,
        valid_from: datetime.timedelta = datetime.timedelta(minutes=-5),
        lifetime: datetime.timedelta = datetime.timedelta(days=365),
    ) -> str:
        """What a kubelet keeps in kubelet-client-current.pem: the certificate the cluster
        issued for `system:node:<node>` (valid from `valid_from` around now, for `lifetime`),
        then its key."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
            ]
        )
        start = datetime.datetime.now(datetime.timezone.utc) + valid_from
        certificate = (
            certificate_builder(subject, self._name, key.public_key(), start, start + lifetime)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(self._key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return (certificate.public_bytes(serialization.Encoding.PEM) + key_pem).decode()


CLUSTER_CA = ClusterCa()
"""The CA of the tests' clusters, unless a test makes another."""


HOST_KEY = (
    "ssh-ed25519 "
    + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(range(32))).decode()
)
"""The tests' nodes' SSH host key (`ssh.hostKey`), as `ssh-keyscan` prints one."""


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


def admin_kubeconfig(
    ca_pem: str, server: str = "https://10.0.0.10:6443", user: dict[str, str] | None = None
) -> str:
    """Admin kubeconfig content, as a stack would hold it in its secret config; its user is
    a bearer token unless `user` gives other credentials."""
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
            "users": [{"name": "admin", "user": user or {"token": ADMIN_TOKEN}}],
            "contexts": [{"name": "admin", "context": {"cluster": "kubernetes", "user": "admin"}}],
            "current-context": "admin",
        }
    )


def node_list(count: int) -> list[dict[str, Any]]:
    """`count` nodes, each with its host key pinned, as the README's flow pins them."""
    return [
        {"name": f"node-{i}", "address": f"10.0.{i // 250}.{i % 250 + 1}", "hostKey": HOST_KEY}
        for i in range(count)
    ]


def stack_config(
    ca_file: Path, ssh_key: str, nodes: int | list[dict[str, Any]] = 3, **overrides: Any
) -> dict[str, Any]:
    """A valid stack configuration (full keys); `overrides` replace top-level keys by short name."""
    config: dict[str, Any] = {
        "apiServer": "https://10.0.0.10:6443",
        "caCertFile": str(ca_file),
        "kubeconfig": admin_kubeconfig(ca_file.read_text()),
        "ssh": {"user": "root", "privateKey": ssh_key, "hostKey": HOST_KEY},
        "cluster": {"dnsDomain": "cluster.local", "dnsServiceIP": "10.254.0.2"},
        "nodes": node_list(nodes) if isinstance(nodes, int) else nodes,
    }
    config.update(overrides)
    return {f"{NS}:{key}": value for key, value in config.items() if value is not None}


BuildSettings = Callable[..., "Settings"]
"""`build(kubelet={...}, cluster={...}, nodes=[...])`: validated Settings (conftest.py)."""

PLAN_STACK = "t"
"""The stack `make_plan` plans (conftest)."""
MakePlan = Callable[..., int]
"""`make_plan("--diff", nodes=2, kubelet={...})`: write the stack's file, run `make plan`."""


ProviderT = TypeVar("ProviderT", bound=ResourceProvider)


def configured(provider: ProviderT, kubeconfig: str) -> ProviderT:
    """`provider` configured as the engine configures it: with the stack's configuration,
    where the admin kubeconfig is `kubelet-bootstrap:kubeconfig`."""
    config = Config({CONFIG_KEY: kubeconfig}, project_name=NS)
    provider.configure(ConfigureRequest(config))
    return provider
