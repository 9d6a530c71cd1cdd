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
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.config import kube_config

from components.node import drift_check, rendering
from components.settings.kubelet_fields import default_catalog
from components.settings.model import KubeletSettings, NodeSettings, Settings
from offline.engine import run_program
from tests.factories import (
    API_SERVER,
    CLUSTER_CA,
    FIXED_CLOCK,
    HOST_KEY,
    BuildSettings,
    ClusterCa,
    admin_kubeconfig,
    make_ssh_key,
)
from tests.node_root import NodeRoot, kubelet_scripts, restart_script, run
from tests.tools import require_tool

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
STUB_UNITS = (
    "sysinit.target",
    "basic.target",
    "shutdown.target",
    "multi-user.target",
    "network-online.target",
)


def systemd_verify(
    root: Path, unit_text: str, kubelet: KubeletSettings, *, with_binary: bool = True
) -> str:
    """Runs `systemd-analyze verify` on the kubelet's unit at kubelet.unit_file; "" when clean."""
    binaries = [kubelet.binary] if with_binary else []
    return verify_unit(root, kubelet.unit_file, unit_text, binaries)


def verify_unit(root: Path, unit_file: str, unit_text: str, binaries: list[str]) -> str:
    """Runs `systemd-analyze verify --root=ROOT <unit>`; "" when it is clean.

    The root holds the unit at `unit_file`, an executable stub at each of `binaries` (verify
    checks that ExecStart's program exists and is executable) and stub targets. Any output at
    all counts as a problem: unknown keys and unparsable values only warn, exit status 0.
    """
    analyze = require_tool("systemd-analyze")
    unit_path = root / unit_file.lstrip("/")
    unit_path.parent.mkdir(parents=True, exist_ok=True)
    unit_path.write_text(unit_text)
    library = root / "usr/lib/systemd/system"
    library.mkdir(parents=True, exist_ok=True)
    for unit in STUB_UNITS:
        (library / unit).write_text(f"[Unit]\nDescription=stub {unit}\n")
    for path in binaries:
        binary = root / path.lstrip("/")
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
    "restart-repair",
    "drift-probe",
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
        "restart-repair": lambda: (
            rendering.restart_scripts(
                settings,
                settings.nodes[0],
                rendering.node_files(settings, settings.nodes[0]),
                repair=3,
            ).update
        ),
        "drift-probe": lambda: drift_check.probe_script(
            "node-0",
            [settings.kubelet.ca_file, settings.kubelet.config_file],
            rendering.started_record(settings.kubelet),
            settings.kubelet.unit_name,
        ),
        "install-staged": lambda: (
            rendering.file_scripts(
                settings.kubelet.config_file,
                "0600",
                "node-0-kubelet-config",
                kubelet=settings.kubelet,
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
        "bastion": {"host": "10.0.9.9", "hostKey": HOST_KEY},
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


# --- the tool check itself -----------------------------------------------------------------


def test_a_missing_tool_fails_naming_its_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(pytest.fail.Exception, match="Debian package 'systemd'"):
        require_tool("systemd-analyze")
