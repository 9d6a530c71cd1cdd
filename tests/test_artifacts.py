"""The files and scripts that land on a node, checked with the tools that will consume them.

- the bootstrap kubeconfig is loaded by the official kubernetes client and compared with what
  the tutorial's four `kubectl config` commands write;
- the KubeletConfiguration is checked against the 1.34 field catalog, the CIS benchmark's
  worker-node settings (DESIGN.md, "Domain facts") and the tutorial's values;
- the systemd unit goes through `systemd-analyze verify` in a throw-away root;
- every script goes through `shellcheck -s sh` (they run through root's login shell);
- the install script and the fstab rewrite of the prepare script are run for real with `sh`.

A missing tool fails the test (see tests/tools.py), naming the Debian package to install.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.config import kube_config

from components import rendering
from components.kubelet_fields import default_catalog
from components.settings import KubeletSettings, NodeSettings, Settings, load_settings
from components.ssh import as_root
from offline.engine import run_program
from tests.factories import (
    CLUSTER_CA,
    FIXED_CLOCK,
    ClusterCa,
    admin_kubeconfig,
    make_ssh_key,
)
from tests.node_root import NodeRoot, kubelet_scripts, restart_script, run, stub_commands
from tests.tools import require_tool

API_SERVER = "https://10.0.0.10:6443"
DNS_SERVICE_IP = "10.254.0.2"
TOKEN = "07a3xc.4f0d1c2b9e8a7d6c"

# CIS Kubernetes Benchmark 1.12, 4.2.12: the only acceptable suites (written out here on
# purpose, not imported from the code under test).
CIS_CIPHER_SUITES = frozenset(
    {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    }
)

# DESIGN.md: flags removed from the kubelet (or deprecated in favour of config fields).
FORBIDDEN_FLAGS = (
    "--allow-privileged",
    "--image-pull-progress-deadline",
    "--network-plugin",
    "--logtostderr",
    "--container-runtime",
    "--pod-infra-container-image",
    "--registry-qps",
    "--event-qps",
    "--kube-api-qps",
    "--kube-api-burst",
)

BuildSettings = Callable[..., Settings]


@pytest.fixture
def ca_pem() -> str:
    return CLUSTER_CA.pem


@pytest.fixture
def build(tmp_path: Path, ca_pem: str, ssh_key: str) -> BuildSettings:
    """`build(kubelet={...}, cluster={...}, nodes=[...])`: validated Settings."""
    ca_path = tmp_path / "ca" / "ca.pem"
    ca_path.parent.mkdir()
    ca_path.write_text(ca_pem)

    def make(
        kubelet: dict[str, Any] | None = None,
        cluster: dict[str, Any] | None = None,
        nodes: list[dict[str, Any]] | None = None,
    ) -> Settings:
        raw: dict[str, Any] = {
            "apiServer": API_SERVER,
            "caCertFile": str(ca_path),
            "kubeconfig": admin_kubeconfig(ca_pem),
            "ssh": {"privateKey": ssh_key},
            "cluster": cluster or {"dnsServiceIP": DNS_SERVICE_IP},
            "nodes": nodes or [{"name": "node-0", "address": "10.0.0.1"}],
        }
        if kubelet is not None:
            raw["kubelet"] = kubelet
        return load_settings(raw, environ={})

    return make


# --- 1. bootstrap kubeconfig ----------------------------------------------------------------


def tutorial_kubeconfig(server: str, ca_pem: str, token: str) -> dict[str, Any]:
    """What `kubectl config set-cluster kubernetes --certificate-authority=ca.pem
    --embed-certs=true --server=...`, `set-credentials kubelet-bootstrap --token=...`,
    `set-context default --cluster=kubernetes --user=kubelet-bootstrap` and
    `use-context default` write into an empty kubeconfig."""
    return {
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
        "users": [{"name": "kubelet-bootstrap", "user": {"token": token}}],
        "contexts": [
            {"name": "default", "context": {"cluster": "kubernetes", "user": "kubelet-bootstrap"}}
        ],
        "current-context": "default",
        "preferences": {},
    }


def load_with_kubernetes_client(path: Path) -> client.Configuration:
    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return configuration


@pytest.mark.parametrize("token", [TOKEN, "abcdef.0123456789abcdef"])
def test_bootstrap_kubeconfig_is_what_the_tutorial_commands_write(
    tmp_path: Path, ca_pem: str, token: str
) -> None:
    text = rendering.bootstrap_kubeconfig(API_SERVER, ca_pem, token)

    assert yaml.safe_load(text) == tutorial_kubeconfig(API_SERVER, ca_pem, token)


@pytest.mark.parametrize("token", [TOKEN, "abcdef.0123456789abcdef"])
def test_bootstrap_kubeconfig_loads_with_the_kubernetes_client(
    tmp_path: Path, ca_pem: str, token: str
) -> None:
    path = tmp_path / "kubelet-bootstrap.kubeconfig"
    path.write_text(rendering.bootstrap_kubeconfig(API_SERVER, ca_pem, token))

    configuration = load_with_kubernetes_client(path)

    assert configuration.host == API_SERVER
    assert f"Bearer {token}" in configuration.api_key.values(), configuration.api_key
    assert configuration.ssl_ca_cert, "the client found no certificate-authority-data"
    assert Path(configuration.ssl_ca_cert).read_text() == ca_pem
    assert configuration.verify_ssl is True


def test_bootstrap_kubeconfig_keeps_an_all_digit_token_a_string(
    tmp_path: Path, ca_pem: str
) -> None:
    """`[a-z0-9]{6}.[a-z0-9]{16}` includes all-digit tokens, which YAML reads as a float."""
    token = "123456.1234567890123456"
    path = tmp_path / "kubelet-bootstrap.kubeconfig"
    path.write_text(rendering.bootstrap_kubeconfig(API_SERVER, ca_pem, token))

    assert yaml.safe_load(path.read_text())["users"][0]["user"]["token"] == token
    assert f"Bearer {token}" in load_with_kubernetes_client(path).api_key.values()


# --- 2. KubeletConfiguration ----------------------------------------------------------------


def kubelet_document(settings: Settings, node: NodeSettings | None = None) -> dict[str, Any]:
    node = node or settings.nodes[0]
    text = rendering.kubelet_config(settings.kubelet, settings.cluster, node)
    document = yaml.safe_load(text)
    assert isinstance(document, dict), text
    return document


def cis_violations(document: dict[str, Any], kubelet: KubeletSettings) -> list[str]:
    """Every CIS 1.12 worker-node config check (DESIGN.md) the document fails, one line each."""
    auth = document.get("authentication", {})
    expected = {
        "4.2.1 authentication.anonymous.enabled": (
            auth.get("anonymous", {}).get("enabled"),
            False,
        ),
        "authentication.webhook.enabled": (auth.get("webhook", {}).get("enabled"), True),
        "4.2.3 authentication.x509.clientCAFile": (
            auth.get("x509", {}).get("clientCAFile"),
            kubelet.ca_file,
        ),
        "4.2.2 authorization.mode": (document.get("authorization", {}).get("mode"), "Webhook"),
        "4.2.4 readOnlyPort": (document.get("readOnlyPort"), 0),
        "4.2.6 makeIPTablesUtilChains": (document.get("makeIPTablesUtilChains"), True),
        "4.2.10 rotateCertificates": (document.get("rotateCertificates"), True),
        "serverTLSBootstrap": (document.get("serverTLSBootstrap"), True),
        "4.2.14 seccompDefault": (document.get("seccompDefault"), True),
    }
    problems = [
        f"{name}: {actual!r}, expected {wanted!r}"
        for name, (actual, wanted) in expected.items()
        if actual != wanted or type(actual) is not type(wanted)
    ]
    qps = document.get("eventRecordQPS")
    if not isinstance(qps, int) or qps < 0:
        problems.append(f"4.2.8 eventRecordQPS: {qps!r}, expected an integer >= 0")
    gates = document.get("featureGates") or {}
    if gates.get("RotateKubeletServerCertificate", True) is not True:
        problems.append("4.2.11 featureGates disable RotateKubeletServerCertificate")
    suites = document.get("tlsCipherSuites")
    if not suites or not isinstance(suites, list) or not set(suites) <= CIS_CIPHER_SUITES:
        problems.append(f"4.2.12 tlsCipherSuites: {suites!r}, expected ECDHE AES-GCM/CHACHA20")
    pids = document.get("podPidsLimit")
    if not isinstance(pids, int) or isinstance(pids, bool) or pids <= 0:
        problems.append(f"4.2.13 podPidsLimit: {pids!r}, expected a positive limit")
    return problems


def test_kubelet_config_has_only_known_fields(build: BuildSettings) -> None:
    document = kubelet_document(build())

    assert default_catalog().unknown_fields(document) == []
    assert document["kind"] == "KubeletConfiguration"
    assert document["apiVersion"] == "kubelet.config.k8s.io/v1beta1"


def test_kubelet_config_starts_with_the_managed_header(build: BuildSettings) -> None:
    settings = build()
    text = rendering.kubelet_config(settings.kubelet, settings.cluster, settings.nodes[0])

    assert text.splitlines()[0] == f"# {rendering.HEADER}"


def test_kubelet_config_meets_every_cis_setting(build: BuildSettings) -> None:
    settings = build()
    document = kubelet_document(settings)

    assert cis_violations(document, settings.kubelet) == []
    assert document["authentication"]["x509"]["clientCAFile"] == "/etc/kubernetes/cert/ca.pem"


def test_cis_check_catches_a_weakened_config(build: BuildSettings) -> None:
    """The CIS check itself can fail: flip a few settings and each one is reported."""
    settings = build()
    document = kubelet_document(settings)
    document["authentication"]["anonymous"]["enabled"] = True
    document["readOnlyPort"] = 10255
    document["featureGates"] = {"RotateKubeletServerCertificate": False}
    document["tlsCipherSuites"] = ["TLS_RSA_WITH_AES_128_CBC_SHA"]
    del document["podPidsLimit"]

    problems = "\n".join(cis_violations(document, settings.kubelet))

    for check in ("4.2.1", "4.2.4", "4.2.11", "4.2.12", "4.2.13"):
        assert check in problems


def test_kubelet_config_has_the_tutorial_values(build: BuildSettings) -> None:
    settings = build(
        cluster={"dnsDomain": "k8s.example", "dnsServiceIP": "10.96.0.10"},
        nodes=[{"name": "worker-7", "address": "172.27.128.149"}],
    )
    document = kubelet_document(settings)

    assert document["address"] == "172.27.128.149"
    assert document["clusterDomain"] == "k8s.example"
    assert document["clusterDNS"] == ["10.96.0.10"]
    assert document["maxPods"] == 220
    assert document["serializeImagePulls"] is False
    assert document["hairpinMode"] == "promiscuous-bridge"
    assert document["runtimeRequestTimeout"] == "15m"
    assert document["port"] == 10250


def test_kubelet_config_takes_each_node_address(build: BuildSettings) -> None:
    settings = build(
        nodes=[
            {"name": "node-a", "address": "10.0.0.21"},
            {"name": "node-b", "address": "fd00::22"},
        ]
    )

    addresses = [kubelet_document(settings, node)["address"] for node in settings.nodes]

    assert addresses == ["10.0.0.21", "fd00::22"]


def test_kubelet_config_is_set_up_for_current_kubernetes(build: BuildSettings) -> None:
    document = kubelet_document(build())

    assert document["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock"
    assert document["cgroupDriver"] == "systemd"
    assert document["failSwapOn"] is True


def test_kubelet_config_holds_the_tutorials_deprecated_flags_as_fields(
    build: BuildSettings,
) -> None:
    document = kubelet_document(build())

    assert document["eventRecordQPS"] == 0
    assert document["kubeAPIQPS"] == 1000
    assert document["kubeAPIBurst"] == 2000
    assert document["registryPullQPS"] == 0


def test_kubelet_config_follows_kubelet_settings(build: BuildSettings) -> None:
    settings = build(
        kubelet={
            "maxPods": 110,
            "cgroupDriver": "cgroupfs",
            "caFile": "/etc/pki/kubelet-ca.pem",
            "failSwapOn": False,
            "podPidsLimit": 1024,
            "containerRuntimeEndpoint": "unix:///var/run/crio/crio.sock",
            "port": 10260,
        }
    )
    document = kubelet_document(settings)

    assert document["maxPods"] == 110
    assert document["cgroupDriver"] == "cgroupfs"
    assert document["authentication"]["x509"]["clientCAFile"] == "/etc/pki/kubelet-ca.pem"
    assert document["failSwapOn"] is False
    assert document["podPidsLimit"] == 1024
    assert document["containerRuntimeEndpoint"] == "unix:///var/run/crio/crio.sock"
    assert document["port"] == 10260
    assert cis_violations(document, settings.kubelet) == []


def test_kubelet_config_names_the_resolv_conf_the_node_picks_by_default(
    build: BuildSettings,
) -> None:
    """One file for every node, whatever its DNS: the node's preparation points it at the
    right resolv.conf, so the config the program renders and hashes stays the node's."""
    settings = build(
        nodes=[
            {"name": "node-a", "address": "10.0.0.21"},
            {"name": "node-b", "address": "10.0.0.22"},
        ]
    )

    paths = {kubelet_document(settings, node)["resolvConf"] for node in settings.nodes}

    assert paths == {f"{rendering.NODE_STATE_DIR}/resolv.conf"}


def test_kubelet_config_takes_a_resolv_conf_given_in_the_settings(build: BuildSettings) -> None:
    settings = build(kubelet={"resolvConf": "/etc/kubernetes/resolv.conf"})

    assert kubelet_document(settings)["resolvConf"] == "/etc/kubernetes/resolv.conf"
    assert "resolv" not in rendering.prepare_node_script(settings.kubelet)


EXTRA_CONFIG = {
    "evictionHard": {"memory.available": "200Mi", "nodefs.available": "10%"},
    "serializeImagePulls": True,
    "shutdownGracePeriod": "30s",
}


def test_extra_config_is_merged_into_the_defaults(build: BuildSettings) -> None:
    default = kubelet_document(build())
    settings = build(kubelet={"extraConfig": EXTRA_CONFIG})
    document = kubelet_document(settings)

    assert document["evictionHard"] == {"memory.available": "200Mi", "nodefs.available": "10%"}
    assert document["shutdownGracePeriod"] == "30s"
    assert document["serializeImagePulls"] is True, "extraConfig must override a default"
    untouched = {k: v for k, v in document.items() if k not in EXTRA_CONFIG}
    assert untouched == {k: v for k, v in default.items() if k not in EXTRA_CONFIG}
    assert default_catalog().unknown_fields(document) == []
    assert cis_violations(document, settings.kubelet) == []


def test_node_files_have_the_cis_modes(build: BuildSettings) -> None:
    """CIS 4.1.1/4.1.5/4.1.9: unit and config 600; 4.1.7: client CA 644 or stricter."""
    settings = build()
    files = {f.key: f for f in rendering.node_files(settings, settings.nodes[0])}

    assert files["kubelet-unit"].mode == "0600"
    assert files["kubelet-unit"].path == settings.kubelet.unit_file
    assert files["kubelet-config"].mode == "0600"
    assert files["kubelet-config"].path == settings.kubelet.config_file
    assert int(files["ca"].mode, 8) & ~0o644 == 0
    assert files["ca"].content == settings.ca_cert_file.pem


# --- 3. systemd unit ------------------------------------------------------------------------

# Units pulled in by a service's default dependencies and its [Install] section; empty stubs
# in the fake root so that `verify` judges only the kubelet unit.
STUB_UNITS = ("sysinit.target", "basic.target", "shutdown.target", "multi-user.target")


def systemd_verify(
    root: Path, unit_text: str, kubelet: KubeletSettings, *, with_binary: bool = True
) -> str:
    """Runs `systemd-analyze verify --root=ROOT kubelet.service`; "" when it is clean.

    The root holds the unit at kubelet.unit_file, an executable stub at kubelet.binary (verify
    checks that ExecStart's program exists and is executable) and stub targets. Any output at
    all counts as a problem: unknown keys and unparsable values only warn, exit status 0.
    """
    analyze = require_tool("systemd-analyze")
    unit_path = root / kubelet.unit_file.lstrip("/")
    unit_path.parent.mkdir(parents=True, exist_ok=True)
    unit_path.write_text(unit_text)
    library = root / "usr/lib/systemd/system"
    library.mkdir(parents=True, exist_ok=True)
    for unit in STUB_UNITS:
        (library / unit).write_text(f"[Unit]\nDescription=stub {unit}\n")
    if with_binary:
        binary = root / kubelet.binary.lstrip("/")
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)
    result = run([analyze, "verify", f"--root={root}", unit_path.name])
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or output:
        return f"systemd-analyze verify exited {result.returncode}:\n{output}"
    return ""


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections -> (key, value) pairs, with backslash continuations joined as systemd does."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw_line in text.replace("\\\n", " ").splitlines():
        line = raw_line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"directive outside any section: {line!r}"
        key, equals, value = line.partition("=")
        assert equals, f"not a key=value line: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(sections: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [value for k, value in sections.get(section, []) if k == key]


def exec_start(sections: dict[str, list[tuple[str, str]]]) -> list[str]:
    lines = values(sections, "Service", "ExecStart")
    assert len(lines) == 1, lines
    return shlex.split(lines[0])


def test_unit_passes_systemd_analyze_verify(tmp_path: Path, build: BuildSettings) -> None:
    settings = build()

    unit = rendering.kubelet_unit(settings.kubelet, settings.nodes[0])

    assert systemd_verify(tmp_path / "root", unit, settings.kubelet) == ""


def test_unit_with_custom_paths_passes_systemd_analyze_verify(
    tmp_path: Path, build: BuildSettings
) -> None:
    settings = build(
        kubelet={"binary": "/usr/local/bin/kubelet", "rootDir": "/var/lib/kubelet", "verbosity": 4}
    )

    unit = rendering.kubelet_unit(settings.kubelet, settings.nodes[0])

    assert systemd_verify(tmp_path / "root", unit, settings.kubelet) == ""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("Restart=always\n", "Restart=always\nRestartt=always\n", "Unknown key 'Restartt'"),
        ("Restart=always\n", "Restart=sometimes\n", "sometimes"),
        ("--node-ip=10.0.0.1 \\\n", "--node-ip=10.0.0.1\n", "'--v'"),
        ("[Service]\n", "", "ExecStart"),
    ],
    ids=["unknown-directive", "bad-value", "missing-continuation", "no-service-section"],
)
def test_systemd_check_fails_on_a_broken_unit(
    tmp_path: Path,
    build: BuildSettings,
    old: str,
    new: str,
    expected: str,
) -> None:
    settings = build()
    unit = rendering.kubelet_unit(settings.kubelet, settings.nodes[0])
    assert unit.count(old) == 1, f"{old!r} is not in the unit once; the template changed"
    broken = unit.replace(old, new)

    problems = systemd_verify(tmp_path / "root", broken, settings.kubelet)

    assert expected in problems


def test_systemd_check_fails_when_the_kubelet_binary_is_missing(
    tmp_path: Path, build: BuildSettings
) -> None:
    settings = build()
    unit = rendering.kubelet_unit(settings.kubelet, settings.nodes[0])

    problems = systemd_verify(tmp_path / "root", unit, settings.kubelet, with_binary=False)

    assert "/opt/k8s/bin/kubelet" in problems
    assert "not executable" in problems


def test_unit_uses_no_removed_or_deprecated_flag_and_no_docker(build: BuildSettings) -> None:
    settings = build()
    unit = rendering.kubelet_unit(settings.kubelet, settings.nodes[0])

    assert [flag for flag in FORBIDDEN_FLAGS if flag in unit] == []
    assert "docker" not in unit.lower()


def test_unit_runs_after_containerd_and_restarts_always(build: BuildSettings) -> None:
    settings = build()
    sections = parse_unit(rendering.kubelet_unit(settings.kubelet, settings.nodes[0]))

    after = " ".join(values(sections, "Unit", "After")).split()
    wants = " ".join(values(sections, "Unit", "Wants")).split()
    assert "containerd.service" in after
    assert "containerd.service" in wants
    assert values(sections, "Service", "Restart") == ["always"]
    assert values(sections, "Install", "WantedBy") == ["multi-user.target"]


def test_unit_starts_the_kubelet_with_the_required_flags(build: BuildSettings) -> None:
    settings = build(nodes=[{"name": "worker-7", "address": "10.0.0.7"}])
    kubelet = settings.kubelet
    sections = parse_unit(rendering.kubelet_unit(kubelet, settings.nodes[0]))

    program, *arguments = exec_start(sections)
    assert program == kubelet.binary
    assert all(argument.startswith("--") and "=" in argument for argument in arguments), arguments
    flags = dict(argument.split("=", 1) for argument in arguments)
    assert len(flags) == len(arguments), f"a flag is given twice: {arguments}"
    assert flags == {
        "--bootstrap-kubeconfig": "/etc/kubernetes/kubelet-bootstrap.kubeconfig",
        "--kubeconfig": "/etc/kubernetes/kubelet.kubeconfig",
        "--config": "/etc/kubernetes/kubelet-config.yaml",
        "--cert-dir": "/etc/kubernetes/cert",
        "--root-dir": "/data/k8s/k8s/kubelet",
        "--hostname-override": "worker-7",
        # The node's InternalIP, and so its serving CSR's IP SAN, is the address in the stack.
        "--node-ip": "10.0.0.7",
        "--v": "2",
    }
    assert values(sections, "Service", "WorkingDirectory") == [kubelet.root_dir]


# --- 4. scripts through shellcheck ----------------------------------------------------------


def shellcheck(script: str) -> str:
    """`shellcheck -s sh` on the script; "" when it has nothing to say."""
    tool = require_tool("shellcheck")
    result = run([tool, "-s", "sh", "-f", "gcc", "-"], stdin=script)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or output:
        return f"shellcheck exited {result.returncode}:\n{output}\n--- script ---\n{script}"
    return ""


SCRIPT_NAMES = (
    "install-0600",
    "update-0600",
    "install-0644",
    "remove",
    "prepare-fail-swap-on",
    "prepare-swap-allowed",
    "start",
    "start-again",
    "stop",
    "restart",
    "restart-created",
    "install-staged",
)


def render_script(name: str, build: BuildSettings) -> str:
    settings = build(kubelet={"failSwapOn": name != "prepare-swap-allowed"})
    scripts = {
        "install-0600": lambda: file_scripts(settings.kubelet.config_file, "0600").create,
        "update-0600": lambda: file_scripts(settings.kubelet.config_file, "0600").update,
        "install-0644": lambda: file_scripts(settings.kubelet.ca_file, "0644").create,
        "remove": lambda: file_scripts(settings.kubelet.config_file, "0600").delete,
        "prepare-fail-swap-on": lambda: rendering.prepare_node_script(settings.kubelet),
        "prepare-swap-allowed": lambda: rendering.prepare_node_script(settings.kubelet),
        "start": lambda: kubelet_scripts(settings).create,
        "start-again": lambda: kubelet_scripts(settings).update,
        "stop": lambda: kubelet_scripts(settings).delete,
        "restart": lambda: restart_script(settings),
        "restart-created": lambda: restart_script(settings, created=True),
        "install-staged": lambda: (
            rendering.file_scripts(
                settings.kubelet.config_file,
                "0600",
                "node-0-kubelet-config",
                started=rendering.started_record(settings.kubelet),
            ).update
        ),
    }
    return scripts[name]()


def file_scripts(path: str | Path, mode: str, owner: str = "node-0-file") -> rendering.Scripts:
    return rendering.file_scripts(str(path), mode, owner)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_passes_shellcheck(build: BuildSettings, name: str) -> None:
    script = render_script(name, build)

    assert shellcheck(script) == ""


@pytest.mark.parametrize(
    ("script", "code"),
    [("set -eu\nrm -f $1\n", "SC2086"), ("set -eu\nif [[ -f /x ]]; then echo x; fi\n", "SC3010")],
    ids=["unquoted-variable", "bashism"],
)
def test_shellcheck_check_fails_on_a_bad_script(script: str, code: str) -> None:
    assert code in shellcheck(script)


def test_restart_script_names_every_restart_file_and_the_start_script_none_of_their_sums(
    build: BuildSettings,
) -> None:
    settings = build()
    files = rendering.node_files(settings, settings.nodes[0])

    restart, start = restart_script(settings), kubelet_scripts(settings)

    for file in files:
        assert f"{file.path} sha256 {hashlib.sha256(file.content.encode()).hexdigest()}" in restart
        assert file.path in start.create and file.path in start.update
        assert not any(file.sha256 in script for script in start)


def test_prepare_script_leaves_swap_alone_when_swap_is_allowed(build: BuildSettings) -> None:
    script = rendering.prepare_node_script(build(kubelet={"failSwapOn": False}).kubelet)

    for word in ("swapoff", "swapon", "fstab", "mask"):
        assert word not in script


# --- 5. the install and remove scripts, run for real ---------------------------------------


def run_install(
    tmp_path: Path, dest: Path, mode: str, content: bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs the install script as `sh -c` does over SSH, its records kept in tmp_path/state.
    As root, `chown root:root` works as is; as another user it is turned into a no-op so the
    rest of the script still runs."""
    script = file_scripts(dest, mode).create.replace(
        rendering.NODE_STATE_DIR, str(tmp_path / "state")
    )
    if os.geteuid() != 0:
        script = script.replace("chown root:root", ": chown root:root")
    return run([require_tool("sh"), "-c", script], stdin=content, env=env)


def leftovers(directory: Path) -> list[str]:
    return sorted(
        str(path.relative_to(directory)) for path in directory.rglob(".kubelet-bootstrap.*")
    )


CONTENT = "first line\n  $HOME `id` 'quoted' \"double\" \\ tab\there\nno newline at the end"


@pytest.mark.parametrize("mode", ["0600", "0644"])
def test_install_writes_content_and_mode_exactly(tmp_path: Path, mode: str) -> None:
    dest = tmp_path / "node" / "etc" / "kubernetes" / "kubelet-config.yaml"

    result = run_install(tmp_path, dest, mode, CONTENT.encode())

    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == CONTENT.encode()
    info = dest.stat()
    assert stat.S_IMODE(info.st_mode) == int(mode, 8)
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (0, 0)
    assert result.stdout == hashlib.sha256(CONTENT.encode()).hexdigest() + "\n"
    assert result.stdout.strip() == rendering.sha256(CONTENT)
    assert os.listdir(dest.parent) == [dest.name]


def test_install_replaces_an_existing_file_and_its_mode(tmp_path: Path) -> None:
    dest = tmp_path / "node" / "kubelet.service"
    dest.parent.mkdir()
    dest.write_text("old content\n")
    dest.chmod(0o666)

    result = run_install(tmp_path, dest, "0600", b"new content\n")

    assert result.returncode == 0, result.stderr
    assert dest.read_text() == "new content\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert os.listdir(dest.parent) == ["kubelet.service"]


def test_install_writes_empty_content(tmp_path: Path) -> None:
    dest = tmp_path / "node" / "empty"

    result = run_install(tmp_path, dest, "0600", b"")

    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == b""
    assert result.stdout.strip() == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("failing", ["cat", "chown", "chmod", "mv"])
def test_install_failure_midway_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, failing: str
) -> None:
    """A step between mktemp and the final rename fails (a PATH stub exiting 1)."""
    node = tmp_path / "node"
    node.mkdir()
    dest = node / "kubelet-config.yaml"
    dest.write_text("old content\n")
    dest.chmod(0o600)
    env = stub_commands(tmp_path / "stubs", **{failing: "echo simulated failure >&2; exit 1"})

    result = run_install(tmp_path, dest, "0644", b"new content\n", env=env)

    assert result.returncode != 0, f"{failing} failed but the script exited 0"
    assert dest.read_text() == "old content\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert os.listdir(node) == [dest.name]


def test_install_onto_a_directory_fails_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """A directory where the file belongs (a bind mount of a missing file makes one).

    `mv -f tmp dest` moves *into* a directory instead of failing, and `sha256sum dest | cut`
    hides sha256sum's failure, as plain sh has no pipefail.
    """
    dest = tmp_path / "kubelet-config.yaml"
    dest.mkdir()

    result = run_install(tmp_path, dest, "0600", b"new content\n")

    assert leftovers(tmp_path) == [], "a temp file with the content was left behind"
    assert result.returncode != 0, f"exited 0 and printed {result.stdout!r} as the sha256"


def test_remove_script_removes_the_file_and_tolerates_its_absence(tmp_path: Path) -> None:
    node = NodeRoot(tmp_path / "node")
    scripts = file_scripts("/etc/kubernetes/kubelet-config.yaml", "0600")
    dest = Path(node.moved("/etc/kubernetes/kubelet-config.yaml"))
    assert node.sh(scripts.create, "content\n").returncode == 0

    first = node.sh(scripts.delete, "content\n")
    second = node.sh(scripts.delete, "content\n")

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert not dest.exists()


# Ownership: a delete undoes neither what the stack did not make nor what it has just made
# again (a replacement's create runs before the old resource's delete, pulumi-command#189).

CA = "/etc/kubernetes/cert/ca.pem"


def file_command(
    node: NodeRoot, owner: str, content: str, field: str = "create"
) -> subprocess.CompletedProcess[str]:
    """`owner`'s command for the CA file on `node`: its `field` script with its stdin."""
    result = node.sh(getattr(file_scripts(CA, "0644", owner), field), content)
    assert result.returncode == 0, result.stderr
    return result


def records(node: NodeRoot) -> list[str]:
    state = Path(node.moved(rendering.NODE_STATE_DIR))
    return sorted(str(path.relative_to(state)) for path in state.rglob("*") if path.is_file())


def test_a_delete_removes_the_file_its_resource_wrote_and_its_record(tmp_path: Path) -> None:
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    file_command(node, "node-0-ca", "ca\n")
    file_command(node, "node-0-ca", "ca\n", "update")
    file_command(node, "node-0-ca", "ca\n", "update")

    file_command(node, "node-0-ca", "ca\n", "delete")

    assert not dest.exists()
    assert records(node) == []


@pytest.mark.parametrize(
    "before", ["ca\n", "the control plane's own CA\n"], ids=["same-content", "other-content"]
)
def test_a_file_that_was_on_the_node_before_the_stack_stays_on_delete(
    tmp_path: Path, before: str
) -> None:
    """On the tutorial's kube-master, the kubelet's CA path holds the control plane's CA."""
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    dest.parent.mkdir(parents=True)
    dest.write_text(before)
    created = file_command(node, "node-0-ca", "ca\n")

    deleted = file_command(node, "node-0-ca", "ca\n", "delete")

    assert dest.read_text() == "ca\n"
    assert f"{dest} was on the node before" in created.stderr
    assert f"{dest} stays: it was on the node before the stack first wrote it" in deleted.stderr
    assert records(node) == []


@pytest.mark.parametrize("new", ["ca\n", "other ca\n"], ids=["same-content", "new-content"])
def test_a_renamed_resources_old_delete_leaves_what_the_new_one_wrote(
    tmp_path: Path, new: str
) -> None:
    """A node renamed in the stack: `worker-1-ca` is created, then `kube-node1-ca` deleted."""
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    file_command(node, "kube-node1-ca", "ca\n")
    file_command(node, "worker-1-ca", new)

    file_command(node, "kube-node1-ca", "ca\n", "delete")

    assert dest.read_text() == new
    file_command(node, "worker-1-ca", new, "delete")
    assert not dest.exists()


def test_a_replacement_under_the_same_name_keeps_the_file_the_new_instance_wrote(
    tmp_path: Path,
) -> None:
    """`pulumi up --replace`, or a new parent: the same name is created again, then the old
    instance deleted."""
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    file_command(node, "node-0-ca", "ca\n")
    file_command(node, "node-0-ca", "ca\n")

    file_command(node, "node-0-ca", "ca\n", "delete")

    assert dest.read_text() == "ca\n"
    file_command(node, "node-0-ca", "ca\n", "delete")
    assert not dest.exists()


def test_a_delete_leaves_a_file_that_no_longer_holds_what_it_wrote(tmp_path: Path) -> None:
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    file_command(node, "node-0-ca", "ca\n")
    dest.write_text("someone else's ca\n")

    deleted = file_command(node, "node-0-ca", "ca\n", "delete")

    assert dest.read_text() == "someone else's ca\n"
    assert f"{dest} stays: it no longer holds what node-0-ca wrote" in deleted.stderr


def test_a_file_an_older_version_wrote_is_the_stacks_after_an_update(tmp_path: Path) -> None:
    """After an upgrade the first run of these scripts is an update, and no record exists:
    the file is there because this resource wrote it, not because it was there before."""
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    dest.parent.mkdir(parents=True)
    dest.write_text("ca\n")
    file_command(node, "node-0-ca", "ca\n", "update")

    file_command(node, "node-0-ca", "ca\n", "delete")

    assert not dest.exists()


def started_on(node: NodeRoot, settings: Settings, owner: str) -> None:
    node.write(rendering.node_files(settings, settings.nodes[0]))
    result = node.sh(kubelet_scripts(settings, owner).create)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("old", "new", "new_address"),
    [
        ("node-0-start-kubelet", "node-0-start-kubelet", "10.0.0.1"),
        ("kube-node1-start-kubelet", "worker-1-start-kubelet", "10.0.0.1"),
        ("kube-node1-start-kubelet", "worker-1-start-kubelet", "10.0.0.9"),
    ],
    ids=["replaced-same-name", "renamed-same-unit", "renamed-new-unit"],
)
def test_stop_leaves_a_kubelet_that_another_start_started_since(
    tmp_path: Path, build: BuildSettings, old: str, new: str, new_address: str
) -> None:
    node = NodeRoot(tmp_path / "node")
    node.bootstrapped()
    before = build()
    after = build(nodes=[{"name": "node-0", "address": new_address}])
    started_on(node, before, old)
    started_on(node, after, new)

    stopped = node.sh(kubelet_scripts(before, old).delete)

    assert stopped.returncode == 0, stopped.stderr
    assert not [call for call in node.calls() if "disable" in call.split()]
    assert node.sh(kubelet_scripts(after, new).delete).returncode == 0
    assert "systemctl disable --now kubelet.service" in node.calls()


def test_stop_leaves_a_kubelet_whose_unit_is_not_the_one_it_started(
    tmp_path: Path, build: BuildSettings
) -> None:
    node = NodeRoot(tmp_path / "node")
    node.bootstrapped()
    settings = build()
    started_on(node, settings, "node-0-start-kubelet")
    unit = Path(node.moved(settings.kubelet.unit_file))
    unit.write_text(unit.read_text().replace("--v=2", "--v=4"))

    stopped = node.sh(kubelet_scripts(settings).delete)

    assert stopped.returncode == 0, stopped.stderr
    assert not [call for call in node.calls() if "disable" in call.split()]
    assert f"{unit} is not the unit it was last started with" in stopped.stderr


def test_a_script_run_through_sudo_still_reads_its_content_from_stdin(tmp_path: Path) -> None:
    """With `ssh.become: sudo` the user's login shell runs `sudo -n sh -c <script>`. The stub
    sudo refuses without -n (it would wait for a password) and runs the rest."""
    log = tmp_path / "sudo.log"
    node = NodeRoot(
        tmp_path / "node",
        sudo=f'echo "sudo $1 $2 $3" >> {log}; [ "$1" = -n ] || exit 1; shift; exec "$@"',
    )
    dest = Path(node.moved("/etc/kubernetes/kubelet-config.yaml"))
    command = as_root(file_scripts("/etc/kubernetes/kubelet-config.yaml", "0600").create, "sudo")

    result = node.sh(command, CONTENT)

    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == CONTENT.encode()
    assert result.stdout.strip() == rendering.sha256(CONTENT)
    assert log.read_text() == "sudo -n sh -c\n"


def test_sudo_refuses_a_script_holding_the_line_that_ends_it() -> None:
    with pytest.raises(ValueError, match="KUBELET_BOOTSTRAP_SCRIPT"):
        as_root("echo one\nKUBELET_BOOTSTRAP_SCRIPT\necho two\n", "sudo")


# --- 6. the swap handling of the prepare script --------------------------------------------

FSTAB_LINES = {
    "comment": "# /etc/fstab: static file system information.",
    "root": "UUID=1111-aaaa / ext4 errors=remount-ro 0 1",
    "swapfile": "/swapfile none swap sw 0 0",
    "commented-swap": "# /dev/sdb2 none swap sw 0 0",
    "tab-swap": "UUID=2222-bbbb\tnone\tswap\tsw\t0\t0",
    "dir-named-swap": "/dev/sdc1 /swap ext4 defaults 0 2",
}
SWAP_KEYS = {"swapfile", "tab-swap"}


def fstab_rewrite(settings: Settings, fstab: Path) -> str:
    """The prepare script's fstab block, pointed at a test copy.

    The script hard-codes /etc/fstab, so the test renders the real template, cuts out the
    `if awk ... /etc/fstab; then ...; fi` block and replaces /etc/fstab with the copy's
    path: the guard and the rewrite run exactly as rendered.
    """
    lines = rendering.prepare_node_script(settings.kubelet).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("if ") and "fstab" in line)
    end = next(i for i in range(start, len(lines)) if lines[i] == "fi")
    block = "\n".join(lines[start : end + 1])
    assert "awk " in block and "/etc/fstab" in block, block
    return "set -eu\n" + block.replace("/etc/fstab", str(fstab)) + "\n"


def swap_entries(fstab: Path) -> list[str]:
    """The swap entries libmount (used by swapon -a and systemd's fstab generator) reads."""
    result = run(
        [require_tool("findmnt"), "--tab-file", str(fstab), "-n", "-t", "swap", "-o", "SOURCE"]
    )
    return result.stdout.split()


def test_fstab_rewrite_comments_out_only_the_swap_entries(
    tmp_path: Path, build: BuildSettings
) -> None:
    fstab = tmp_path / "fstab"
    original = "\n".join(FSTAB_LINES.values()) + "\n"
    fstab.write_text(original)
    assert swap_entries(fstab) == ["/swapfile", "UUID=2222-bbbb"]
    script = fstab_rewrite(build(), fstab)

    result = run([require_tool("sh"), "-c", script])

    assert result.returncode == 0, result.stderr
    expected = [f"# {line}" if key in SWAP_KEYS else line for key, line in FSTAB_LINES.items()]
    assert fstab.read_text().splitlines() == expected
    assert swap_entries(fstab) == []
    assert (tmp_path / "fstab.kubelet-bootstrap.bak").read_text() == original


def test_fstab_rewrite_is_idempotent(tmp_path: Path, build: BuildSettings) -> None:
    fstab = tmp_path / "fstab"
    fstab.write_text("\n".join(FSTAB_LINES.values()) + "\n")
    script = fstab_rewrite(build(), fstab)
    sh = require_tool("sh")
    assert run([sh, "-c", script]).returncode == 0
    once = fstab.read_text()

    second = run([sh, "-c", script])

    assert second.returncode == 0, second.stderr
    assert fstab.read_text() == once
    assert second.stdout == "", "the second run claimed to comment out swap entries again"


@pytest.mark.parametrize(
    "swap_line",
    ["  /swapfile none swap sw 0 0", "/dev/sdb2 none swap"],
    ids=["indented-entry", "entry-without-options"],
)
def test_fstab_rewrite_disables_every_entry_libmount_reads_as_swap(
    tmp_path: Path, build: BuildSettings, swap_line: str
) -> None:
    """fstab(5) entries libmount accepts: leading blanks, and options/dump/pass omitted."""
    fstab = tmp_path / "fstab"
    fstab.write_text(f"UUID=1111-aaaa / ext4 defaults 0 1\n{swap_line}\n")
    assert len(swap_entries(fstab)) == 1, "findmnt should read the line as a swap entry"

    result = run([require_tool("sh"), "-c", fstab_rewrite(build(), fstab)])

    assert result.returncode == 0, result.stderr
    assert swap_entries(fstab) == [], f"still active after the rewrite:\n{fstab.read_text()}"


# The prepare scripts below run on this machine, not in a node root: a named resolv.conf keeps
# them from linking kubelet.resolvConf's auto choice under /var/lib on the host.
ON_THE_HOST = {"resolvConf": "/etc/resolv.conf"}


def test_prepare_script_turns_swap_off_now_and_after_reboot(
    tmp_path: Path, build: BuildSettings
) -> None:
    """The whole prepare script, with swapoff/swapon/systemctl stubbed and fstab redirected."""
    root_dir, cert_dir = tmp_path / "kubelet", tmp_path / "cert"
    settings = build(
        kubelet={
            "failSwapOn": True,
            "rootDir": str(root_dir),
            "certDir": str(cert_dir),
            **ON_THE_HOST,
        }
    )
    fstab = tmp_path / "fstab"
    fstab.write_text("/swapfile none swap sw 0 0\n")
    log = tmp_path / "calls.log"
    env = stub_commands(
        tmp_path / "stubs",
        swapoff=f'echo "swapoff $*" >> {log}',
        swapon="exit 0",
        systemctl=(
            f'if [ "$1" = list-unit-files ]; then echo "swapfile.swap   generated -"; '
            f'else echo "systemctl $*" >> {log}; fi'
        ),
    )
    script = rendering.prepare_node_script(settings.kubelet).replace("/etc/fstab", str(fstab))

    result = run([require_tool("sh"), "-c", script], env=env)

    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["swapoff -a", "systemctl mask swapfile.swap"]
    assert fstab.read_text() == "# /swapfile none swap sw 0 0\n"
    assert stat.S_IMODE(root_dir.stat().st_mode) == 0o700
    assert cert_dir.is_dir()


def test_prepare_script_fails_when_swap_stays_on(tmp_path: Path, build: BuildSettings) -> None:
    settings = build(
        kubelet={
            "rootDir": str(tmp_path / "kubelet"),
            "certDir": str(tmp_path / "cert"),
            **ON_THE_HOST,
        }
    )
    fstab = tmp_path / "fstab"
    fstab.write_text("UUID=1111-aaaa / ext4 defaults 0 1\n")
    env = stub_commands(
        tmp_path / "stubs",
        swapoff="exit 0",
        swapon='echo "/swapfile file 1G 0B -2"',
        systemctl="exit 0",
    )
    script = rendering.prepare_node_script(settings.kubelet).replace("/etc/fstab", str(fstab))

    result = run([require_tool("sh"), "-c", script], env=env)

    assert result.returncode != 0
    assert "swap is still on" in result.stderr


def test_prepare_script_runs_without_touching_swap_when_allowed(
    tmp_path: Path, build: BuildSettings
) -> None:
    root_dir, cert_dir = tmp_path / "kubelet", tmp_path / "cert"
    settings = build(
        kubelet={
            "failSwapOn": False,
            "rootDir": str(root_dir),
            "certDir": str(cert_dir),
            **ON_THE_HOST,
        }
    )
    log = tmp_path / "calls.log"
    log.write_text("")
    spy = f'echo "$(basename "$0") $*" >> {log}'
    env = stub_commands(tmp_path / "stubs", swapoff=spy, swapon=spy, systemctl=spy, sed=spy)

    result = run(
        [require_tool("sh"), "-c", rendering.prepare_node_script(settings.kubelet)], env=env
    )

    assert result.returncode == 0, result.stderr
    assert log.read_text() == ""
    assert stat.S_IMODE(root_dir.stat().st_mode) == 0o700
    assert cert_dir.is_dir()


# --- 7. what restarts the kubelet: the commands of successive updates, run in turn --------


def test_only_a_change_of_the_unit_config_or_ca_restarts_the_kubelet(
    tmp_path: Path, config: Callable[..., dict[str, Any]], ssh_key: str
) -> None:
    """Any change of a command's inputs runs it again; the restart restarts the kubelet only
    when its files differ from those of its last healthy start. A kubelet that restarts gets
    a client certificate from the CA of its settings (the gate checks that it chains to it)."""
    node = NodeRoot(tmp_path / "node")
    new_ca = ClusterCa("other-ca")
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(new_ca.pem)
    connection = {
        "user": "ubuntu",
        "become": "sudo",
        "port": 2222,
        "privateKey": make_ssh_key(),
        "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAnew",
        "bastion": {"host": "10.0.9.9"},
    }
    timeout = {"healthzTimeoutSeconds": 60}
    updates = [
        ("the first up", config(nodes=1), 1),
        ("the same settings again", config(nodes=1), 1),
        (
            "a new SSH user, become, port, key, host key and bastion",
            config(nodes=1, ssh=connection),
            1,
        ),
        ("a longer health timeout", config(nodes=1, ssh=connection, kubelet=timeout), 1),
        ("a new maxPods", config(nodes=1, ssh=connection, kubelet={**timeout, "maxPods": 110}), 2),
        (
            "a new CA",
            config(
                nodes=1,
                caCertFile=str(other_ca),
                kubeconfig=admin_kubeconfig(other_ca.read_text()),
            ),
            3,
        ),
        ("the first settings again", config(nodes=1), 4),
    ]
    for index, (change, settings, restarts) in enumerate(updates):
        ca = new_ca if change == "a new CA" else CLUSTER_CA
        node.stub(
            systemctl=node.systemctl(f'[ "$1" != restart ] || {{ {node.bootstrap_command(ca)}; }}')
        )
        node.apply(run_program(settings, "test", clock=FIXED_CLOCK), first=index == 0)

        assert node.restarts() == restarts, f"after {change}:\n{node.log.read_text()}"


# --- 8. the resolv.conf the kubelet gives pods, picked by the prepare script ---------------


def prepared(node: NodeRoot, build: BuildSettings) -> subprocess.CompletedProcess[str]:
    settings = build(kubelet={"failSwapOn": False, "rootDir": "/var/lib/kubelet"})
    return node.sh(rendering.prepare_node_script(settings.kubelet))


def resolv_conf(node: NodeRoot) -> tuple[Path, Path]:
    """The node's /etc/resolv.conf and the link the kubelet config names."""
    return (
        Path(node.moved("/etc/resolv.conf")),
        Path(node.moved(f"{rendering.NODE_STATE_DIR}/resolv.conf")),
    )


def with_systemd_resolved(node: NodeRoot) -> Path:
    """systemd-resolved's files under /run; returns the one with the upstream servers."""
    resolve = Path(node.moved("/run/systemd/resolve"))
    resolve.mkdir(parents=True)
    (resolve / "stub-resolv.conf").write_text("nameserver 127.0.0.53\noptions edns0\n")
    (resolve / "resolv.conf").write_text("nameserver 10.0.0.2\n")
    return resolve / "resolv.conf"


@pytest.mark.parametrize("how", ["symlink", "copy"])
def test_on_systemd_resolved_pods_get_the_upstream_servers_not_the_stub(
    tmp_path: Path, build: BuildSettings, how: str
) -> None:
    """Pods given the stub 127.0.0.53 ask themselves: kubeadm names resolved's upstream file.
    /etc/resolv.conf links into /run/systemd/resolve, or is a file naming 127.0.0.53."""
    node = NodeRoot(tmp_path / "node")
    upstream = with_systemd_resolved(node)
    etc_resolv, link = resolv_conf(node)
    if how == "symlink":
        etc_resolv.symlink_to("../run/systemd/resolve/stub-resolv.conf")
    else:
        etc_resolv.write_text("# copied by hand\nnameserver 127.0.0.53\n")

    result = prepared(node, build)

    assert result.returncode == 0, result.stderr
    assert os.readlink(link) == str(upstream)
    assert link.read_text() == "nameserver 10.0.0.2\n"
    assert f"pods get the DNS servers of {upstream}" in result.stdout


def test_without_systemd_resolved_pods_get_the_nodes_resolv_conf(
    tmp_path: Path, build: BuildSettings
) -> None:
    node = NodeRoot(tmp_path / "node")
    etc_resolv, link = resolv_conf(node)
    etc_resolv.write_text("nameserver 10.0.0.2\nsearch example.com\n")

    first, second = prepared(node, build), prepared(node, build)

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert os.readlink(link) == str(etc_resolv)


def test_the_stub_without_its_upstream_file_fails_the_preparation(
    tmp_path: Path, build: BuildSettings
) -> None:
    node = NodeRoot(tmp_path / "node")
    etc_resolv, link = resolv_conf(node)
    etc_resolv.write_text("nameserver 127.0.0.53\n")

    result = prepared(node, build)

    assert result.returncode == 1
    assert "systemd-resolved" in result.stderr
    assert "kubelet.resolvConf" in result.stderr
    assert not link.exists()


# --- the tool check itself -----------------------------------------------------------------


def test_a_missing_tool_fails_naming_its_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(pytest.fail.Exception, match="Debian package 'systemd'"):
        require_tool("systemd-analyze")
