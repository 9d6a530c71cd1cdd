"""Check KubeletConfiguration values against the Go types of the field list.

The kubelet decodes its config file by Go type and refuses to start on a value its field
cannot hold: one `maxOpenFiles: "a million"` in `kubelet.extraConfig` and every kubelet of
the stack fails at the same moment. The field list (`data/kubelet-config-v1beta1-fields.json`)
gives each field's Go type; this module says, before any node is touched, which values would
not decode into theirs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from components.settings.durations import is_go_duration
from components.settings.kubelet_fields import FieldCatalog, map_value_type

# Go types the field list names but does not define: string types of the kubelet's package,
# structs of other packages (checked to be mappings, not field by field), and one alias.
_STRING_TYPES = frozenset(
    {
        "string",
        "KubeletAuthorizationMode",
        "ResourceChangeDetectionStrategy",
        "ImagePullCredentialsVerificationPolicy",
    }
)
_FOREIGN_STRUCTS = frozenset({"tracingapi.TracingConfiguration", "v1.Taint"})
_ALIASES = {
    "v1.ResourceList": "map[string]resource.Quantity",
    "resource.QuantityValue": "resource.Quantity",
    "VerbosityLevel": "uint32",
}

# resource.ParseQuantity: a signed decimal, then a binary-SI, decimal-SI or exponent suffix.
QUANTITY = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][-+]?\d+)?")


def _is_int(bits: int) -> Callable[[Any], bool]:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return lambda value: type(value) is int and low <= value <= high


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_quantity(value: Any) -> bool:
    """A quantity is a string or, in JSON, a bare number (`2` CPUs)."""
    if _is_number(value):
        return True
    return isinstance(value, str) and QUANTITY.fullmatch(value) is not None


# Scalar Go type -> (does a decoded YAML value fit, what it is called, in the singular and plural).
_SCALARS: dict[str, tuple[Callable[[Any], bool], str, str]] = {
    "bool": (lambda value: isinstance(value, bool), "true or false", "booleans"),
    "int32": (_is_int(32), "an integer from -2147483648 to 2147483647", "integers"),
    "int64": (_is_int(64), "an integer", "integers"),
    "uint32": (
        lambda value: type(value) is int and 0 <= value < 2**32,
        "an integer from 0 to 4294967295",
        "integers",
    ),
    # A duration string, or nanoseconds as an integer (component-base's flushFrequency).
    "TimeOrMetaDuration": (
        lambda value: is_go_duration(value) or _is_int(64)(value),
        "a duration like 5s, or nanoseconds",
        "durations",
    ),
    "float64": (_is_number, "a number", "numbers"),
    "metav1.Duration": (is_go_duration, "a duration like 5m0s, 1h or 30s", "durations"),
    "resource.Quantity": (_is_quantity, "a resource quantity like 100Mi, 1.5Gi or 2", "quantities"),
    **{name: (_is_string, "a string", "strings") for name in _STRING_TYPES},
}


def type_errors(
    catalog: FieldCatalog, document: Mapping[str, Any], root: str = "KubeletConfiguration"
) -> list[str]:
    """One `path: problem` line for each value of `document` that its Go type cannot hold.

    Keys that are not fields are skipped: `FieldCatalog.unknown_fields` reports those.
    """
    found: list[str] = []
    _Checker(catalog, found).struct(document, root, "")
    return found


class _Checker:
    def __init__(self, catalog: FieldCatalog, found: list[str]) -> None:
        self.catalog = catalog
        self.found = found

    def struct(self, value: Mapping[str, Any], struct: str, prefix: str) -> None:
        fields = self.catalog.structs[struct]
        for key, item in value.items():
            if key in fields:
                self.value(item, fields[key], _join(prefix, key))

    def value(self, value: Any, go_type: str, path: str, map_key: str | None = None) -> None:
        go_type = _resolve(go_type)
        kind = self._kind(go_type)
        if value is None:
            self._wrong(path, value, go_type, "; leave the key out for the kubelet's default")
        elif kind == "list":
            if not isinstance(value, list):
                self._wrong(path, value, go_type)
                return
            for index, item in enumerate(value):
                self.value(item, go_type[2:], f"{path}[{index}]")
        elif kind == "map":
            if not isinstance(value, Mapping):
                self._wrong(path, value, go_type)
                return
            for key, item in value.items():
                if isinstance(key, str):
                    self.value(item, map_value_type(go_type), _join(path, key), map_key=key)
                else:
                    self.found.append(f"{path}: key {key!r} is not a string ({go_type})")
        elif kind in ("struct", "foreign struct"):
            if not isinstance(value, Mapping):
                self._wrong(path, value, go_type)
            elif kind == "struct":
                self.struct(value, go_type, path)
        elif not _SCALARS[go_type][0](value):
            self._wrong(path, value, go_type, _scalar_hint(value, go_type, path, map_key))

    def _kind(self, go_type: str) -> str:
        if go_type.startswith("[]"):
            return "list"
        if go_type.startswith("map["):
            return "map"
        if go_type in self.catalog.structs:
            return "struct"
        if go_type in _FOREIGN_STRUCTS:
            return "foreign struct"
        if go_type in _SCALARS:
            return "scalar"
        raise ValueError(f"Go type {go_type!r} of the field list is not one kubelet_types checks")

    def _wrong(self, path: str, value: Any, go_type: str, hint: str = "") -> None:
        self.found.append(f"{path}: {_shown(value)} is not {self._describe(go_type)}{hint}")

    def _describe(self, go_type: str) -> str:
        noun = self._noun(go_type, plural=False)
        return noun if go_type == "string" else f"{noun} ({go_type})"

    def _noun(self, go_type: str, *, plural: bool) -> str:
        go_type = _resolve(go_type)
        kind = self._kind(go_type)
        if kind == "list":
            return f"{'lists' if plural else 'a list'} of {self._noun(go_type[2:], plural=True)}"
        if kind == "map":
            element = self._noun(map_value_type(go_type), plural=True)
            return f"{'mappings' if plural else 'a mapping'} of {element}"
        if kind in ("struct", "foreign struct"):
            return "mappings" if plural else "a mapping"
        _, singular, plural_noun = _SCALARS[go_type]
        return plural_noun if plural else singular


def _resolve(go_type: str) -> str:
    """A pointer decodes like what it points to; an alias like what it stands for."""
    go_type = go_type.lstrip("*")
    return _ALIASES.get(go_type, go_type)


def _scalar_hint(value: Any, go_type: str, path: str, map_key: str | None) -> str:
    if isinstance(value, Mapping) and map_key is not None:
        dotted = _dotted(map_key, value)
        parent = path[: -len(map_key) - 1]
        return (
            "; `pulumi config set --path` makes nested maps of a dotted key: quote it, as in"
            f' {parent}["{dotted}"]'
        )
    if go_type in _STRING_TYPES and type(value) in (int, float, bool):
        return f"; quote it: '{_plain(value)}'"
    return ""


def _dotted(key: str, value: Any) -> str:
    """`memory` + {available: 1Gi} -> `memory.available`: the key `--path` split at its dots."""
    while isinstance(value, Mapping) and value:
        sub_key, value = next(iter(value.items()))
        key = f"{key}.{sub_key}"
    return key


def _shown(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None or isinstance(value, bool):
        return _plain(value)
    return repr(value)


def _plain(value: Any) -> str:
    """A scalar as YAML writes it: `true`, `null`, `5`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else str(key)
