"""A running node's kubelet as settings: what its unit and kubelet-config.yaml say.

Adopting a node must change only what the operator chooses. The tutorial's nodes run values
the stack's defaults do not share (`cgroupDriver: cgroupfs`, its root directory, flags such as
`--event-qps=0`), so these are read from the node's own files and carried over: a field a
setting owns becomes that setting, any other field the kubelet knows goes to
`kubelet.extraConfig`, a flag becomes the field it stands for (flags win over the file, as in
the kubelet). What cannot be carried is said, one note each: the security fields the stack
sets, the fields it adds, per-node values, flags the kubelet no longer has.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.node import rendering
from components.settings.extra_config import DOCUMENT_IDENTITY, PROTECTED_KUBELET_FIELDS
from components.settings.kubelet_fields import default_catalog
from components.settings.loading import owned_kubelet_fields
from components.settings.model import ClusterSettings, KubeletSettings

# Flags whose config field is not their name in camelCase.
_FLAG_FIELDS = {
    "event-qps": "eventRecordQPS",
    "event-burst": "eventBurst",
    "registry-qps": "registryPullQPS",
    "pod-max-pids": "podPidsLimit",
    "anonymous-auth": "authentication",
    "client-ca-file": "authentication",
    "authorization-mode": "authorization",
    "tls-min-version": "tlsMinVersion",
}
# Flags for files and paths of the stack's own settings.
_FLAG_SETTINGS = {
    "root-dir": "rootDir",
    "cert-dir": "certDir",
    "kubeconfig": "kubeconfig",
    "bootstrap-kubeconfig": "bootstrapKubeconfig",
    "config": "configFile",
    "v": "verbosity",
}
# Flags that name one node: the stack sets them from `nodes[]`.
_PER_NODE_FLAGS = ("hostname-override", "node-ip", "node-labels", "register-with-taints")
# Flags the tutorial's 2018 unit has that the kubelet 1.31 to 1.35 no longer accepts.
_REMOVED_FLAGS = (
    "allow-privileged",
    "pod-infra-container-image",
    "image-pull-progress-deadline",
    "logtostderr",
    "network-plugin",
    "cni-conf-dir",
    "cni-bin-dir",
    "container-runtime",
    "experimental-bootstrap-kubeconfig",
    "cadvisor-port",
)


class RunningKubeletError(Exception):
    """The node's files cannot be read as a kubelet's unit and configuration."""


@dataclass
class Carried:
    """Settings (nested keys, as in the stack file) and what became of each value."""

    kubelet: dict[str, Any] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Unit:
    """A kubelet unit's ExecStart: the binary and its flags, in order."""

    binary: str
    flags: dict[str, str]


def read_unit(text: str) -> Unit:
    """The ExecStart of a kubelet unit (continuation lines joined); `--flag` alone is true."""
    joined = re.sub(r"\\\n", " ", text)
    starts = [line for line in joined.splitlines() if line.strip().startswith("ExecStart=")]
    if len(starts) != 1:
        raise RunningKubeletError(f"the unit has {len(starts)} ExecStart= lines, not one")
    words = shlex.split(starts[0].strip().removeprefix("ExecStart="))
    if not words:
        raise RunningKubeletError("the unit's ExecStart= is empty")
    flags: dict[str, str] = {}
    for word in words[1:]:
        if not word.startswith("--"):
            raise RunningKubeletError(f"ExecStart= has {word!r}, which is not a --flag")
        name, _, value = word[2:].partition("=")
        flags[name] = value if "=" in word else "true"
    return Unit(words[0].lstrip("-@:+!"), flags)


def carried(unit_text: str, config_text: str) -> Carried:
    """What the node's kubelet runs with, as the stack's settings."""
    unit = read_unit(unit_text)
    try:
        document = yaml.safe_load(config_text) or {}
    except yaml.YAMLError as error:
        raise RunningKubeletError(f"the kubelet config is not YAML: {error}") from None
    if not isinstance(document, Mapping):
        raise RunningKubeletError("the kubelet config is not a mapping of fields")
    result = Carried()
    running = dict(document)
    running.update(_flag_fields(unit, result))
    defaults = _stack_defaults()
    owned = owned_kubelet_fields()
    for name, value in running.items():
        if name in DOCUMENT_IDENTITY:
            continue
        if name in owned:
            _carry_owned(name, value, owned[name], result)
        elif name in PROTECTED_KUBELET_FIELDS:
            if defaults.get(name) != value:
                result.notes.append(
                    f"{name}: the stack sets {_shown(defaults.get(name))} for security "
                    f"(the node has {_shown(value)})"
                )
        elif name not in _known_fields():
            result.notes.append(f"{name}: not a KubeletConfiguration field: not carried")
        elif defaults.get(name) != value:
            result.kubelet.setdefault("extraConfig", {})[name] = value
            result.notes.append(f"{name} -> kubelet.extraConfig.{name}")
    for name, value in defaults.items():
        if name not in running and name not in owned and name not in DOCUMENT_IDENTITY:
            result.notes.append(f"{name}: the stack adds {_shown(value)} (the node has none)")
    return result


def _flag_fields(unit: Unit, result: Carried) -> dict[str, Any]:
    """The flags that stand for config fields, as those fields; the others into `result`."""
    fields: dict[str, Any] = {}
    known = {name.lower(): name for name in _known_fields()}
    if unit.binary != KubeletSettings.model_fields["binary"].default:
        result.kubelet["binary"] = unit.binary
        result.notes.append("ExecStart's binary -> kubelet.binary")
    for flag, value in unit.flags.items():
        if flag in _FLAG_SETTINGS:
            key = _FLAG_SETTINGS[flag]
            setting = int(value) if key == "verbosity" else value
            if _default_of("kubelet", key) != setting:
                result.kubelet[key] = setting
                result.notes.append(f"--{flag} -> kubelet.{key}")
        elif flag in _PER_NODE_FLAGS:
            result.notes.append(f"--{flag}: set for each node from nodes[]: not carried")
        elif flag in _REMOVED_FLAGS:
            result.notes.append(f"--{flag}: no longer a kubelet flag: dropped")
        elif name := _FLAG_FIELDS.get(flag) or known.get(flag.replace("-", "")):
            fields[name] = _typed(value, name)
        else:
            result.notes.append(f"--{flag}: not a KubeletConfiguration field: not carried")
    return fields


def _carry_owned(name: str, value: Any, key: str, result: Carried) -> None:
    """A field a setting owns, into that setting (`clusterDNS` -> `cluster.dnsServiceIP`)."""
    if key.startswith("nodes[]"):
        result.notes.append(f"{name}: set for each node from nodes[]: not carried")
        return
    if name == "authentication":
        ca_file = (value.get("x509") or {}).get("clientCAFile") if isinstance(value, dict) else None
        if ca_file and ca_file != _default_of("kubelet", "caFile"):
            result.kubelet["caFile"] = ca_file
            result.notes.append("authentication.x509.clientCAFile -> kubelet.caFile")
        return
    if name == "clusterDNS":
        servers = list(value or [])
        if len(servers) > 1:
            result.notes.append(f"clusterDNS: only the first of {servers} is carried")
        value = servers[0] if servers else None
    section, _, setting = key.partition(".")
    if value is not None and _default_of(section, setting) != value:
        getattr(result, section)[setting] = value
        result.notes.append(f"{name} -> {key}")


def _typed(value: str, name: str) -> Any:
    """A flag's string as its field's type: numbers, booleans, lists and `a<b` maps."""
    go_type = default_catalog().structs["KubeletConfiguration"].get(name, "string").lstrip("*")
    if go_type.startswith(("int", "uint")):
        return int(value)
    if go_type.startswith("float"):
        return float(value)
    if go_type == "bool":
        return value.lower() == "true"
    if go_type == "[]string":
        return [item for item in value.split(",") if item]
    if go_type == "map[string]string":
        pairs = [re.split(r"[<=]", item, maxsplit=1) for item in value.split(",") if item]
        return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}
    return value


def _default_of(section: str, setting: str) -> Any:
    """The stack's default of `kubelet.<setting>` or `cluster.<setting>`."""
    model = KubeletSettings if section == "kubelet" else ClusterSettings
    for name, info in model.model_fields.items():
        if (info.alias or name) == setting:
            return info.get_default(call_default_factory=True)
    return None


def _stack_defaults() -> dict[str, Any]:
    """The config the stack writes with its defaults, for the fields no setting fills."""
    return rendering.kubelet_config_fixed_fields()


def _known_fields() -> Mapping[str, str]:
    return default_catalog().structs["KubeletConfiguration"]


def _shown(value: Any) -> str:
    return json.dumps(value)
