"""The stack's configuration under the `kubelet-bootstrap` namespace, as one raw mapping.

Pulumi hands a program its configuration as JSON in the environment (`PULUMI_CONFIG`), which
is also how the offline engine runs it. Reading every key of the namespace, not only the known
ones, lets a misspelt top-level key be refused instead of silently ignored.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

import pulumi

from components.settings.model import NAMESPACE


def read_stack_config() -> dict[str, Any]:
    """Every `kubelet-bootstrap:*` key, objects and lists parsed from their JSON."""
    prefix = f"{NAMESPACE}:"
    raw: dict[str, Any] = {}
    for full_key, value in pulumi.runtime.get_config_env().items():
        if full_key.startswith(prefix):
            raw[full_key[len(prefix) :]] = _parse(value)
    return raw


def _parse(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def misplaced_keys(config: Mapping[str, Any] | None = None) -> list[str]:
    """A problem for each key whose namespace is a near miss of ours (`kubelet_bootstrap:`,
    `kubelet-boostrap:`): Pulumi would hand it to no one, and the program would run without
    it. Other namespaces (`kubernetes:`, `pulumi:`) belong to others and are left alone."""
    config = pulumi.runtime.get_config_env() if config is None else config
    problems = []
    for full_key in config:
        namespace, _, key = full_key.partition(":")
        if namespace == NAMESPACE or not key:
            continue
        similar = difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.85
        if similar or namespace.lower().replace("_", "-") == NAMESPACE:
            problems.append(
                f"{full_key}: not read, its namespace is not {NAMESPACE}; did you mean "
                f"{NAMESPACE}:{key}?"
            )
    return problems
