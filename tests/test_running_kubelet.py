"""A running node's kubelet carried over as settings (`tools.running_kubelet`), and the
importer's `--node-files` and `--from-node`.

The node's files are written here as the tutorial's chapter has them, with what a node of
today adds to run on the kubelet 1.34 (its runtime endpoint, eviction and log settings).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.node import rendering
from components.settings.extra_config import PROTECTED_KUBELET_FIELDS
from components.settings.loading import load_settings
from tests.factories import HOST_KEY, admin_kubeconfig
from tools import running_kubelet
from tools.from_tutorial import main
from tools.running_kubelet import RunningKubeletError, carried, read_unit

ROOT = Path(__file__).resolve().parent.parent
CA = str(ROOT / "examples" / "dev-ca.pem")

UNIT = """\
[Unit]
Description=Kubernetes Kubelet
After=containerd.service

[Service]
WorkingDirectory=/data/k8s/k8s/kubelet
ExecStart=/opt/k8s/bin/kubelet \\
  --root-dir=/data/k8s/k8s/kubelet \\
  --bootstrap-kubeconfig=/etc/kubernetes/kubelet-bootstrap.kubeconfig \\
  --cert-dir=/etc/kubernetes/cert \\
  --kubeconfig=/etc/kubernetes/kubelet.kubeconfig \\
  --config=/etc/kubernetes/kubelet-config.yaml \\
  --hostname-override=kube-node1 \\
  --pod-infra-container-image=registry.cn-beijing.aliyuncs.com/k8s_images/pause-amd64:3.1 \\
  --allow-privileged=true \\
  --event-qps=0 \\
  --kube-api-qps=1000 \\
  --kube-api-burst=2000 \\
  --registry-qps=0 \\
  --image-pull-progress-deadline=30m \\
  --logtostderr=true \\
  --v=2
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""

CONFIG = """\
kind: KubeletConfiguration
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: "/etc/kubernetes/cert/ca.pem"
authorization:
  mode: Webhook
clusterDomain: "cluster.local"
clusterDNS:
  - "10.254.0.2"
podCIDR: "172.30.0.0/16"
maxPods: 220
serializeImagePulls: false
hairpinMode: promiscuous-bridge
cgroupDriver: cgroupfs
runtimeRequestTimeout: "15m"
rotateCertificates: true
serverTLSBootstrap: true
readOnlyPort: 0
port: 10250
address: "172.27.128.150"
containerRuntimeEndpoint: "unix:///run/containerd/containerd.sock"
resolvConf: /etc/resolv.conf
evictionHard:
  memory.available: "200Mi"
  nodefs.available: "10%"
logging:
  format: json
"""


def settings_with(kept: running_kubelet.Carried, ssh_key: str) -> Any:
    raw = {
        "apiServer": "https://10.0.0.10:6443",
        "caCertFile": CA,
        "kubeconfig": admin_kubeconfig(Path(CA).read_text()),
        "ssh": {"privateKey": ssh_key, "hostKey": HOST_KEY},
        "cluster": {"dnsServiceIP": "10.254.0.9", **kept.cluster},
        "kubelet": kept.kubelet,
        "nodes": [{"name": "kube-node1", "address": "172.27.128.150"}],
    }
    return load_settings(raw, environ={})


def test_adopting_with_what_the_node_runs_changes_only_what_the_stack_adds(ssh_key: str) -> None:
    """The config the stack writes, with the carried settings, holds every field the node's
    has with the node's value; what differs is only what the notes say the stack adds."""
    kept = carried(UNIT, CONFIG)
    settings = settings_with(kept, ssh_key)
    written = yaml.safe_load(
        rendering.kubelet_config(settings.kubelet, settings.cluster, settings.nodes[0])
    )
    running = yaml.safe_load(CONFIG)

    changed = {k for k in running if written.get(k) != running[k]}
    added = set(written) - set(running)
    assert changed == set(), {k: (running[k], written.get(k)) for k in changed}
    assert added == {
        "healthzBindAddress",
        "healthzPort",
        "tlsMinVersion",
        "tlsCipherSuites",
        "makeIPTablesUtilChains",
        "seccompDefault",
        "podPidsLimit",
        "eventRecordQPS",
        "kubeAPIQPS",
        "kubeAPIBurst",
        "registryPullQPS",
        "failSwapOn",
    }
    # The flags the unit gave are those the stack writes into the config.
    assert (written["eventRecordQPS"], written["kubeAPIQPS"], written["kubeAPIBurst"]) == (
        0,
        1000,
        2000,
    )
    for name in added & (PROTECTED_KUBELET_FIELDS | {"seccompDefault"}):
        assert any(note.startswith(f"{name}: the stack adds") for note in kept.notes), name
    assert kept.kubelet["cgroupDriver"] == "cgroupfs"
    assert kept.kubelet["extraConfig"]["podCIDR"] == "172.30.0.0/16"
    assert kept.cluster == {"dnsServiceIP": "10.254.0.2"}


def test_the_tutorials_removed_flags_are_dropped_and_said() -> None:
    notes = carried(UNIT, CONFIG).notes
    for flag in ("allow-privileged", "pod-infra-container-image", "logtostderr"):
        assert f"--{flag}: no longer a kubelet flag: dropped" in notes
    assert "--hostname-override: set for each node from nodes[]: not carried" in notes


def test_a_flag_wins_over_the_config_file_as_in_the_kubelet() -> None:
    unit = UNIT.replace(
        "  --v=2", "  --max-pods=110 \\\n  --eviction-hard=memory.available<500Mi \\\n  --v=4"
    )

    kept = carried(unit, CONFIG)

    assert kept.kubelet["maxPods"] == 110
    assert kept.kubelet["verbosity"] == 4
    assert kept.kubelet["extraConfig"]["evictionHard"] == {"memory.available": "500Mi"}


def test_a_weaker_security_field_is_not_carried_and_said() -> None:
    kept = carried(UNIT, CONFIG.replace("readOnlyPort: 0", "readOnlyPort: 10255"))

    assert "readOnlyPort: the stack sets 0 for security (the node has 10255)" in kept.notes
    assert "readOnlyPort" not in kept.kubelet.get("extraConfig", {})


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("[Service]\nType=simple\n", "the unit has 0 ExecStart= lines, not one"),
        ("ExecStart=/opt/k8s/bin/kubelet stray\n", "ExecStart= has 'stray', which is not a --flag"),
    ],
    ids=["no-execstart", "positional-argument"],
)
def test_a_unit_that_is_no_kubelets_is_refused(unit: str, message: str) -> None:
    with pytest.raises(RunningKubeletError, match=message):
        read_unit(unit)


# --- the importer's --node-files and --from-node ------------------------------------------------

ENVIRONMENT_SH = """\
export NODE_IPS=(172.27.128.149 172.27.128.150)
export NODE_NAMES=(kube-node0 kube-node1)
export KUBE_APISERVER="https://172.27.128.149:6443"
export CLUSTER_DNS_SVC_IP="10.254.0.2"
export CLUSTER_DNS_DOMAIN="cluster.local."
"""


def node_copy(directory: Path) -> Path:
    for path, text in (
        ("etc/systemd/system/kubelet.service", UNIT),
        ("etc/kubernetes/kubelet-config.yaml", CONFIG),
    ):
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_text(text)
    return directory


def run(tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    source = tmp_path / "environment.sh"
    source.write_text(ENVIRONMENT_SH)
    target = tmp_path / "Pulumi.prod.yaml"
    argv = [str(source), "--stack", "prod", "--ca-cert", CA, "--dir", str(tmp_path), *extra]
    code = main(argv)
    config = yaml.safe_load(target.read_text())["config"] if target.exists() else {}
    return code, config


def test_node_files_carry_the_running_kubelet_into_the_stack_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, config = run(tmp_path, "--node-files", str(node_copy(tmp_path / "node")))

    out = capsys.readouterr().out
    assert code == 0
    assert config["kubelet-bootstrap:kubelet"]["cgroupDriver"] == "cgroupfs"
    assert "the node's kubelet: cgroupDriver -> kubelet.cgroupDriver" in out
    assert "the node's kubelet: seccompDefault: the stack adds true (the node has none)" in out


def test_from_node_reads_the_files_over_ssh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ssh stub serves the node's copy and logs how it was called."""
    root = node_copy(tmp_path / "node")
    calls = tmp_path / "ssh.log"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "ssh").write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\nfor last; do :; done\nexec cat "{root}$last"\n'
    )
    (stubs / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{stubs}{os.pathsep}{os.environ['PATH']}")

    code, config = run(tmp_path, "--from-node", "kube-node1", "--ssh-key", "/keys/ops")

    assert code == 0, capsys.readouterr().err
    assert config["kubelet-bootstrap:kubelet"]["cgroupDriver"] == "cgroupfs"
    ssh = "-o BatchMode=yes -i /keys/ops root@172.27.128.150 cat --"
    assert calls.read_text().splitlines() == [
        f"{ssh} /etc/systemd/system/kubelet.service",
        f"{ssh} /etc/kubernetes/kubelet-config.yaml",
    ]


def test_from_a_node_that_is_not_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, config = run(tmp_path, "--from-node", "kube-node9")

    assert (code, config) == (1, {})
    assert "--from-node kube-node9 is none of the nodes (kube-node0, kube-node1)" in (
        capsys.readouterr().err
    )
