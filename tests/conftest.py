"""Shared fixtures: a CA file, an SSH key, a way to run the program offline, and the fake
Kubernetes API with a client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from components.cluster.kube_client import api_client
from components.settings.loading import load_settings
from components.settings.model import Settings
from offline import plan
from offline.engine import Recording, run_program
from tests.factories import (
    API_SERVER,
    CLUSTER_CA,
    DNS_SERVICE_IP,
    FIXED_CLOCK,
    HOST_KEY,
    PLAN_STACK,
    BuildSettings,
    MakePlan,
    admin_kubeconfig,
    make_ssh_key,
    stack_config,
)
from tests.fake_apiserver import FakeApiServer


@pytest.fixture(scope="session")
def ssh_key() -> str:
    return make_ssh_key()


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_text(CLUSTER_CA.pem)
    return path


@pytest.fixture
def config(ca_file: Path, ssh_key: str) -> Callable[..., dict[str, Any]]:
    """`config(nodes=5, kubelet={...})`: a valid stack configuration with overrides."""

    def make(nodes: int | list[dict[str, Any]] = 3, **overrides: Any) -> dict[str, Any]:
        return stack_config(ca_file, ssh_key, nodes, **overrides)

    return make


@pytest.fixture
def run() -> Callable[[dict[str, Any]], Recording]:
    """Run the real program offline for a configuration, with a fixed clock."""

    def execute(config: dict[str, Any], stack: str = "test") -> Recording:
        return run_program(config, stack, clock=FIXED_CLOCK)

    return execute


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        yield fake


@pytest.fixture
def api(server: FakeApiServer) -> client.ApiClient:
    """A real kubernetes client for the fake API server (tests may narrow it to one API)."""
    return api_client(server.kubeconfig())


@pytest.fixture
def ca_pem() -> str:
    return CLUSTER_CA.pem


@pytest.fixture
def build(tmp_path: Path, ca_pem: str, ssh_key: str) -> BuildSettings:
    """`build(kubelet={...}, cluster={...}, nodes=[...], ssh={...}, ...)`: validated Settings;
    `ssh` adds to the test key, any other key replaces the default's."""
    ca_path = tmp_path / "ca" / "ca.pem"
    ca_path.parent.mkdir()
    ca_path.write_text(ca_pem)

    def make(
        kubelet: dict[str, Any] | None = None,
        cluster: dict[str, Any] | None = None,
        nodes: list[dict[str, Any]] | None = None,
        **others: Any,
    ) -> Settings:
        raw: dict[str, Any] = {
            "apiServer": API_SERVER,
            "caCertFile": str(ca_path),
            "kubeconfig": admin_kubeconfig(ca_pem),
            "ssh": {"privateKey": ssh_key, "hostKey": HOST_KEY},
            "cluster": cluster or {"dnsServiceIP": DNS_SERVICE_IP},
            "nodes": nodes or [{"name": "node-0", "address": "10.0.0.1"}],
        }
        if kubelet is not None:
            raw["kubelet"] = kubelet
        raw.update({**others, "ssh": {**raw["ssh"], **others.get("ssh", {})}})
        return load_settings(raw, environ={})

    return make


# --- make plan ----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(plan, "PROJECT_ROOT", tmp_path)
    return tmp_path


@pytest.fixture
def plan_out(project: Path) -> Path:
    """Where `make_plan` plans: its `--out`."""
    return project / "build"


@pytest.fixture
def make_plan(project: Path, plan_out: Path, config: Callable[..., dict[str, Any]]) -> MakePlan:
    """`make_plan("--diff", nodes=2, kubelet={...})`: write the stack's file and plan it."""

    def run(*args: str, stack: str = PLAN_STACK, **overrides: Any) -> int:
        stack_file = project / f"Pulumi.{stack}.yaml"
        stack_file.write_text(yaml.safe_dump({"config": config(**overrides)}))
        return plan.main(["--stack", stack, "--out", str(plan_out), *args])

    return run
