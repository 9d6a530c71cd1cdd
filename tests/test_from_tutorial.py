"""`python -m tools.from_tutorial`: the tutorial's environment.sh becomes a stack file.

The fixture is written like the tutorial's /opt/k8s/bin/environment.sh (its file is not
public): `export` and bare assignments, bash arrays, quotes, comments, and lines the parser
must not run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from components.settings.messages import key_paths
from components.settings.model import Settings
from tools import environment_sh
from tools.from_tutorial import main

ROOT = Path(__file__).resolve().parent.parent

ENVIRONMENT_SH = """\
#!/usr/bin/bash

# Key for encrypting secrets in etcd: never run by the parser.
export ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)

# Worker node IPs and their host names, in the same order
export WORKER_NODE_IPS=(172.27.128.149 172.27.128.150 "172.27.128.151")  # three workers
export WORKER_NODE_NAMES=(
  kube-master   # the master also runs a kubelet
  'kube-node1'
  kube-node2
)

MASTER_IP=172.27.128.149
# kube-apiserver's address, as the nodes reach it
export KUBE_APISERVER="https://${MASTER_IP}:6443"

export K8S_DIR=/data/k8s/k8s
export PATH=/opt/k8s/bin:$PATH

# Cluster DNS: the service IP (in SERVICE_CIDR) and the domain
export CLUSTER_DNS_SVC_IP='10.254.0.2'
export CLUSTER_DNS_DOMAIN="cluster.local"
"""


def parse(text: str) -> dict[str, environment_sh.Value]:
    return environment_sh.parse(text)


def test_arrays_and_plain_assignments_are_parsed() -> None:
    values = parse(ENVIRONMENT_SH)
    assert values["WORKER_NODE_IPS"] == ("172.27.128.149", "172.27.128.150", "172.27.128.151")
    assert values["WORKER_NODE_NAMES"] == ("kube-master", "kube-node1", "kube-node2")
    assert values["K8S_DIR"] == "/data/k8s/k8s"
    assert values["KUBE_APISERVER"] == "https://172.27.128.149:6443"


def test_comments_and_quotes() -> None:
    values = parse(
        "A='x # not a comment'  # a comment\n"
        'B="it\'s \\"quoted\\""\n'
        "C=a\\ b\n"
        "D=\n"
        "E='$(not run)'\n"
    )
    assert values == {
        "A": "x # not a comment",
        "B": 'it\'s "quoted"',
        "C": "a b",
        "D": "",
        "E": "$(not run)",
    }


def test_a_value_the_parser_cannot_know_is_unsupported_with_its_line() -> None:
    values = parse(ENVIRONMENT_SH)
    assert values["ENCRYPTION_KEY"] == environment_sh.Unsupported(
        4, "command substitution is not run"
    )
    assert values["PATH"] == environment_sh.Unsupported(19, "$PATH is not set earlier in this file")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("A=1\nsource /etc/other.sh\n", 2),
        ("A=1\nB='never closed\nC=3\n", 2),
        ("A=(1 2\n3\n", 1),
        ("A=1 run-this\n", 1),
        ("A=1; rm -rf /\n", 1),
    ],
    ids=["command", "open-quote", "open-array", "command-after", "semicolon"],
)
def test_what_is_not_an_assignment_is_refused_with_its_line(text: str, line: int) -> None:
    with pytest.raises(environment_sh.ParseError, match=rf"^line {line}: "):
        parse(text)


@pytest.fixture
def environment(tmp_path: Path) -> Path:
    path = tmp_path / "environment.sh"
    path.write_text(ENVIRONMENT_SH)
    return path


def run(environment: Path, tmp_path: Path, *extra: str, stack: str = "prod") -> tuple[int, Path]:
    code = main(
        [
            str(environment),
            "--stack",
            stack,
            "--ca-cert",
            str(ROOT / "examples" / "dev-ca.pem"),
            "--ssh-key",
            "/home/ops/.ssh/id_ed25519",
            "--dir",
            str(tmp_path),
            *extra,
        ]
    )
    return code, tmp_path / f"Pulumi.{stack}.yaml"


def test_the_written_yaml_holds_exactly_the_contract_keys(
    environment: Path, tmp_path: Path
) -> None:
    code, written = run(environment, tmp_path)
    assert code == 0
    config = yaml.safe_load(written.read_text())["config"]
    assert config == {
        "kubelet-bootstrap:apiServer": "https://172.27.128.149:6443",
        "kubelet-bootstrap:caCertFile": str(ROOT / "examples" / "dev-ca.pem"),
        "kubelet-bootstrap:cluster": {"dnsDomain": "cluster.local", "dnsServiceIP": "10.254.0.2"},
        "kubelet-bootstrap:nodes": [
            {"name": "kube-master", "address": "172.27.128.149"},
            {"name": "kube-node1", "address": "172.27.128.150"},
            {"name": "kube-node2", "address": "172.27.128.151"},
        ],
        "kubelet-bootstrap:kubelet": {"rootDir": "/data/k8s/k8s/kubelet"},
    }
    keys = {k.removeprefix("kubelet-bootstrap:") for k in config}
    keys |= {f"cluster.{k}" for k in config["kubelet-bootstrap:cluster"]}
    keys |= {f"kubelet.{k}" for k in config["kubelet-bootstrap:kubelet"]}
    keys |= {f"nodes[].{k}" for n in config["kubelet-bootstrap:nodes"] for k in n}
    assert keys <= set(key_paths(Settings))


def test_mismatched_arrays_are_refused(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.write_text(ENVIRONMENT_SH.replace("  kube-node2\n", ""))
    code, written = run(environment, tmp_path)
    assert code == 1
    assert not written.exists()
    assert "WORKER_NODE_NAMES has 2 names but WORKER_NODE_IPS has 3 IPs" in capsys.readouterr().err


def test_command_substitution_in_a_needed_value_is_refused_with_its_line(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.write_text(
        ENVIRONMENT_SH.replace('"https://${MASTER_IP}:6443"', "$(cat /etc/apiserver-url)")
    )
    code, written = run(environment, tmp_path)
    assert code == 1
    assert not written.exists()
    err = capsys.readouterr().err
    assert "line 16: KUBE_APISERVER: command substitution is not run" in err


def test_settings_problems_other_than_secrets_are_refused(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.write_text(ENVIRONMENT_SH.replace("172.27.128.150", "172.27.128.300"))
    code, written = run(environment, tmp_path)
    assert code == 1
    assert not written.exists()
    err = capsys.readouterr().err
    assert "nodes[1].address: '172.27.128.300' is not an IP address" in err
    assert "kubeconfig" not in err and "ssh" not in err


def test_an_existing_stack_file_is_not_overwritten_without_force(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = tmp_path / "Pulumi.prod.yaml"
    written.write_text("config: {}\n")
    code, _ = run(environment, tmp_path)
    assert code == 1
    assert written.read_text() == "config: {}\n"
    assert "--force" in capsys.readouterr().err
    code, _ = run(environment, tmp_path, "--force")
    assert code == 0
    assert "kube-node2" in written.read_text()


def test_printed_commands_set_secrets_from_files_and_pin_host_keys(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_key = tmp_path / "id_ed25519"
    secret_key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nSECRETMATERIAL\n")
    shutil.copy(secret_key, tmp_path / "kubeconfig")
    code, _ = run(environment, tmp_path, "--kubeconfig", str(tmp_path / "kubeconfig"))
    assert code == 0
    out = capsys.readouterr().out
    assert (
        f"pulumi config set --stack prod --secret kubelet-bootstrap:kubeconfig"
        f" < {tmp_path / 'kubeconfig'}\n" in out
    )
    assert (
        "pulumi config set --stack prod --secret --path 'kubelet-bootstrap:ssh.privateKey'"
        " < /home/ops/.ssh/id_ed25519\n" in out
    )
    assert (
        "pulumi config set --stack prod --path 'kubelet-bootstrap:nodes[2].hostKey'"
        " \"$(ssh-keyscan -t ed25519 172.27.128.151 2>/dev/null | cut -d' ' -f2-)\"\n" in out
    )
    assert "SECRETMATERIAL" not in out and "PRIVATE KEY" not in out
