"""Bad stack settings: refused with a message naming the key and value, before any resource.

Every case runs the real program under the offline engine, with a Recording of its own that
keeps what a failing run registered: nothing, for every bad setting.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from components.node import rendering
from components.settings.extra_config import PROTECTED_KUBELET_FIELDS
from components.settings.kubelet_config_sources import KUBELET_CONFIG_SOURCES
from offline import engine
from tests.factories import FIXED_CLOCK, HOST_KEY, NS, make_certificate, node_list, stack_config

URL_HINT = "is not an https URL (like https://10.0.0.10:6443)"
NOT_DNS = "is not a DNS-1123 name (lowercase letters, digits, '-' and '.')"
BAD_TTL = "must be more than 0s and at most 168h"
PROTECTED = "is set by kubelet-bootstrap for security; it cannot be overridden"
LONG_NAME = "is longer than 63 characters; a node name is also its kubernetes.io/hostname label"
RSA_HOST_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"
RSA_REFUSED = (
    "is an ssh-rsa key: pulumi-command checks it with the SHA-1 ssh-rsa algorithm, which"
    " OpenSSH 8.8+ refuses; give the host's ed25519 key (ssh-keyscan -t ed25519 <host>)"
)
INT32 = "an integer from -2147483648 to 2147483647 (int32)"
DOTTED = (
    "; `pulumi config set --path` makes nested maps of a dotted key: quote it, as in"
    ' evictionHard["memory.available"]'
)


@pytest.fixture(autouse=True)
def _no_ambient_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    """The program falls back to $KUBECONFIG; the tests must not depend on the machine's."""
    monkeypatch.delenv("KUBECONFIG", raising=False)


# --- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Files:
    """Files the cases point settings at, by the placeholder names expected messages use."""

    ca: Path
    leaf: Path
    two: Path
    not_pem: Path
    missing: Path
    key_file: Path
    ssh_key: str

    def placeholders(self) -> dict[str, str]:
        return {name: str(value) for name, value in vars(self).items() if name != "ssh_key"}


@pytest.fixture
def files(tmp_path: Path, ca_file: Path, ssh_key: str) -> Files:
    made = Files(
        ca=ca_file,
        leaf=tmp_path / "leaf.pem",
        two=tmp_path / "two.pem",
        not_pem=tmp_path / "not-pem.pem",
        missing=tmp_path / "missing.pem",
        key_file=tmp_path / "id_ed25519",
        ssh_key=ssh_key,
    )
    made.leaf.write_text(make_certificate(ca=False, common_name="kubelet"))
    made.two.write_text(make_certificate(ca=True) + make_certificate(ca=True))
    made.not_pem.write_text("this is not a certificate\n")
    made.key_file.write_text(ssh_key)
    return made


def settings_for(files: Files, overrides: dict[str, Any]) -> dict[str, Any]:
    """A valid three-node configuration with top-level keys replaced (None removes one)."""
    config = stack_config(files.ca, files.ssh_key, 3)
    for key, value in overrides.items():
        if value is None:
            config.pop(f"{NS}:{key}", None)
        else:
            config[f"{NS}:{key}"] = value
    return config


def nodes_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    """The default three nodes, with one of them changed."""
    nodes = node_list(3)
    nodes[index] = {**nodes[index], **changes}
    return nodes


def run_failing(config: dict[str, Any]) -> tuple[str, engine.Recording]:
    """Run the program for bad settings: its error message and what it registered."""
    recording = engine.Recording()
    with pytest.raises(Exception) as failure:
        engine.run_program(config, "test", clock=FIXED_CLOCK, recording=recording)
    error = failure.value
    assert isinstance(error, pulumi.RunError), (
        f"{type(error).__name__} instead of a settings error, after registering"
        f" {len(recording.resources)} resources: {error}"
    )
    return str(error), recording


def problems(message: str) -> list[str]:
    """The problem lines of a settings error, without their `  - ` bullets."""
    header, *lines = message.splitlines()
    assert header.startswith("invalid kubelet-bootstrap settings ("), header
    assert all(line.startswith("  - ") for line in lines), lines
    return [line[4:] for line in lines]


# --- the table of bad settings ----------------------------------------------------------------

BAD_SETTINGS = [
    pytest.param(
        lambda f: {"nodes": nodes_with(1, name="Kube_Node")},
        f"nodes[1].name: 'Kube_Node' {NOT_DNS}",
        id="node-name-not-dns-1123",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(1, name="wk-" + "a" * 61)},
        f"nodes[1].name: 'wk-{'a' * 61}' {LONG_NAME}",
        id="node-name-over-63",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(1, name="wk-1." + "b" * 59)},
        f"nodes[1].name: 'wk-1.{'b' * 59}' {LONG_NAME}",
        id="dotted-node-name-over-63",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(0, extraSANs=["c" * 64 + ".example.com"])},
        f"nodes[0].extraSANs[0]: '{'c' * 64}.example.com' has a label longer than 63 characters",
        id="san-label-over-63",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(2, name="node-0")},
        "nodes[2].name: 'node-0' is already used by nodes[0]",
        id="duplicate-node-name",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(1, address="10.0.0.1")},
        "nodes[1].address: '10.0.0.1' is already used by nodes[0]",
        id="duplicate-node-address",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(2, address="10.0.0.300")},
        "nodes[2].address: '10.0.0.300' is not an IP address",
        id="node-address-not-ip",
    ),
    pytest.param(
        # The kubelet binds this address; a zone cannot be bound, and the quote breaks YAML.
        lambda f: {"nodes": nodes_with(1, address='fe80::1%eth0"')},
        """nodes[1].address: 'fe80::1%eth0"' is not an IP address""",
        id="node-address-ipv6-zone",
    ),
    pytest.param(
        lambda f: {"cluster": {"dnsServiceIP": "10.254.0.two"}},
        "cluster.dnsServiceIP: '10.254.0.two' is not an IP address",
        id="dns-service-ip-not-ip",
    ),
    pytest.param(
        lambda f: {"cluster": {"dnsServiceIP": 'fe80::a%x"'}},
        """cluster.dnsServiceIP: 'fe80::a%x"' is not an IP address""",
        id="dns-service-ip-ipv6-zone",
    ),
    pytest.param(
        lambda f: {"apiServer": "http://10.0.0.10:6443"},
        f"apiServer: 'http://10.0.0.10:6443' {URL_HINT}",
        id="api-server-http",
    ),
    pytest.param(
        lambda f: {"apiServer": "kube-apiserver"},
        f"apiServer: 'kube-apiserver' {URL_HINT}",
        id="api-server-not-url",
    ),
    pytest.param(
        lambda f: {"caCertFile": str(f.missing)},
        "caCertFile: '{missing}' does not exist or is not a file",
        id="ca-missing",
    ),
    pytest.param(
        lambda f: {"caCertFile": str(f.not_pem)},
        "caCertFile: '{not_pem}' is not a PEM certificate",
        id="ca-not-pem",
    ),
    pytest.param(
        lambda f: {"caCertFile": str(f.leaf)},
        "caCertFile: '{leaf}' is not a CA certificate (basicConstraints CA:TRUE is missing)",
        id="ca-not-a-ca",
    ),
    pytest.param(
        lambda f: {"caCertFile": str(f.two)},
        "caCertFile: '{two}' holds 2 certificates; give exactly the cluster CA",
        id="ca-two-certificates",
    ),
    pytest.param(
        lambda f: {"caCertFile": "/tmp/" + "c" * 300 + ".pem"},
        f"caCertFile: '/tmp/{'c' * 300}.pem' does not exist or is not a file",
        id="ca-path-name-too-long",
    ),
    pytest.param(
        lambda f: {"kubelet": {"maxPods": 0}},
        "kubelet.maxPods: 0 is less than 1, the least it may be",
        id="max-pods-0",
    ),
    pytest.param(
        lambda f: {"kubelet": {"maxPods": 5000}},
        "kubelet.maxPods: 5000 is more than 2000, the most it may be",
        id="max-pods-5000",
    ),
    pytest.param(
        lambda f: {"kubelet": {"settleSeconds": -1}},
        "kubelet.settleSeconds: -1 is less than 0, the least it may be",
        id="settle-negative",
    ),
    pytest.param(
        lambda f: {"kubelet": {"settleSeconds": 601}},
        "kubelet.settleSeconds: 601 is more than 600, the most it may be",
        id="settle-601",
    ),
    pytest.param(
        lambda f: {"kubelet": {"containerRuntimeEndpoint": "/run/containerd/containerd.sock"}},
        "kubelet.containerRuntimeEndpoint: '/run/containerd/containerd.sock' is not a unix socket"
        " URL like unix:///run/containerd/containerd.sock: write"
        " unix:///run/containerd/containerd.sock",
        id="runtime-endpoint-not-a-unix-socket",
    ),
    pytest.param(
        lambda f: {"ssh": {"privateKey": f.ssh_key, "hostKey": "10.0.0.1 ssh-ed25519 AAAA"}},
        "ssh.hostKey: '10.0.0.1 ssh-ed25519 AAAA' is not an SSH public host key like "
        "'ssh-ed25519 AAAAC3Nz...' (ssh-keyscan -t ed25519 <host> prints it)",
        id="host-key-with-the-host-name",
    ),
    pytest.param(
        lambda f: {"ssh": {"privateKey": f.ssh_key, "hostKey": RSA_HOST_KEY}},
        f"ssh.hostKey: {RSA_REFUSED}",
        id="ssh-rsa-host-key",
    ),
    pytest.param(
        lambda f: {
            "ssh": {
                "privateKey": f.ssh_key,
                "bastion": {"host": "10.0.9.9", "hostKey": RSA_HOST_KEY},
            }
        },
        f"ssh.bastion.hostKey: {RSA_REFUSED}",
        id="ssh-rsa-bastion-host-key",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(1, hostKey=RSA_HOST_KEY)},
        f"nodes[1].hostKey: {RSA_REFUSED}",
        id="ssh-rsa-node-host-key",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(1, sshHost="10.0.0.5:2222")},
        "nodes[1].sshHost: '10.0.0.5:2222' has a port; give the host alone and the port in"
        " ssh.port",
        id="ssh-host-with-port",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(1, sshHost="[fd00::5]:2222")},
        "nodes[1].sshHost: '[fd00::5]:2222' has a port; give the host alone and the port in"
        " ssh.port",
        id="ssh-host-ipv6-with-port",
    ),
    pytest.param(
        lambda f: {
            "ssh": {
                "privateKey": f.ssh_key,
                "bastion": {"host": "jump.example.com:22", "hostKey": HOST_KEY},
            }
        },
        "ssh.bastion.host: 'jump.example.com:22' has a port; give the host alone and the port"
        " in ssh.bastion.port",
        id="bastion-host-with-port",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(2, sshPort=2222)},
        "nodes[2].sshPort: unknown key; did you mean 'ssh.port'?",
        id="node-ssh-port",
    ),
    pytest.param(
        lambda f: {"sshUser": "admin"},
        "sshUser: unknown key; did you mean 'ssh.user'?",
        id="top-level-ssh-user",
    ),
    pytest.param(
        lambda f: {"dnsServiceIP": "10.254.0.2"},
        "dnsServiceIP: unknown key; did you mean 'cluster.dnsServiceIP'?",
        id="top-level-dns-service-ip",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(2, sshPrt=2222)},
        "nodes[2].sshPrt: unknown key",
        id="no-suggestion-of-another-meaning",
    ),
    pytest.param(
        lambda f: {"bootstrapToken": {"ttl": 24}},
        "bootstrapToken.ttl: 24 has no unit; write 24h (or 24m, 24s)",
        id="ttl-number",
    ),
    pytest.param(
        lambda f: {"bootstrapToken": {"ttl": "36"}},
        "bootstrapToken.ttl: '36' has no unit; write 36h (or 36m, 36s)",
        id="ttl-number-string",
    ),
    pytest.param(
        lambda f: {"bootstrapToken": {"ttl": "1 day"}},
        "bootstrapToken.ttl: '1 day' is not a duration (like 24h, 90m or 1h30m)",
        id="ttl-1-day",
    ),
    pytest.param(
        lambda f: {"bootstrapToken": {"ttl": "0s"}},
        f"bootstrapToken.ttl: '0s' {BAD_TTL}",
        id="ttl-0s",
    ),
    pytest.param(
        lambda f: {"bootstrapToken": {"ttl": "200h"}},
        f"bootstrapToken.ttl: '200h' {BAD_TTL}",
        id="ttl-200h",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"maxpods": 100}}},
        "kubelet.extraConfig.maxpods: unknown KubeletConfiguration field; did you mean 'maxPods'?",
        id="extra-config-maxpods",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"imageGCHighThresholdPrecent": 80}}},
        "kubelet.extraConfig.imageGCHighThresholdPrecent: unknown KubeletConfiguration field;"
        " did you mean 'imageGCHighThresholdPercent'?",
        id="extra-config-misspelt",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"readOnlyPort": 10255}}},
        f"kubelet.extraConfig.readOnlyPort: {PROTECTED}",
        id="extra-config-read-only-port",
    ),
    pytest.param(
        lambda f: {
            "kubelet": {"extraConfig": {"authentication": {"anonymous": {"enabled": True}}}}
        },
        f"kubelet.extraConfig.authentication: {PROTECTED}",
        id="extra-config-authentication",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"maxOpenFiles": "a million"}}},
        "kubelet.extraConfig.maxOpenFiles: 'a million' is not an integer (int64)",
        id="extra-config-string-for-int64",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"maxOpenFiles": True}}},
        "kubelet.extraConfig.maxOpenFiles: true is not an integer (int64)",
        id="extra-config-bool-for-int64",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"maxOpenFiles": 2**63}}},
        f"kubelet.extraConfig.maxOpenFiles: {2**63} is not an integer (int64)",
        id="extra-config-int64-range",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"podsPerCore": 2**31}}},
        f"kubelet.extraConfig.podsPerCore: {2**31} is not {INT32}",
        id="extra-config-int32-range",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"imageGCHighThresholdPercent": 80.5}}},
        f"kubelet.extraConfig.imageGCHighThresholdPercent: 80.5 is not {INT32}",
        id="extra-config-float-for-int32",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"maxOpenFiles": None}}},
        "kubelet.extraConfig.maxOpenFiles: null is not an integer (int64); leave the key out"
        " for the kubelet's default",
        id="extra-config-null",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"cgroupsPerQOS": "yes"}}},
        "kubelet.extraConfig.cgroupsPerQOS: 'yes' is not true or false (bool)",
        id="extra-config-string-for-bool",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"memoryThrottlingFactor": "0.9"}}},
        "kubelet.extraConfig.memoryThrottlingFactor: '0.9' is not a number (float64)",
        id="extra-config-string-for-float",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"shutdownGracePeriod": "30"}}},
        "kubelet.extraConfig.shutdownGracePeriod: '30' is not a duration like 5m0s, 1h or 30s"
        " (metav1.Duration)",
        id="extra-config-duration-without-unit",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"imageMinimumGCAge": 120}}},
        "kubelet.extraConfig.imageMinimumGCAge: 120 is not a duration like 5m0s, 1h or 30s"
        " (metav1.Duration)",
        id="extra-config-number-for-duration",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"crashLoopBackOff": "5m"}}},
        "kubelet.extraConfig.crashLoopBackOff: '5m' is not a mapping (CrashLoopBackOffConfig)",
        id="extra-config-string-for-struct",
    ),
    pytest.param(
        lambda f: {
            "kubelet": {"extraConfig": {"crashLoopBackOff": {"maxContainerRestartPeriod": "5"}}}
        },
        "kubelet.extraConfig.crashLoopBackOff.maxContainerRestartPeriod: '5' is not a duration"
        " like 5m0s, 1h or 30s (metav1.Duration)",
        id="extra-config-nested-duration",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"enforceNodeAllocatable": "pods"}}},
        "kubelet.extraConfig.enforceNodeAllocatable: 'pods' is not a list of strings ([]string)",
        id="extra-config-string-for-list",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"allowedUnsafeSysctls": ["net.core.*", 5]}}},
        "kubelet.extraConfig.allowedUnsafeSysctls[1]: 5 is not a string; quote it: '5'",
        id="extra-config-list-element",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"systemReserved": {"cpu": 1}}}},
        "kubelet.extraConfig.systemReserved.cpu: 1 is not a string; quote it: '1'",
        id="extra-config-map-value",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"evictionHard": {"memory": {"available": "1Gi"}}}}},
        f"kubelet.extraConfig.evictionHard.memory: a mapping is not a string{DOTTED}",
        id="extra-config-dotted-key-became-a-map",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"kubeReserved": ["cpu=1"]}}},
        "kubelet.extraConfig.kubeReserved: a list is not a mapping of strings (map[string]string)",
        id="extra-config-list-for-map",
    ),
    pytest.param(
        lambda f: {
            "kubelet": {
                "extraConfig": {"reservedMemory": [{"numaNode": 0, "limits": {"memory": "lots"}}]}
            }
        },
        "kubelet.extraConfig.reservedMemory[0].limits.memory: 'lots' is not a resource quantity"
        " like 100Mi, 1.5Gi or 2 (resource.Quantity)",
        id="extra-config-quantity",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"logging": "json"}}},
        "kubelet.extraConfig.logging: 'json' is not a mapping (logsapi.LoggingConfiguration)",
        id="extra-config-string-for-external-struct",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"port": 10260}}},
        "kubelet.extraConfig.port: is set from kubelet.port; use kubelet.port",
        id="extra-config-port",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"clusterDNS": ["10.96.0.10"]}}},
        "kubelet.extraConfig.clusterDNS: is set from cluster.dnsServiceIP; use"
        " cluster.dnsServiceIP",
        id="extra-config-cluster-dns",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"maxPods": 110}}},
        "kubelet.extraConfig.maxPods: is set from kubelet.maxPods; use kubelet.maxPods",
        id="extra-config-max-pods",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"kind": "Foo"}}},
        "kubelet.extraConfig.kind: names the document (KubeletConfiguration); it cannot be set",
        id="extra-config-kind",
    ),
    pytest.param(
        lambda f: {"kubelet": {"extraConfig": {"apiVersion": "kubelet.config.k8s.io/v1"}}},
        "kubelet.extraConfig.apiVersion: names the document (kubelet.config.k8s.io/v1beta1);"
        " it cannot be set",
        id="extra-config-api-version",
    ),
    pytest.param(
        lambda f: {"kubelet": {"unitFile": "/etc/systemd/system/kubelet"}},
        "kubelet.unitFile: '/etc/systemd/system/kubelet' is not a systemd service unit (a name"
        " ending in .service)",
        id="unit-file-not-a-service",
    ),
    pytest.param(
        lambda f: {"kubelet": {"unitFile": "/opt/k8s/kubelet.service"}},
        "kubelet.unitFile: '/opt/k8s/kubelet.service' is not in a directory systemd loads units"
        " from (/etc/systemd/system, /run/systemd/system, /usr/local/lib/systemd/system,"
        " /usr/lib/systemd/system, /lib/systemd/system)",
        id="unit-file-outside-systemd",
    ),
    pytest.param(
        lambda f: {"kubelet": {"resolvConf": "resolv.conf"}},
        "kubelet.resolvConf: 'resolv.conf' is neither 'auto' nor an absolute path without spaces"
        " or shell characters",
        id="resolv-conf-relative",
    ),
    pytest.param(
        lambda f: {"apiserver": "https://10.0.0.10:6443"},
        "apiserver: unknown key; did you mean 'apiServer'?",
        id="unknown-top-level-key",
    ),
    pytest.param(
        lambda f: {"ssh": {"privateKey": f.ssh_key, "prot": 2222}},
        "ssh.prot: unknown key; did you mean 'port'?",
        id="unknown-ssh-key",
    ),
    pytest.param(
        lambda f: {
            "ssh": {
                "privateKey": f.ssh_key,
                "bastion": {"host": "10.0.9.9", "usr": "a", "hostKey": HOST_KEY},
            }
        },
        "ssh.bastion.usr: unknown key; did you mean 'user'?",
        id="unknown-bastion-key",
    ),
    pytest.param(
        lambda f: {"cluster": {"dnsServiceIP": "10.254.0.2", "dnsDomian": "cluster.local"}},
        "cluster.dnsDomian: unknown key; did you mean 'dnsDomain'?",
        id="unknown-cluster-key",
    ),
    pytest.param(
        lambda f: {"kubelet": {"maxPod": 110}},
        "kubelet.maxPod: unknown key; did you mean 'maxPods'?",
        id="unknown-kubelet-key",
    ),
    pytest.param(
        lambda f: {"bootstrapToken": {"tll": "1h"}},
        "bootstrapToken.tll: unknown key; did you mean 'ttl'?",
        id="unknown-bootstrap-token-key",
    ),
    pytest.param(
        lambda f: {"nodes": nodes_with(2, adress="10.0.0.9")},
        "nodes[2].adress: unknown key; did you mean 'address'?",
        id="unknown-node-key",
    ),
    pytest.param(
        lambda f: {"ssh": {"user": "root"}},
        "ssh: set exactly one of privateKeyFile and privateKey (a secret)",
        id="ssh-no-key",
    ),
    pytest.param(
        lambda f: {"ssh": {"privateKey": f.ssh_key, "privateKeyFile": str(f.key_file)}},
        "ssh: set exactly one of privateKeyFile and privateKey (a secret)",
        id="ssh-both-keys",
    ),
    pytest.param(
        lambda f: {"ssh": {"privateKey": f.ssh_key, "user": "ubuntu"}},
        "ssh: user 'ubuntu' is not root, and every script on the nodes needs root: set"
        " ssh.become: sudo (passwordless sudo for 'ubuntu')",
        id="ssh-non-root-user-without-become",
    ),
    pytest.param(
        lambda f: {"ssh": {"privateKey": f.ssh_key, "user": "ubuntu", "become": "su"}},
        "ssh.become: 'su' is not 'sudo'",
        id="ssh-become-not-sudo",
    ),
    pytest.param(
        lambda f: {"ssh": {"privateKeyFile": str(f.missing)}},
        "ssh.privateKeyFile: '{missing}' does not exist or is not a file",
        id="ssh-key-file-missing",
    ),
    pytest.param(
        lambda f: {"nodes": []},
        "nodes: List should have at least 1 item after validation, not 0",
        id="no-nodes",
    ),
    pytest.param(
        lambda f: {"nodes": None},
        "nodes: is required",
        id="nodes-missing",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), BAD_SETTINGS)
def test_bad_settings_fail_naming_key_and_value_and_register_nothing(
    overrides: Callable[[Files], dict[str, Any]], expected: str, files: Files
) -> None:
    message, recording = run_failing(settings_for(files, overrides(files)))
    assert problems(message) == [expected.format(**files.placeholders())]
    assert message.startswith("invalid kubelet-bootstrap settings (1 problem):\n")
    assert recording.resources == []


# Secret values that are not what they should be: named, never shown.
SECRET_CONTENT = [
    pytest.param(
        lambda f: {"ssh": {"privateKey": "hunter2-is-my-passphrase-not-a-key"}},
        "hunter2-is-my-passphrase-not-a-key",
        "ssh.privateKey: is not a PEM or OpenSSH private key (the content is not shown)",
        id="private-key-not-a-key",
    ),
    pytest.param(
        lambda f: {"ssh": {"privateKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIsecret\nline two"}},
        "AAAAC3NzaC1lZDI1NTE5AAAAIsecret",
        "ssh.privateKey: is not a PEM or OpenSSH private key (the content is not shown)",
        id="private-key-is-a-public-key",
    ),
    pytest.param(
        lambda f: {"kubeconfig": "users:\n- name: admin\n  user: {token: s3cr3t-admin-token}\n"},
        "s3cr3t-admin-token",
        "kubeconfig: is not a kubeconfig with clusters (the content is not shown)",
        id="kubeconfig-without-clusters",
    ),
    pytest.param(
        # A bearer token pasted where the kubeconfig belongs: one line, so not multi-line content.
        lambda f: {"kubeconfig": "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"},
        "c2VjcmV0LXBheWxvYWQ",
        "kubeconfig: ",
        id="kubeconfig-one-line-token",
    ),
    pytest.param(
        # The key itself pasted where its path belongs.
        lambda f: {"ssh": {"privateKeyFile": f.ssh_key}},
        "b3BlbnNzaC1rZXktdjE",
        "ssh.privateKeyFile: ",
        id="private-key-file-given-the-key",
    ),
]


@pytest.mark.parametrize(("overrides", "secret", "expected"), SECRET_CONTENT)
def test_bad_secret_settings_are_named_but_never_shown(
    overrides: Callable[[Files], dict[str, Any]], secret: str, expected: str, files: Files
) -> None:
    config = settings_for(files, overrides(files))
    assert secret in str(config), "the case must carry the secret it checks for"
    message, recording = run_failing(config)
    assert secret not in message
    [problem] = problems(message)
    assert problem.startswith(expected), problem
    if not expected.endswith(": "):
        assert problem == expected
    assert recording.resources == []


def test_several_problems_are_reported_together(files: Files) -> None:
    overrides = {
        "nodes": nodes_with(2, address="10.0.0.300"),
        "kubelet": {"maxPods": 0},
        "bootstrapToken": {"ttl": "1 day"},
        "ssh": {"privateKey": files.ssh_key, "prot": 22},
        "apiServer": "http://10.0.0.10:6443",
    }
    message, recording = run_failing(settings_for(files, overrides))
    assert message.startswith("invalid kubelet-bootstrap settings (5 problems):\n")
    assert sorted(problems(message)) == sorted(
        [
            "nodes[2].address: '10.0.0.300' is not an IP address",
            "kubelet.maxPods: 0 is less than 1, the least it may be",
            "bootstrapToken.ttl: '1 day' is not a duration (like 24h, 90m or 1h30m)",
            "ssh.prot: unknown key; did you mean 'port'?",
            f"apiServer: 'http://10.0.0.10:6443' {URL_HINT}",
        ]
    )
    assert recording.resources == []


def test_a_top_level_typo_does_not_hide_the_other_problems(files: Files) -> None:
    """settings.py promises every problem at once, so one pass fixes a stack."""
    overrides = {"apiserver": "https://x", "nodes": nodes_with(2, address="10.0.0.300")}
    message, recording = run_failing(settings_for(files, overrides))
    assert sorted(problems(message)) == [
        "apiserver: unknown key; did you mean 'apiServer'?",
        "nodes[2].address: '10.0.0.300' is not an IP address",
    ]
    assert recording.resources == []


def test_a_duplicate_name_does_not_hide_a_duplicate_address(files: Files) -> None:
    nodes = node_list(3)
    nodes[2] = dict(nodes[0])
    message, recording = run_failing(settings_for(files, {"nodes": nodes}))
    assert problems(message) == [
        "nodes[2].name: 'node-0' is already used by nodes[0]",
        "nodes[2].address: '10.0.0.1' is already used by nodes[0]",
    ]
    assert recording.resources == []


# --- what is accepted -------------------------------------------------------------------------


def test_a_passed_recording_sees_what_a_good_run_registers(files: Files) -> None:
    """So that an empty recording of a failing run means nothing was registered."""
    recording = engine.Recording()
    returned = engine.run_program(
        settings_for(files, {}), "test", clock=FIXED_CLOCK, recording=recording
    )
    assert returned is recording
    assert len(recording.resources) == 10 + 3 * 15


def test_known_extra_config_is_merged_into_the_kubelet_config(files: Files) -> None:
    extra = {"evictionHard": {"memory.available": "200Mi"}, "imageGCHighThresholdPercent": 80}
    config = settings_for(files, {"kubelet": {"extraConfig": extra}})
    recording = engine.run_program(config, "test", clock=FIXED_CLOCK)
    document = yaml.safe_load(recording.named("node-0-kubelet-config").inputs["stdin"])
    assert document["evictionHard"]["memory.available"] == "200Mi"
    assert document["imageGCHighThresholdPercent"] == 80
    assert document["readOnlyPort"] == 0


def test_well_typed_extra_config_is_accepted_and_merged(files: Files) -> None:
    extra = {
        "shutdownGracePeriod": "30s",
        "imageMinimumGCAge": "2m0s",
        "cpuCFSQuotaPeriod": "100ms",
        "syncFrequency": "1h30m",
        "memoryThrottlingFactor": 0.9,
        "cgroupsPerQOS": True,
        "maxOpenFiles": 1000000,
        "podsPerCore": 10,
        "kubeReserved": {"cpu": "100m", "memory": "256Mi"},
        "allowedUnsafeSysctls": ["net.core.somaxconn"],
        "reservedMemory": [{"numaNode": 0, "limits": {"memory": "1Gi", "hugepages-1Gi": 2}}],
        "logging": {"format": "json"},
        "crashLoopBackOff": {"maxContainerRestartPeriod": "5m"},
        "staticPodURLHeader": {"X-Node": ["a", "b"]},
        "staticPodPath": "/etc/kubernetes/manifests",
    }
    config = settings_for(files, {"kubelet": {"extraConfig": extra}})
    recording = engine.run_program(config, "test", clock=FIXED_CLOCK)
    document = yaml.safe_load(recording.named("node-0-kubelet-config").inputs["stdin"])
    assert {key: document[key] for key in extra} == extra


# Every field the template fills from a first-class setting, read from the template itself.
OWNED_FIELDS = {
    "port": "kubelet.port",
    "podPidsLimit": "kubelet.podPidsLimit",
    "clusterDomain": "cluster.dnsDomain",
    "clusterDNS": "cluster.dnsServiceIP",
    "maxPods": "kubelet.maxPods",
    "containerRuntimeEndpoint": "kubelet.containerRuntimeEndpoint",
    "cgroupDriver": "kubelet.cgroupDriver",
    "failSwapOn": "kubelet.failSwapOn",
    "eventRecordQPS": "kubelet.eventRecordQPS",
    "kubeAPIQPS": "kubelet.kubeAPIQPS",
    "kubeAPIBurst": "kubelet.kubeAPIBurst",
    "registryPullQPS": "kubelet.registryPullQPS",
    "resolvConf": "kubelet.resolvConf",
    "registerWithTaints": "nodes[].taints",
}


def test_the_settings_know_every_field_the_template_fills_and_from_what() -> None:
    """The settings keep it as data (they import nothing of the node package): in step with
    the template's own references."""
    assert rendering.kubelet_config_sources() == KUBELET_CONFIG_SOURCES


def test_every_field_a_setting_fills_is_refused_in_extra_config_naming_the_setting(
    files: Files,
) -> None:
    sources = rendering.kubelet_config_sources()
    assert set(OWNED_FIELDS) == set(sources) - PROTECTED_KUBELET_FIELDS
    default = yaml.safe_load(
        engine.run_program(settings_for(files, {}), "test", clock=FIXED_CLOCK)
        .named("node-0-kubelet-config")
        .inputs["stdin"]
    )
    # The values the program itself writes: refused all the same, the setting owns them.
    extra = {field: default.get(field, []) for field in sources}
    message, recording = run_failing(settings_for(files, {"kubelet": {"extraConfig": extra}}))
    expected = [
        f"kubelet.extraConfig.{field}: {PROTECTED}"
        if field in PROTECTED_KUBELET_FIELDS
        else f"kubelet.extraConfig.{field}: is set from {setting}; use {setting}"
        for field, setting in ((f, OWNED_FIELDS.get(f)) for f in sources)
    ]
    assert problems(message) == expected
    assert recording.resources == []


def test_several_extra_config_problems_get_a_line_each(files: Files) -> None:
    extra = {"maxpods": 1, "port": 1, "maxOpenFiles": "x", "evictionHard": {"a": 1, "b": None}}
    message, _ = run_failing(settings_for(files, {"kubelet": {"extraConfig": extra}}))
    assert problems(message) == [
        "kubelet.extraConfig.maxpods: unknown KubeletConfiguration field; did you mean 'maxPods'?",
        "kubelet.extraConfig.port: is set from kubelet.port; use kubelet.port",
        "kubelet.extraConfig.maxOpenFiles: 'x' is not an integer (int64)",
        "kubelet.extraConfig.evictionHard.a: 1 is not a string; quote it: '1'",
        "kubelet.extraConfig.evictionHard.b: null is not a string; leave the key out for the"
        " kubelet's default",
    ]


def test_a_dotted_node_name_of_63_characters_is_accepted(files: Files) -> None:
    name = "ip-10-0-0-1." + "a" * 42 + ".internal"
    assert len(name) == 63
    recording = engine.run_program(
        settings_for(files, {"nodes": nodes_with(0, name=name)}), "test", clock=FIXED_CLOCK
    )
    assert f"--hostname-override={name} " in recording.named(f"{name}-kubelet-unit").inputs["stdin"]


def test_a_private_key_file_is_accepted(files: Files) -> None:
    config = settings_for(files, {"ssh": {"privateKeyFile": str(files.key_file)}})
    recording = engine.run_program(config, "test", clock=FIXED_CLOCK)
    connection = recording.named("node-0-prepare").inputs["connection"]
    assert connection["privateKey"] == files.ssh_key


# --- node addresses, any string ---------------------------------------------------------------

ADDRESSES = st.one_of(
    st.text(max_size=40),
    st.ip_addresses().map(str),
    st.builds(lambda ip, zone: f"{ip}%{zone}", st.ip_addresses(v=6), st.text(min_size=1)),
)


def bindable_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP in `text`, if it is one the kubelet can bind and name in its serving certificate.

    `ipaddress` also takes an IPv6 zone (`fe80::1%eth0`, any text after the `%`); the kubelet's
    IP parsing does not, and a certificate's IP SAN has no zone, so a zone is not an address.
    """
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return None if getattr(ip, "scope_id", None) else ip


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@example(address='fe80::1%eth0"')
@given(address=ADDRESSES)
def test_a_node_address_is_accepted_exactly_when_it_is_an_ip(
    address: str, ca_file: Path, ssh_key: str
) -> None:
    config = stack_config(ca_file, ssh_key, 1)
    config[f"{NS}:nodes"] = [{"name": "node-0", "address": address, "hostKey": HOST_KEY}]
    ip = bindable_ip(address)
    if ip is None:
        message, recording = run_failing(config)
        assert problems(message) == [f"nodes[0].address: {address!r} is not an IP address"]
        assert recording.resources == []
        return
    recording = engine.run_program(config, "test", clock=FIXED_CLOCK)
    document = yaml.safe_load(recording.named("node-0-kubelet-config").inputs["stdin"])
    assert document["address"] == str(ip)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    assert recording.stack_outputs["nodes"]["node-0"]["kubeletEndpoint"] == f"https://{host}:10250"
