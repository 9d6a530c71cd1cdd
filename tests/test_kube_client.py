"""`api_client` from many threads at once, as the one dynamic-provider process calls it.

The kubernetes client caches the temp files of embedded certificates by content and names a
file before it writes it; the window is widened here (its `open` made slow) so that a thread
reading a name another thread just published would find the file empty every time.
"""

from __future__ import annotations

import base64
import builtins
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier
from typing import Any

import pytest
from kubernetes.config import kube_config

from components.cluster.kube_client import api_client
from tests.factories import admin_kubeconfig, make_certificate

THREADS = 8
CLIENTS = 48


def client_kubeconfig(ca_pem: str, client_pem: str) -> str:
    """Kubeconfig text with an embedded CA, client certificate and key (a stand-in key: the
    client is never used to connect)."""
    data = base64.b64encode(client_pem.encode()).decode()
    user = {"client-certificate-data": data, "client-key-data": data}
    return admin_kubeconfig(ca_pem, user=user)


@pytest.fixture
def slow_temp_file_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file the kubernetes client's kubeconfig loader opens takes 20 ms to open."""

    def slow_open(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.02)
        return builtins.open(*args, **kwargs)

    monkeypatch.setattr(kube_config, "open", slow_open, raising=False)


def files_of(client: Any) -> tuple[str, str, str]:
    configuration = client.configuration
    return tuple(
        Path(path).read_text()
        for path in (configuration.ssl_ca_cert, configuration.cert_file, configuration.key_file)
    )


def build_all(kubeconfigs: list[str]) -> list[tuple[str, str, str]]:
    """What each kubeconfig's client reads from its CA, certificate and key files the moment it
    is built, as its first TLS handshake would; in order, built by THREADS threads at once."""
    start = Barrier(THREADS)

    def build(share: list[str]) -> list[tuple[str, str, str]]:
        start.wait(timeout=10)
        return [files_of(api_client(kubeconfig)) for kubeconfig in share]

    with ThreadPoolExecutor(THREADS) as pool:
        shares = list(pool.map(build, [kubeconfigs[n::THREADS] for n in range(THREADS)]))
    return [shares[n % THREADS][n // THREADS] for n in range(len(kubeconfigs))]


@pytest.mark.usefixtures("slow_temp_file_writes")
def test_clients_built_at_once_from_one_credential_all_read_whole_files() -> None:
    ca_pem, client_pem = make_certificate(ca=True), make_certificate(ca=False, common_name="a")

    read = build_all([client_kubeconfig(ca_pem, client_pem)] * CLIENTS)

    assert read == [(ca_pem, client_pem, client_pem)] * CLIENTS


@pytest.mark.usefixtures("slow_temp_file_writes")
def test_clients_built_at_once_from_several_credentials_each_read_their_own() -> None:
    ca_pem = make_certificate(ca=True)
    clients_pem = [make_certificate(ca=False, common_name=f"u{n}") for n in range(4)]
    wanted = [clients_pem[n % 4] for n in range(CLIENTS)]

    read = build_all([client_kubeconfig(ca_pem, pem) for pem in wanted])

    assert read == [(ca_pem, pem, pem) for pem in wanted]
