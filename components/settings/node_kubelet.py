"""`nodes[].kubelet`: the kubelet settings one node overrides, merged over the global ones.

The per-node model is made from `KubeletSettings` itself, so a key is checked with the same
type and bounds wherever it is given (`nodes[2].kubelet.maxPods` as `kubelet.maxPods`). Only
values of the node's own kubelet may differ; what the fleet shares is refused with the reason:
the files' paths and the unit (the scripts, the claims on each node and the stack outputs
name them once) and the port (approval and verification call every kubelet on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, create_model

from components.settings.checks import fail

FLEET_WIDE = (
    "binary",
    "root_dir",
    "cert_dir",
    "ca_file",
    "bootstrap_kubeconfig",
    "kubeconfig",
    "config_file",
    "unit_file",
    "port",
)


def _fleet_wide(key: str) -> Any:
    def refuse(_value: Any) -> Any:
        raise fail(
            f"is the same on every node (the scripts, approval and verification rely on it);"
            f" set kubelet.{key}"
        )

    return refuse


def node_kubelet_model(kubelet: type[BaseModel], base: type[BaseModel]) -> type[BaseModel]:
    """A model of `kubelet`'s keys, each optional with its own checks, the fleet-wide ones
    refused; `base` gives the config (camelCase, unknown keys refused)."""
    fields: dict[str, Any] = {}
    for name, field in kubelet.model_fields.items():
        alias = field.alias or name
        if name in FLEET_WIDE:
            checked: Any = Annotated[Any, AfterValidator(_fleet_wide(alias))]
        elif field.metadata:
            checked = Annotated[(field.annotation, *field.metadata)]  # type: ignore[valid-type]
        else:
            checked = field.annotation
        fields[name] = (checked | None, Field(None, alias=alias))
    return create_model(f"Node{kubelet.__name__}", __base__=base, **fields)


def overridable_keys(kubelet: type[BaseModel]) -> frozenset[str]:
    """The keys of `kubelet` a node may set for itself."""
    return frozenset(
        field.alias or name
        for name, field in kubelet.model_fields.items()
        if name not in FLEET_WIDE
    )


def merged(kubelet: BaseModel, overrides: BaseModel | None) -> Any:
    """The node's effective kubelet settings: `overrides` set over `kubelet`, extraConfig
    merged key by key (a mapping into a mapping, anything else replaced)."""
    if overrides is None:
        return kubelet
    # Attributes, not model_dump(): a nested setting (kubelet.download) stays a model.
    changes = {
        name: value
        for name in overrides.model_fields_set
        if (value := getattr(overrides, name)) is not None
    }
    if "extra_config" in changes:
        changes["extra_config"] = merge_mappings(kubelet.extra_config, changes["extra_config"])  # type: ignore[attr-defined]
    return kubelet.model_copy(update=changes) if changes else kubelet


def merge_mappings(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merge_mappings(result[key], value)
        else:
            result[key] = value
    return result
