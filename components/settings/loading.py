"""Loading the stack's raw configuration into `Settings`, every problem reported at once.

Some problems are found before pydantic validates (a kubeconfig to read, duplicate nodes, host
keys not pinned, `extraConfig` against the kubelet's field catalogue), some by it; all of them
are collected into one `SettingsError`, each naming the key, so an operator fixes a stack in
one pass and no resource is registered from half-valid settings.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from components.settings.admin_kubeconfig import read_kubeconfig
from components.settings.checks import is_host
from components.settings.extra_config import extra_config_problems
from components.settings.kubelet_config_sources import KUBELET_CONFIG_SOURCES
from components.settings.messages import describe
from components.settings.model import (
    NAMESPACE,
    ClusterSettings,
    KubeletSettings,
    NodeSettings,
    Settings,
)
from components.settings.node_kubelet import overridable_keys


class SettingsError(Exception):
    """Raised with every problem found in the stack settings, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"invalid {NAMESPACE} settings ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems)
        )


def load_settings(
    raw: Mapping[str, Any],
    environ: Mapping[str, str] = os.environ,
    also: Sequence[str] = (),
) -> Settings:
    """Validate the stack's raw config (keys without the namespace) into Settings; `also`
    are problems found outside it (a key in a misspelt namespace), reported with the rest."""
    data = dict(raw)
    if data.get("kubeconfig") is None and environ.get("KUBECONFIG"):
        data["kubeconfig"] = environ["KUBECONFIG"]
    problems: list[str] = list(also)
    if "kubeconfig" in data:
        try:
            data["kubeconfig"] = read_kubeconfig(data["kubeconfig"])
        except ValueError as error:
            problems.append(f"kubeconfig: {error}")
            data["kubeconfig"] = ""  # reported above; let the rest be validated
    problems += _duplicate_nodes(data.get("nodes"))
    problems += _unverified_hosts(data.get("ssh"), data.get("nodes"), data.get("renewalApprover"))
    problems += _extra_config(data.get("kubelet"))
    for index, node in enumerate(data.get("nodes") or []):
        if isinstance(node, Mapping):
            problems += _extra_config(node.get("kubelet"), f"nodes[{index}].kubelet")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(problems + describe(error, Settings)) from None
    if problems:
        raise SettingsError(problems)
    return settings


def _unverified_hosts(ssh: Any, nodes: Any, approver: Any) -> list[str]:
    """A problem for each node, approver host (and bastion) the stack would connect to without
    checking who answers: anyone on the path could take its root shell and the credential it
    is given. Checked on the raw settings, so it is reported with every other problem."""
    ssh = ssh if isinstance(ssh, Mapping) else {}
    if ssh.get("acceptUnverifiedHostKeys") is True:
        return []
    problems = []
    bastion = ssh.get("bastion")
    if isinstance(bastion, Mapping) and is_host(bastion.get("host")) and not bastion.get("hostKey"):
        where = (bastion["host"], bastion.get("port", 22))
        problems.append(_pin("ssh.bastion.hostKey", "the bastion", *where))
    for index, node in enumerate(
        nodes if isinstance(nodes, list) and not ssh.get("hostKey") else []
    ):
        if not isinstance(node, Mapping) or node.get("hostKey") or node.get("decommissioned"):
            continue
        where = (node.get("sshHost") or node.get("address"), ssh.get("port", 22))
        if not is_host(where[0]):
            continue  # its own problem says what is wrong with it
        problems.append(_pin(f"nodes[{index}].hostKey", str(node.get("name")), *where))
    hosts = approver.get("hosts") if isinstance(approver, Mapping) else None
    for index, host in enumerate(
        hosts if isinstance(hosts, list) and not ssh.get("hostKey") else []
    ):
        if not isinstance(host, Mapping) or host.get("hostKey") or not is_host(host.get("sshHost")):
            continue
        where = (host["sshHost"], ssh.get("port", 22))
        key = f"renewalApprover.hosts[{index}].hostKey"
        problems.append(_pin(key, f"approver host {host.get('name')}", *where))
    return problems


def _pin(key: str, what: str, host: Any, port: Any) -> str:
    at_port = f"-p {port} " if port != 22 else ""
    scan = f"ssh-keyscan -t ed25519 {at_port}{shlex.quote(host)} 2>/dev/null | cut -d' ' -f2-"
    return (
        f"{key}: not pinned, so {what}'s SSH server would not be verified; pin it: pulumi config"
        f" set --path '{NAMESPACE}:{key}' \"$({scan})\" (or set"
        " ssh.acceptUnverifiedHostKeys: true to connect to any)"
    )


def _duplicate_nodes(nodes: Any) -> list[str]:
    """Every node name or address used twice, checked on the raw list so no error hides it."""
    if not isinstance(nodes, list):
        return []
    problems = []
    for key, canonical in (("name", str), ("address", _canonical_ip)):
        seen: dict[str, int] = {}
        for index, node in enumerate(nodes):
            value = node.get(key) if isinstance(node, Mapping) else None
            if not isinstance(value, str):
                continue
            if canonical(value) in seen:
                first = seen[canonical(value)]
                problems.append(
                    f"nodes[{index}].{key}: {value!r} is already used by nodes[{first}]"
                )
            else:
                seen[canonical(value)] = index
    return problems


def _extra_config(kubelet: Any, prefix: str = "kubelet") -> list[str]:
    """The problems of `<prefix>.extraConfig`, each on its own line with its key path; a
    node's point at its own key for what it may override (`nodes[1].kubelet.maxPods`)."""
    extra = kubelet.get("extraConfig") if isinstance(kubelet, Mapping) else None
    if not isinstance(extra, Mapping):
        return []  # absent, or not a mapping: the model reports that
    owned = owned_kubelet_fields()
    if prefix != "kubelet":
        overridable = {f"kubelet.{key}" for key in overridable_keys(KubeletSettings)}
        owned = {f: prefix + s[7:] if s in overridable else s for f, s in owned.items()}
    return extra_config_problems(extra, owned, f"{prefix}.extraConfig")


@functools.cache
def owned_kubelet_fields() -> dict[str, str]:
    """Each KubeletConfiguration field a first-class setting fills, to that setting's key
    (`port` -> `kubelet.port`), as the template's own references say."""
    objects = {
        "kubelet": ("kubelet", KubeletSettings),
        "cluster": ("cluster", ClusterSettings),
        "node": ("nodes[]", NodeSettings),
    }
    owned = {}
    for field, sources in KUBELET_CONFIG_SOURCES.items():
        keys = []
        for source in sources:
            name, attribute = source.split(".")
            prefix, model = objects[name]
            keys.append(f"{prefix}.{model.model_fields[attribute].alias or attribute}")
        owned[field] = " and ".join(keys)
    return owned


def _canonical_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value
