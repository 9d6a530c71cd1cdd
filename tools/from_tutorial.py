"""From the tutorial to a stack: environment.sh and its node list become `Pulumi.<stack>.yaml`.

A cluster built by hand with the tutorial already states everything the stack needs, in
/opt/k8s/bin/environment.sh (in any of its published forms), and its kubelets run with values
the stack must keep. This writes the non-secret settings as a stack file, with what one
node's kubelet runs with carried over (`--from-node`, `tools.running_kubelet`), checked by the
program's own settings loader, and prints what each value became and the commands that add
the rest: the secrets (read from their files by the shell, so they never pass through here
or the terminal) and each node's SSH host key.

    python -m tools.from_tutorial /opt/k8s/bin/environment.sh --stack prod --from-node kube-node1
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.settings.loading import SettingsError, load_settings
from components.settings.model import NAMESPACE, KubeletSettings
from tools import environment_sh, running_kubelet

TUTORIAL_CA = "/etc/kubernetes/cert/ca.pem"
UNIT_FILE = KubeletSettings.model_fields["unit_file"].default
CONFIG_FILE = KubeletSettings.model_fields["config_file"].default
# Set by the printed commands, so their absence is no problem of the file.
SECRET_PROBLEMS = ("kubeconfig:", "ssh:", "ssh.")
UNPINNED = ".hostKey: not pinned"


class FromTutorialError(Exception):
    """What keeps environment.sh from becoming a stack file."""


NODE_ARRAYS = (("WORKER_NODE_NAMES", "WORKER_NODE_IPS"), ("NODE_NAMES", "NODE_IPS"))
"""Where the tutorial's copies list the machines that run a kubelet: its chapter's workers, or
every machine of the published environment.sh (whose masters run a kubelet too)."""


@dataclass
class Imported:
    """The stack's settings (keys without the namespace), and what each variable became."""

    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def stack_config(values: dict[str, environment_sh.Value], ca_cert: str) -> Imported:
    """The stack's settings from the tutorial's variables."""
    imported = Imported({"apiServer": _string(values, "KUBE_APISERVER"), "caCertFile": ca_cert})
    imported.notes.append("KUBE_APISERVER -> apiServer")
    imported.config["nodes"] = _nodes(values, imported.notes)
    dns_ip = _string(values, "CLUSTER_DNS_SVC_IP")
    cluster = {"dnsServiceIP": dns_ip}
    imported.notes.append("CLUSTER_DNS_SVC_IP -> cluster.dnsServiceIP")
    if "CLUSTER_DNS_DOMAIN" in values:
        domain = _string(values, "CLUSTER_DNS_DOMAIN")
        cluster = {"dnsDomain": domain.removesuffix("."), **cluster}
        dot = ", without its trailing dot" if domain.endswith(".") else ""
        imported.notes.append(f"CLUSTER_DNS_DOMAIN -> cluster.dnsDomain{dot}")
    imported.config["cluster"] = cluster
    if "SERVICE_CIDR" in values:
        _within(dns_ip, _string(values, "SERVICE_CIDR"))
        imported.notes.append(
            "SERVICE_CIDR: CLUSTER_DNS_SVC_IP is inside it (not a kubelet setting)"
        )
    if "CLUSTER_CIDR" in values:
        imported.notes.append(
            "CLUSTER_CIDR: not a kubelet setting (kube-controller-manager gives each node its "
            "podCIDR from it)"
        )
    if "K8S_DIR" in values:
        root_dir = _string(values, "K8S_DIR").rstrip("/") + "/kubelet"
        imported.config["kubelet"] = {"rootDir": root_dir}
        imported.notes.append(
            "K8S_DIR -> kubelet.rootDir (K8S_DIR/kubelet, as the tutorial's unit)"
        )
    return imported


def _nodes(values: dict[str, environment_sh.Value], notes: list[str]) -> list[dict[str, str]]:
    for names_key, ips_key in NODE_ARRAYS:
        if names_key in values or ips_key in values:
            names, ips = _array(values, names_key), _array(values, ips_key)
            if len(names) != len(ips):
                raise FromTutorialError(
                    f"{names_key} has {len(names)} names but {ips_key} has {len(ips)} IPs:"
                    " each node needs both, in the same order"
                )
            notes.append(f"{names_key}, {ips_key} -> nodes[].name, nodes[].address")
            return [{"name": n, "address": ip} for n, ip in zip(names, ips, strict=True)]
    pairs = " nor ".join(f"{names} and {ips}" for names, ips in NODE_ARRAYS)
    raise FromTutorialError(f"neither {pairs} are set in environment.sh: the nodes come from them")


def _within(address: str, network: str) -> None:
    """CLUSTER_DNS_SVC_IP must be a service IP: a typo here sends every pod's DNS nowhere."""
    try:
        inside = ipaddress.ip_address(address) in ipaddress.ip_network(network, strict=False)
    except ValueError as error:
        raise FromTutorialError(f"SERVICE_CIDR or CLUSTER_DNS_SVC_IP: {error}") from None
    if not inside:
        raise FromTutorialError(
            f"CLUSTER_DNS_SVC_IP {address} is not inside SERVICE_CIDR {network}: the cluster DNS "
            "service's IP comes from the service network"
        )


def _value(values: dict[str, environment_sh.Value], name: str) -> str | tuple[str, ...]:
    if name not in values:
        raise FromTutorialError(f"{name} is not set in environment.sh")
    value = values[name]
    if isinstance(value, environment_sh.Unsupported):
        raise FromTutorialError(f"line {value.line}: {name}: {value.reason}")
    return value


def _string(values: dict[str, environment_sh.Value], name: str) -> str:
    value = _value(values, name)
    if not isinstance(value, str):
        raise FromTutorialError(f"{name} is an array; a single value is expected")
    return value


def _array(values: dict[str, environment_sh.Value], name: str) -> tuple[str, ...]:
    value = _value(values, name)
    return value if isinstance(value, tuple) else tuple(value.split())


def check(config: dict[str, Any]) -> None:
    """Validate with the program's loader; the secrets are not there yet, so their absence
    (and only that) is not reported."""
    try:
        load_settings(config, environ={})
    except SettingsError as error:
        problems = [
            p for p in error.problems if not p.startswith(SECRET_PROBLEMS) and UNPINNED not in p
        ]
        if problems:
            raise FromTutorialError(
                "the settings would be refused:\n" + "\n".join(f"  - {p}" for p in problems)
            ) from None


def stack_file(config: dict[str, Any], source: Path) -> str:
    header = (
        f"# Written by `python -m tools.from_tutorial` from {source}.\n"
        "# The admin kubeconfig and the SSH key go in with `pulumi config set --secret`.\n"
    )
    namespaced = {f"{NAMESPACE}:{key}": value for key, value in config.items()}
    return header + yaml.safe_dump({"config": namespaced}, sort_keys=False)


def commands(config: dict[str, Any], stack: str, kubeconfig: str, ssh_key: str) -> list[str]:
    """The secrets, read by the shell from their files, and each node's host key pinned."""
    pulumi = f"pulumi config set --stack {shlex.quote(stack)}"
    lines = [
        f"{pulumi} --secret {NAMESPACE}:kubeconfig < {_path(kubeconfig)}",
        f"{pulumi} --secret --path '{NAMESPACE}:ssh.privateKey' < {_path(ssh_key)}",
    ]
    for index, node in enumerate(config["nodes"]):
        scan = f"ssh-keyscan -t ed25519 {shlex.quote(node['address'])} 2>/dev/null"
        lines.append(
            f"{pulumi} --path '{NAMESPACE}:nodes[{index}].hostKey' \"$({scan} | cut -d' ' -f2-)\""
        )
    return lines


def with_running_kubelet(imported: Imported, read: Callable[[str], str]) -> None:
    """Carry over what a running node's kubelet has (`tools.running_kubelet`), its files read
    with `read`: what it runs wins over environment.sh, and a difference is said."""
    unit_text = read(UNIT_FILE)
    unit = running_kubelet.read_unit(unit_text)
    kept = running_kubelet.carried(unit_text, read(unit.flags.get("config", CONFIG_FILE)))
    imported.config["kubelet"] = {**imported.config.get("kubelet", {}), **kept.kubelet}
    cluster = imported.config["cluster"]
    for key, value in kept.cluster.items():
        if cluster.get(key, value) != value:
            imported.notes.append(
                f"cluster.{key}: the node runs {value}, not {cluster[key]} as environment.sh "
                "says: the node's is kept"
            )
        cluster[key] = value
    imported.notes += [f"the node's kubelet: {note}" for note in kept.notes]


def node_reader(args: argparse.Namespace, nodes: list[dict[str, str]]) -> Callable[[str], str]:
    """Reads a file of the node `--from-node` names over SSH, or of its copy in `--node-files`."""
    if args.node_files is not None:
        return lambda path: (args.node_files / path.lstrip("/")).read_text()
    address = {node["name"]: node["address"] for node in nodes}.get(args.from_node)
    if address is None:
        names = ", ".join(node["name"] for node in nodes)
        raise FromTutorialError(f"--from-node {args.from_node} is none of the nodes ({names})")

    def read(path: str) -> str:
        command = ["ssh", "-o", "BatchMode=yes", "-i", os.path.expanduser(args.ssh_key)]
        command += [f"root@{address}", "cat", "--", shlex.quote(path)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise FromTutorialError(f"reading {path} from {args.from_node}: {error}") from None
        if result.returncode != 0:
            raise FromTutorialError(
                f"reading {path} from {args.from_node} ({address}) over SSH failed: "
                f"{result.stderr.strip() or f'exit {result.returncode}'}"
            )
        return result.stdout

    return read


def _path(path: str) -> str:
    return shlex.quote(os.path.expanduser(path))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.from_tutorial", description=__doc__)
    parser.add_argument("environment_sh", type=Path, help="the tutorial's environment.sh")
    parser.add_argument("--stack", required=True, help="the stack: writes Pulumi.<stack>.yaml")
    parser.add_argument("--ca-cert", default=TUTORIAL_CA, help="the cluster CA certificate")
    parser.add_argument("--ssh-key", default="~/.ssh/id_ed25519", help="SSH private key file")
    parser.add_argument("--kubeconfig", default="~/.kube/config", help="admin kubeconfig file")
    parser.add_argument("--dir", type=Path, default=Path(), help="where Pulumi.yaml is")
    parser.add_argument("--force", action="store_true", help="overwrite the stack file")
    running = parser.add_mutually_exclusive_group()
    running.add_argument(
        "--from-node", metavar="NAME", help="carry over the kubelet settings this node runs with"
    )
    running.add_argument(
        "--node-files",
        metavar="DIR",
        type=Path,
        help="the same, from a copy of a node's files (DIR/etc/systemd/system/kubelet.service...)",
    )
    args = parser.parse_args(argv)
    target = args.dir / f"Pulumi.{args.stack}.yaml"
    try:
        values = environment_sh.parse(args.environment_sh.read_text())
        imported = stack_config(values, args.ca_cert)
        if args.from_node or args.node_files:
            with_running_kubelet(imported, node_reader(args, imported.config["nodes"]))
        config = imported.config
        check(config)
        if target.exists() and not args.force:
            raise FromTutorialError(f"{target} exists; --force overwrites it")
    except (
        OSError,
        environment_sh.ParseError,
        FromTutorialError,
        running_kubelet.RunningKubeletError,
    ) as error:
        print(f"{args.environment_sh}: {error}", file=sys.stderr)
        return 1
    target.write_text(stack_file(config, args.environment_sh))
    print(f"# wrote {target}:")
    print("\n".join(f"#   {note}" for note in imported.notes))
    print("# now set the secrets and pin each node's SSH host key:")
    print("\n".join(commands(config, args.stack, args.kubeconfig, args.ssh_key)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
