"""Catch misspelt KubeletConfiguration keys before they reach a node.

The kubelet decodes its config file leniently: an unknown key such as ``maxpods`` is
dropped without a word and the default silently wins. This module checks a document's
keys (not its values) against the field names of one Kubernetes release, recorded in
``data/kubelet-config-v1beta1-fields.json``, so a typo fails at preview time instead.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUNDLED_FIELDS = Path(__file__).with_name("data") / "kubelet-config-v1beta1-fields.json"
LOGGING_FIELDS = Path(__file__).with_name("data") / "logging-config-v1-fields.json"
"""The structs of `logging` (component-base's LoggingConfiguration), which the kubelet's own
field list names but does not define."""

# Similarity (difflib ratio, on lower-cased names) a known field needs to be suggested:
# low enough that one wrong letter in a four-letter name (``mide``) finds ``mode``,
# high enough that unrelated names such as ``zzzzqqq`` get no suggestion at all.
_SUGGESTION_CUTOFF = 0.75


@dataclass(frozen=True)
class UnknownField:
    """A key the kubelet would silently ignore, with where it sits in the document."""

    path: str
    key: str
    suggestion: str | None
    root: str = "KubeletConfiguration"

    @property
    def message(self) -> str:
        """One line naming the key's location, for error messages shown to the user."""
        text = f"{self.path}: unknown {self.root} field"
        if self.suggestion is None:
            return text
        return f"{text}; did you mean {self.suggestion!r}?"


@dataclass(frozen=True)
class FieldCatalog:
    """The KubeletConfiguration schema (field names per struct) of one Kubernetes release."""

    source: str
    structs: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, path: Path | None = None, *more: Path) -> FieldCatalog:
        """Read a catalog file, with the structs of `more` files; by default the copy bundled
        with this module."""
        data = json.loads((path or BUNDLED_FIELDS).read_text(encoding="utf-8"))
        structs = dict(data["structs"])
        for extra in more:
            structs.update(json.loads(extra.read_text(encoding="utf-8"))["structs"])
        return cls(source=data["source"], structs=structs)

    def unknown_fields(
        self, document: Mapping[str, Any], root: str = "KubeletConfiguration"
    ) -> list[UnknownField]:
        """Every key of ``document`` not a field of ``root`` or of its nested structs.

        Values are not type-checked: a scalar where a struct belongs is skipped here and
        left to whoever validates values.
        """
        if root not in self.structs:
            raise ValueError(f"{root!r} is not a struct of this catalog")
        found: list[UnknownField] = []
        self._check_struct(document, root, "", root, found)
        return found

    def _check_struct(
        self,
        value: Mapping[str, Any],
        struct: str,
        prefix: str,
        root: str,
        found: list[UnknownField],
    ) -> None:
        fields = self.structs[struct]
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            go_type = fields.get(key)
            if go_type is None:
                found.append(UnknownField(path, str(key), _suggest(key, fields), root))
            else:
                self._check_value(item, go_type, path, root, found)

    def _check_value(
        self,
        value: Any,
        go_type: str,
        path: str,
        root: str,
        found: list[UnknownField],
    ) -> None:
        """Descend into ``value`` wherever its Go type leads to a catalog struct."""
        go_type = go_type.lstrip("*")
        if go_type.startswith("[]"):
            if isinstance(value, list | tuple):
                for index, item in enumerate(value):
                    self._check_value(item, go_type[2:], f"{path}[{index}]", root, found)
        elif go_type.startswith("map["):
            if isinstance(value, Mapping):
                element_type = map_value_type(go_type)
                for key, item in value.items():
                    self._check_value(item, element_type, f"{path}.{key}", root, found)
        elif go_type in self.structs and isinstance(value, Mapping):
            self._check_struct(value, go_type, path, root, found)


@functools.cache
def default_catalog() -> FieldCatalog:
    """The bundled catalog with its logging structs, read on first use rather than at import."""
    return FieldCatalog.load(BUNDLED_FIELDS, LOGGING_FIELDS)


def map_value_type(go_type: str) -> str:
    """``map[K]V`` -> ``V``, finding the bracket that closes K even if K nests."""
    depth = 0
    for index in range(len("map"), len(go_type)):
        if go_type[index] == "[":
            depth += 1
        elif go_type[index] == "]":
            depth -= 1
            if depth == 0:
                return go_type[index + 1 :]
    raise ValueError(f"malformed Go map type {go_type!r}")


def _suggest(key: object, fields: Mapping[str, str]) -> str | None:
    """The closest known field, ignoring case so ``maxpods`` finds ``maxPods``."""
    by_lower = {name.lower(): name for name in fields}
    matches = difflib.get_close_matches(str(key).lower(), by_lower, n=1, cutoff=_SUGGESTION_CUTOFF)
    return by_lower[matches[0]] if matches else None
