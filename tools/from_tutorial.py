"""From the tutorial to a stack: environment.sh and its node list become `Pulumi.<stack>.yaml`.

A cluster built by hand with the tutorial already states everything the stack needs, in
/opt/k8s/bin/environment.sh. This writes the non-secret settings as a stack file, checked by
the program's own settings loader, and prints the commands that add the rest: the secrets
(read from their files by the shell, so they never pass through here or the terminal) and
each node's SSH host key.

    python -m tools.from_tutorial /opt/k8s/bin/environment.sh --stack prod
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from components.settings import NAMESPACE, SettingsError, load_settings
from tools import environment_sh

TUTORIAL_CA = "/etc/kubernetes/cert/ca.pem"
# Set by the printed commands, so their absence is no problem of the file.
SECRET_PROBLEMS = ("kubeconfig:", "ssh:", "ssh.")


class FromTutorialError(Exception):
    """What keeps environment.sh from becoming a stack file."""


def stack_config(values: dict[str, environment_sh.Value], ca_cert: str) -> dict[str, Any]:
    """The stack's settings (keys without the namespace) from the tutorial's variables."""
    names = _array(values, "WORKER_NODE_NAMES")
    ips = _array(values, "WORKER_NODE_IPS")
    if len(names) != len(ips):
        raise FromTutorialError(
            f"WORKER_NODE_NAMES has {len(names)} names but WORKER_NODE_IPS has {len(ips)} IPs:"
            " each node needs both, in the same order"
        )
    cluster = {"dnsServiceIP": _string(values, "CLUSTER_DNS_SVC_IP")}
    if "CLUSTER_DNS_DOMAIN" in values:
        cluster = {"dnsDomain": _string(values, "CLUSTER_DNS_DOMAIN"), **cluster}
    return {
        "apiServer": _string(values, "KUBE_APISERVER"),
        "caCertFile": ca_cert,
        "cluster": cluster,
        "nodes": [{"name": n, "address": ip} for n, ip in zip(names, ips, strict=True)],
    }


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
        problems = [p for p in error.problems if not p.startswith(SECRET_PROBLEMS)]
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
    args = parser.parse_args(argv)
    target = args.dir / f"Pulumi.{args.stack}.yaml"
    try:
        values = environment_sh.parse(args.environment_sh.read_text())
        config = stack_config(values, args.ca_cert)
        check(config)
        if target.exists() and not args.force:
            raise FromTutorialError(f"{target} exists; --force overwrites it")
    except (OSError, environment_sh.ParseError, FromTutorialError) as error:
        print(f"{args.environment_sh}: {error}", file=sys.stderr)
        return 1
    target.write_text(stack_file(config, args.environment_sh))
    print(f"# wrote {target}; now set the secrets and pin each node's SSH host key:")
    print("\n".join(commands(config, args.stack, args.kubeconfig, args.ssh_key)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
