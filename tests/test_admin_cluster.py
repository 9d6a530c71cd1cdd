"""The admin kubeconfig must be this stack's cluster: refused at settings time when it is not.

The Kubernetes provider, CSR approval and verification act through the kubeconfig's current
context; the nodes are pointed at `apiServer` and trust `caCertFile`. A kubeconfig of another
cluster would make tokens and approve CSRs there for nodes that join here.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from components.settings.loading import SettingsError, load_settings
from offline import engine
from tests.factories import ADMIN_TOKEN, FIXED_CLOCK, NS, make_certificate, stack_config

API_SERVER = "https://10.0.0.10:6443"


def kubeconfig(
    *,
    server: str = API_SERVER,
    ca_pem: str | None = None,
    ca_file: str | None = None,
    skip_verify: bool = False,
    current: str | None = "admin@kubernetes",
    context_cluster: str = "kubernetes",
) -> str:
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    if ca_file is not None:
        cluster["certificate-authority"] = ca_file
    if skip_verify:
        cluster["insecure-skip-tls-verify"] = True
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubernetes", "cluster": cluster}],
        "users": [{"name": "admin", "user": {"token": ADMIN_TOKEN}}],
        "contexts": [
            {"name": "admin@kubernetes", "context": {"cluster": context_cluster, "user": "admin"}}
        ],
    }
    if current is not None:
        document["current-context"] = current
    return yaml.safe_dump(document)


def describe(pem: str) -> str:
    """How the messages name a CA: its subject and the start of its SHA-256 fingerprint."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    fingerprint = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()[:16]
    return f"'{certificate.subject.rfc4514_string()}' (sha256 {fingerprint})"


def settings_with(ca_file: Path, ssh_key: str, **overrides: Any) -> dict[str, Any]:
    """Raw settings (short keys), as `load_settings` takes them."""
    config = stack_config(ca_file, ssh_key, 1, **overrides)
    return {key.removeprefix(f"{NS}:"): value for key, value in config.items()}


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as failure:
        load_settings(raw, environ={})
    return failure.value.problems


@pytest.fixture
def ca(ca_file: Path) -> str:
    return ca_file.read_text()


# --- the server -------------------------------------------------------------------------------


def test_another_clusters_kubeconfig_is_refused_naming_both_servers(
    ca_file: Path, ssh_key: str, ca: str
) -> None:
    raw = settings_with(
        ca_file, ssh_key, kubeconfig=kubeconfig(server="https://10.9.9.9:6443", ca_pem=ca)
    )
    assert problems_of(raw) == [
        "kubeconfig: its current context 'admin@kubernetes' reaches https://10.9.9.9:6443, "
        "not apiServer https://10.0.0.10:6443: is it another cluster's? (if the admin reaches "
        "this cluster's API server at another address, set adminApiServer to it)"
    ]


def test_the_program_registers_nothing_for_another_clusters_kubeconfig(
    ca_file: Path, ssh_key: str, ca: str
) -> None:
    config = stack_config(
        ca_file, ssh_key, 1, kubeconfig=kubeconfig(server="https://10.9.9.9:6443", ca_pem=ca)
    )
    recording = engine.Recording()
    with pytest.raises(pulumi.RunError, match=re.escape("reaches https://10.9.9.9:6443")):
        engine.run_program(config, "test", clock=FIXED_CLOCK, recording=recording)
    assert recording.resources == []


@pytest.mark.parametrize(
    ("api_server", "kubeconfig_server"),
    [
        ("https://10.0.0.10:6443", "https://10.0.0.10:6443/"),
        ("https://master.example.com", "https://Master.Example.com:443"),
        ("https://[fd00::a]:6443", "https://[fd00:0::0a]:6443"),
        ("https://lb.example.com:6443/k8s", "https://lb.example.com:6443/k8s/"),
    ],
)
def test_the_same_endpoint_written_differently_is_accepted(
    ca_file: Path, ssh_key: str, ca: str, api_server: str, kubeconfig_server: str
) -> None:
    raw = settings_with(
        ca_file,
        ssh_key,
        apiServer=api_server,
        kubeconfig=kubeconfig(server=kubeconfig_server, ca_pem=ca),
    )
    assert load_settings(raw, environ={}).api_server == api_server


@pytest.mark.parametrize(
    "kubeconfig_server",
    ["https://10.0.0.10:6444", "http://10.0.0.10:6443", "https://10.0.0.10:6443/other"],
)
def test_another_port_scheme_or_path_is_another_endpoint(
    ca_file: Path, ssh_key: str, ca: str, kubeconfig_server: str
) -> None:
    raw = settings_with(
        ca_file, ssh_key, kubeconfig=kubeconfig(server=kubeconfig_server, ca_pem=ca)
    )
    [problem] = problems_of(raw)
    assert f"reaches {kubeconfig_server}, not apiServer {API_SERVER}" in problem


def test_an_admin_endpoint_of_its_own_is_named_in_admin_api_server(
    ca_file: Path, ssh_key: str, ca: str
) -> None:
    """Nodes on the internal address, the admin through a tunnel or a load balancer."""
    tunnel = "https://127.0.0.1:16443"
    accepted = settings_with(
        ca_file, ssh_key, adminApiServer=tunnel, kubeconfig=kubeconfig(server=tunnel, ca_pem=ca)
    )
    assert load_settings(accepted, environ={}).admin_api_server == tunnel
    refused = settings_with(
        ca_file, ssh_key, adminApiServer=tunnel, kubeconfig=kubeconfig(ca_pem=ca)
    )
    assert problems_of(refused) == [
        "kubeconfig: its current context 'admin@kubernetes' reaches https://10.0.0.10:6443, "
        "not adminApiServer https://127.0.0.1:16443: is it another cluster's?"
    ]


def test_a_bad_admin_api_server_is_reported_alone(ca_file: Path, ssh_key: str, ca: str) -> None:
    raw = settings_with(
        ca_file, ssh_key, adminApiServer="127.0.0.1:16443", kubeconfig=kubeconfig(ca_pem=ca)
    )
    assert problems_of(raw) == [
        "adminApiServer: '127.0.0.1:16443' is not an https URL (like https://10.0.0.10:6443)"
    ]


# --- the CA -----------------------------------------------------------------------------------


def test_a_kubeconfig_trusting_another_ca_is_refused_naming_both(
    ca_file: Path, ssh_key: str, ca: str
) -> None:
    other = make_certificate(ca=True, common_name="other-cluster-ca")
    raw = settings_with(ca_file, ssh_key, kubeconfig=kubeconfig(ca_pem=other))
    assert problems_of(raw) == [
        f"kubeconfig: its cluster 'kubernetes' trusts {describe(other)}, not caCertFile's "
        f"{describe(ca)}: is it another cluster's?"
    ]


def test_both_mismatches_are_named_in_one_problem(ca_file: Path, ssh_key: str, ca: str) -> None:
    other = make_certificate(ca=True, common_name="other-cluster-ca")
    raw = settings_with(
        ca_file, ssh_key, kubeconfig=kubeconfig(server="https://10.9.9.9:6443", ca_pem=other)
    )
    [problem] = problems_of(raw)
    assert "reaches https://10.9.9.9:6443, not apiServer https://10.0.0.10:6443; " in problem
    assert f"trusts {describe(other)}, not caCertFile's {describe(ca)}" in problem


def test_a_bundle_holding_the_cluster_ca_is_accepted(ca_file: Path, ssh_key: str, ca: str) -> None:
    """During a CA rotation the kubeconfig trusts the old and the new CA."""
    bundle = make_certificate(ca=True, common_name="next-ca") + ca
    load_settings(settings_with(ca_file, ssh_key, kubeconfig=kubeconfig(ca_pem=bundle)), environ={})


def test_a_certificate_authority_file_is_read(ca_file: Path, ssh_key: str, tmp_path: Path) -> None:
    load_settings(
        settings_with(ca_file, ssh_key, kubeconfig=kubeconfig(ca_file=str(ca_file))), environ={}
    )
    missing = str(tmp_path / "nowhere.pem")
    raw = settings_with(ca_file, ssh_key, kubeconfig=kubeconfig(ca_file=missing))
    assert problems_of(raw) == [
        f"kubeconfig: its cluster 'kubernetes' names certificate-authority {missing!r}, "
        "which cannot be read"
    ]


def test_certificate_authority_data_that_is_no_certificate_is_refused(
    ca_file: Path, ssh_key: str
) -> None:
    raw = settings_with(ca_file, ssh_key, kubeconfig=kubeconfig(ca_pem="not a certificate"))
    assert problems_of(raw) == [
        "kubeconfig: its cluster 'kubernetes' has certificate-authority-data that holds no PEM "
        "certificate"
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {},
            "names no certificate-authority(-data): the admin connection would trust the "
            "system's CAs instead of caCertFile's",
        ),
        (
            {"skip_verify": True},
            "sets insecure-skip-tls-verify: the admin connection would not be verified; give it "
            "caCertFile's CA as certificate-authority-data",
        ),
    ],
    ids=["no-ca", "insecure-skip-tls-verify"],
)
def test_a_connection_that_does_not_verify_the_cluster_ca_is_refused(
    ca_file: Path, ssh_key: str, ca: str, options: dict[str, Any], expected: str
) -> None:
    raw = settings_with(ca_file, ssh_key, kubeconfig=kubeconfig(**options))
    assert problems_of(raw) == [f"kubeconfig: its cluster 'kubernetes' {expected} {describe(ca)}"]


# --- the current context ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"current": None}, "kubeconfig: has no current-context"),
        (
            {"current": "elsewhere"},
            "kubeconfig: its current-context 'elsewhere' is not among its contexts",
        ),
        (
            {"context_cluster": "gone"},
            "kubeconfig: its current context 'admin@kubernetes' names cluster 'gone', which it "
            "does not define",
        ),
    ],
    ids=["no-current-context", "unknown-context", "unknown-cluster"],
)
def test_a_kubeconfig_without_a_usable_current_context_is_refused(
    ca_file: Path, ssh_key: str, ca: str, options: dict[str, Any], expected: str
) -> None:
    raw = settings_with(ca_file, ssh_key, kubeconfig=kubeconfig(ca_pem=ca, **options))
    assert problems_of(raw) == [expected]


def test_a_kubeconfig_of_odd_shape_is_refused_not_crashed_on(ca_file: Path, ssh_key: str) -> None:
    document = yaml.safe_load(kubeconfig())
    document["contexts"] = ["admin@kubernetes"]
    raw = settings_with(ca_file, ssh_key, kubeconfig=yaml.safe_dump(document))
    assert problems_of(raw) == [
        "kubeconfig: its current-context 'admin@kubernetes' is not among its contexts"
    ]


def test_no_message_shows_the_admin_credentials(ca_file: Path, ssh_key: str) -> None:
    other = make_certificate(ca=True, common_name="other-cluster-ca")
    raw = settings_with(
        ca_file, ssh_key, kubeconfig=kubeconfig(server="https://10.9.9.9:6443", ca_pem=other)
    )
    assert ADMIN_TOKEN not in "\n".join(problems_of(raw))


def test_a_kubeconfig_from_the_environment_is_checked_too(
    ca_file: Path, ssh_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "admin.kubeconfig"
    path.write_text(kubeconfig(server="https://10.9.9.9:6443", ca_pem=ca_file.read_text()))
    raw = settings_with(ca_file, ssh_key)
    del raw["kubeconfig"]
    with pytest.raises(
        SettingsError, match=re.escape("reaches https://10.9.9.9:6443, not apiServer")
    ):
        load_settings(raw, environ={"KUBECONFIG": str(path)})
