"""What `kubelet.extraConfig` may hold: KubeletConfiguration fields this program leaves open.

Whatever it holds is merged into every node's KubeletConfiguration, so one mistake there
breaks every kubelet of the stack at the same moment. Refused, each on its own line naming
the key path: fields the kubelet does not know (it would ignore them), values their Go type
cannot hold or the kubelet refuses at start-up (it would not start; `kubelet_values`), the
security settings, and fields a first-class setting owns (overriding `port` here would leave
verification calling the old port).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.settings.kubelet_fields import default_catalog
from components.settings.kubelet_types import type_errors
from components.settings.kubelet_values import value_problems

PREFIX = "kubelet.extraConfig"

# Fields the CIS benchmark or TLS bootstrapping depend on; extraConfig must not weaken them.
PROTECTED_KUBELET_FIELDS = frozenset(
    {
        "address",
        "authentication",
        "authorization",
        "readOnlyPort",
        "rotateCertificates",
        "serverTLSBootstrap",
        "tlsCipherSuites",
        "tlsMinVersion",
        "makeIPTablesUtilChains",
        "featureGates",
        "healthzBindAddress",
        "healthzPort",
        "staticPodURL",
        "enableServer",
    }
)

# What the document is; the kubelet reads no other kind or version from its config file.
DOCUMENT_IDENTITY = {"kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1"}


def extra_config_problems(
    extra: Mapping[str, Any], owned: Mapping[str, str], prefix: str = PREFIX
) -> list[str]:
    """One `<prefix>.<path>: problem` line per problem, in the document's order.

    `owned` maps each field a first-class setting fills to that setting (`port` ->
    `kubelet.port`); `prefix` is where the mapping is (a node's own is
    `nodes[1].kubelet.extraConfig`).
    """
    catalog = default_catalog()
    problems = []
    for key, value in extra.items():
        refused = _refused(key, owned)
        if refused:
            problems.append(f"{key}: {refused}")
        else:
            problems += [field.message for field in catalog.unknown_fields({key: value})]
            problems += type_errors(catalog, {key: value})
    problems += value_problems({k: v for k, v in extra.items() if not _refused(k, owned)})
    return [f"{prefix}.{problem}" for problem in problems]


def _refused(key: str, owned: Mapping[str, str]) -> str | None:
    """Why this program, not extraConfig, sets `key`; None when extraConfig may."""
    if key in PROTECTED_KUBELET_FIELDS:
        return "is set by kubelet-bootstrap for security; it cannot be overridden"
    if key in DOCUMENT_IDENTITY:
        return f"names the document ({DOCUMENT_IDENTITY[key]}); it cannot be set"
    if key in owned:
        return f"is set from {owned[key]}; use {owned[key]}"
    return None
