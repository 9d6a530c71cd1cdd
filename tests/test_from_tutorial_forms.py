"""`python -m tools.from_tutorial` on environment.sh as people have it.

Three forms, written here from what each defines: the tutorial's published file (every
machine in `NODE_NAMES`/`NODE_IPS`, dotted names, `$(...)` and `$PATH` lines the stack does not
need, a local kube-nginx as `KUBE_APISERVER`); an older one (`KUBE_APISERVER` built from
`MASTER_VIP`, the node list as one string, `CLUSTER_DNS_DOMAIN` with its trailing dot); and a
copy that names the workers from the published arrays (`${NODE_NAMES[@]}`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import environment_sh
from tools.from_tutorial import main

ROOT = Path(__file__).resolve().parent.parent
CA = str(ROOT / "examples" / "dev-ca.pem")

PUBLISHED = """\
#!/usr/bin/bash

# Key for EncryptionConfig
export ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)

# Every machine of the cluster, and their host names
export NODE_IPS=(172.27.138.251 172.27.137.229 172.27.138.239)
export NODE_NAMES=(k8s-01.example.net k8s-02.example.net k8s-03.example.net)

export ETCD_ENDPOINTS="https://172.27.138.251:2379,https://172.27.137.229:2379,https://172.27.138.239:2379"
export ETCD_NODES="k8s-01=https://172.27.138.251:2380,k8s-02=https://172.27.137.229:2380"

# kube-nginx on each node, in front of the kube-apiservers
export KUBE_APISERVER="https://127.0.0.1:8443"
export IFACE="eth0"
export ETCD_DATA_DIR="/data/k8s/etcd/data"
export K8S_DIR="/data/k8s/k8s"
export CONTAINERD_DIR="/data/k8s/containerd"

## usually left as they are
BOOTSTRAP_TOKEN="41f7e4ba8b7be874fcff18bf5cf41a7c"
SERVICE_CIDR="10.254.0.0/16"
CLUSTER_CIDR="172.30.0.0/16"
export NODE_PORT_RANGE="30000-32767"
export CLUSTER_KUBERNETES_SVC_IP="10.254.0.1"
export CLUSTER_DNS_SVC_IP="10.254.0.2"
export CLUSTER_DNS_DOMAIN="cluster.local"
export PATH=/opt/k8s/bin:$PATH
"""

OLDER = """\
export MASTER_VIP=192.168.1.10
export KUBE_APISERVER="https://${MASTER_VIP}:8443"
export NODE_NAMES="kube-node1 kube-node2"
export NODE_IPS="192.168.1.21 192.168.1.22"
SERVICE_CIDR="10.254.0.0/16"
CLUSTER_DNS_SVC_IP="10.254.0.2"
CLUSTER_DNS_DOMAIN="cluster.local."
export K8S_DIR=/var/lib/k8s/
"""

IFACE = 'export IFACE="eth0"'

COPY = (
    PUBLISHED
    + """
# the workers are every machine
export WORKER_NODE_NAMES=(${NODE_NAMES[@]})
export WORKER_NODE_IPS=("${NODE_IPS[@]}")
export MASTER_IP=${NODE_IPS[0]}
"""
)


def imported(tmp_path: Path, text: str) -> tuple[int, dict[str, Any]]:
    """The tool run on `text`: its exit code and the stack file's config (without the
    namespace; empty when none was written)."""
    source = tmp_path / "environment.sh"
    source.write_text(text)
    target = tmp_path / "Pulumi.prod.yaml"
    code = main([str(source), "--stack", "prod", "--ca-cert", CA, "--dir", str(tmp_path)])
    config = yaml.safe_load(target.read_text())["config"] if target.exists() else {}
    return code, {k.removeprefix("kubelet-bootstrap:"): v for k, v in config.items()}


def test_the_published_form_names_every_machine_a_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, config = imported(tmp_path, PUBLISHED)

    out = capsys.readouterr().out
    assert code == 0, capsys.readouterr().err
    assert config["nodes"] == [
        {"name": "k8s-01.example.net", "address": "172.27.138.251"},
        {"name": "k8s-02.example.net", "address": "172.27.137.229"},
        {"name": "k8s-03.example.net", "address": "172.27.138.239"},
    ]
    assert config["apiServer"] == "https://127.0.0.1:8443"
    assert config["kubelet"] == {"rootDir": "/data/k8s/k8s/kubelet"}
    assert "NODE_NAMES, NODE_IPS -> nodes[].name, nodes[].address" in out
    assert "CLUSTER_CIDR: not a kubelet setting" in out
    assert "SERVICE_CIDR: CLUSTER_DNS_SVC_IP is inside it" in out
    # Read, never run; and the tutorial's shared token is neither needed nor printed.
    assert (
        "41f7e4ba8b7be874fcff18bf5cf41a7c" not in out + (tmp_path / "Pulumi.prod.yaml").read_text()
    )


def test_the_older_form_with_master_vip_and_a_trailing_dot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, config = imported(tmp_path, OLDER)

    out = capsys.readouterr().out
    assert code == 0
    assert config["apiServer"] == "https://192.168.1.10:8443"
    assert config["nodes"] == [
        {"name": "kube-node1", "address": "192.168.1.21"},
        {"name": "kube-node2", "address": "192.168.1.22"},
    ]
    assert config["cluster"] == {"dnsDomain": "cluster.local", "dnsServiceIP": "10.254.0.2"}
    assert "CLUSTER_DNS_DOMAIN -> cluster.dnsDomain, without its trailing dot" in out
    assert config["kubelet"] == {"rootDir": "/var/lib/k8s/kubelet"}


def test_a_copy_of_the_published_arrays_names_the_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, config = imported(tmp_path, COPY)

    assert code == 0, capsys.readouterr().err
    assert [n["name"] for n in config["nodes"]] == [
        "k8s-01.example.net",
        "k8s-02.example.net",
        "k8s-03.example.net",
    ]
    assert "WORKER_NODE_NAMES, WORKER_NODE_IPS -> nodes" in capsys.readouterr().out
    values = environment_sh.parse(COPY)
    assert values["MASTER_IP"] == "172.27.138.251"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            PUBLISHED.replace("NODE_IPS=", "HOST_IPS=").replace("NODE_NAMES=", "HOST_NAMES="),
            "neither WORKER_NODE_NAMES and WORKER_NODE_IPS nor NODE_NAMES and NODE_IPS are set",
        ),
        (
            PUBLISHED.replace('CLUSTER_DNS_SVC_IP="10.254.0.2"', 'CLUSTER_DNS_SVC_IP="10.96.0.10"'),
            "CLUSTER_DNS_SVC_IP 10.96.0.10 is not inside SERVICE_CIDR 10.254.0.0/16",
        ),
        (
            PUBLISHED + "export WORKER_NODE_NAMES=(${NODES[@]})\n",
            f"line {PUBLISHED.count(chr(10)) + 1}: WORKER_NODE_NAMES: ${{NODES[@]}}: NODES is not "
            "set earlier in this file",
        ),
        (
            PUBLISHED.replace(IFACE, IFACE + "\nip link show eth0"),
            f"line {PUBLISHED.splitlines().index(IFACE) + 2}: not an "
            "assignment, and it is not run: 'ip link show eth0'",
        ),
    ],
    ids=["no-node-arrays", "dns-ip-outside-services", "unknown-array", "a-command"],
)
def test_what_cannot_be_read_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    code, config = imported(tmp_path, text)

    assert code == 1
    assert config == {}
    assert message in capsys.readouterr().err
