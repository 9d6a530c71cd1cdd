"""What a node's `labels` and `taints` may hold, and which labels its kubelet may register.

The API server refuses a label or taint that breaks its syntax; the kubelet refuses to start
with `--node-labels` in the `kubernetes.io`/`k8s.io` namespaces other than its own few
(k8s.io/kubelet `IsKubeletLabel`, cmd/kubelet `ValidateKubeletFlags`), and NodeRestriction
refuses them when it creates its Node. Checked here, so neither fails on a node.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel

from components.settings.checks import fail

# k8s.io/apimachinery validation: IsQualifiedName, IsValidLabelValue, IsDNS1123Subdomain.
_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_HINT = "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"

# What a kubelet may register itself (k8s.io/kubelet/pkg/apis/well_known_labels.go, 1.34).
_KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    }
)
_KUBELET_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")

# Facts of the machine the kubelet labels itself with, and refreshes on every start.
_SET_BY_KUBELET = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    }
)

# Namespaces only an admin may set on a Node: the stack applies them through the API server.
ADMIN_NAMESPACES = ("node-role.kubernetes.io", "node-restriction.kubernetes.io")

# Taints Kubernetes' node controllers add and remove themselves.
_CONTROLLER_TAINT_NAMESPACES = ("node.kubernetes.io", "node.cloudprovider.kubernetes.io")


def _namespace(key: str) -> str:
    prefix, slash, _ = key.partition("/")
    return prefix if slash else ""


def _in(namespace: str, namespaces: tuple[str, ...]) -> bool:
    return any(namespace == n or namespace.endswith("." + n) for n in namespaces)


def _kubernetes_namespace(key: str) -> bool:
    return _in(_namespace(key), ("kubernetes.io", "k8s.io"))


def _qualified_name(key: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix)):
        raise fail("is not a qualified name: the prefix before '/' must be a DNS-1123 subdomain")
    if len(name) > 63 or not _NAME.match(name):
        raise fail(f"is not a qualified name: the name must be at most 63 characters: {_NAME_HINT}")
    return key


def _label_key(key: str) -> str:
    _qualified_name(key)
    if key in _SET_BY_KUBELET:
        raise fail("is set by the kubelet itself, from the machine")
    if _kubernetes_namespace(key) and not (
        is_kubelet_label(key) or _in(_namespace(key), ADMIN_NAMESPACES)
    ):
        listed = _KUBELET_LABELS - _SET_BY_KUBELET
        allowed = [f"{n}/*" for n in _KUBELET_NAMESPACES] + sorted(
            k for k in listed if not _in(_namespace(k), _KUBELET_NAMESPACES)
        )
        raise fail(
            "is in the kubernetes.io and k8s.io namespaces, where a kubelet may register only"
            f" {', '.join(allowed)} (and the stack applies"
            f" {' and '.join(f'{n}/*' for n in ADMIN_NAMESPACES)} itself, as admin)"
        )
    return key


def _label_value(value: str) -> str:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise fail(f"{value!r} is not a label value: empty, or at most 63 characters: {_NAME_HINT}")
    return value


def _as_text(value: Any) -> Any:
    """`gpu: true` or `rack: 12` in YAML, or from `pulumi config set --path`, which types both:
    the label the operator meant."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int) else value


def _taint_key(key: str) -> str:
    _qualified_name(key)
    if _in(_namespace(key), _CONTROLLER_TAINT_NAMESPACES):
        raise fail("is a taint that Kubernetes' node controllers add and remove themselves")
    return key


LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, BeforeValidator(_as_text), AfterValidator(_label_value)]
TaintKey = Annotated[str, AfterValidator(_taint_key)]


class Taint(BaseModel):
    """A taint the kubelet registers its Node with (`registerWithTaints`)."""

    model_config = ConfigDict(alias_generator=to_camel, frozen=True, extra="forbid")

    key: TaintKey
    value: LabelValue = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    def as_api(self) -> dict[str, str]:
        """As the API (and the KubeletConfiguration) writes it: no empty value."""
        taint = {"key": self.key, "value": self.value, "effect": self.effect}
        return {k: v for k, v in taint.items() if v}


def unique_taints(taints: list[Taint]) -> list[Taint]:
    """The API server refuses two taints with the same key and effect."""
    seen = set()
    for taint in taints:
        if (taint.key, taint.effect) in seen:
            raise fail(f"{taint.key!r} with effect {taint.effect} is given twice")
        seen.add((taint.key, taint.effect))
    return taints


def is_kubelet_label(key: str) -> bool:
    """Whether the kubelet may set `key` itself: outside kubernetes.io/k8s.io, or allowed."""
    if not _kubernetes_namespace(key):
        return True
    return key in _KUBELET_LABELS or _in(_namespace(key), _KUBELET_NAMESPACES)


def kubelet_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels the kubelet registers its Node with (`--node-labels`), sorted; the others
    (node-role.kubernetes.io/...) only the stack applies, as admin."""
    return {key: labels[key] for key in sorted(labels) if is_kubelet_label(key)}
