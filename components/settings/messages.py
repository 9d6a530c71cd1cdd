"""How a settings validation error becomes what the operator reads: one line per problem,
naming the key's path (`nodes[2].address`), the value unless it is secret, and for an unknown
key the one it was likely meant to be.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from pydantic import ValidationError

from components.settings.base import StrictSettings
from components.settings.suggestions import suggest

# Keys whose values are secret: their content never appears in an error message.
SECRET_KEYS = frozenset({"privateKey", "kubeconfig"})

# Keys people write for something the settings hold elsewhere, with where.
_KEY_HINTS = {
    "kubelet.version": "kubelet.download (the url and sha256 of the kubelet each node installs;"
    " its version is the binary's)",
    "nodes[].kubelet.version": "nodes[].kubelet.download (the url and sha256 of that node's "
    "kubelet; its version is the binary's)",
}

# Pydantic's words for a value of the wrong kind, in ours; `{value}` is the value given.
_KIND_MESSAGES = {
    "dict_type": "{value} is not a mapping of keys",
    "model_type": "{value} is not a mapping of keys",
    "model_attributes_type": "{value} is not a mapping of keys",
    "list_type": "{value} is not a list",
    "int_parsing": "{value} is not an integer",
    "int_type": "{value} is not an integer",
    "int_from_float": "{value} is not a whole number",
    "bool_parsing": "{value} is not true or false",
    "bool_type": "{value} is not true or false",
    "string_type": "{value} is not a string",
    "greater_than_equal": "{value} is less than {ge}, the least it may be",
    "less_than_equal": "{value} is more than {le}, the most it may be",
    "greater_than": "{value} must be more than {gt}",
    "literal_error": "{value} is not {expected}",
}

_MISSING_HINTS = {
    "kubeconfig": " (or $KUBECONFIG): the admin kubeconfig the Kubernetes provider and CSR "
    "approval use",
}


def describe(error: ValidationError, model: type[StrictSettings]) -> list[str]:
    """One line per problem of `error`, raised validating `model`: the key's path first."""
    problems = []
    for item in error.errors(include_url=False):
        path = _path(item["loc"])
        if item["type"] == "extra_forbidden":
            here = re.sub(r"\[\d+\]", "[]", _path(item["loc"][:-1]))  # nodes[2] -> nodes[]
            suggestion = suggest(str(item["loc"][-1]), here, key_paths(model))
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            elsewhere = _KEY_HINTS.get(_join(here, str(item["loc"][-1])))
            if not suggestion and elsewhere:
                hint = f"; use {elsewhere}"
            problems.append(f"{path}: unknown key{hint}")
        elif item["type"] == "invalid":
            problems.append(f"{path}: {item['msg']}" if path else item["msg"])
        elif item["type"] == "missing":
            problems.append(f"{path}: is required{_MISSING_HINTS.get(path, '')}")
        else:
            problems.append(f"{path}: {_with_value(item)}")
    return problems


@functools.cache
def key_paths(model: type[StrictSettings], prefix: str = "") -> tuple[str, ...]:
    """Every settings key as a path: `ssh.port`, `nodes[].name`."""
    paths: list[str] = []
    for name, field in model.model_fields.items():
        path = _join(prefix, field.alias or name)
        paths.append(path)
        nested = _model_in(field.annotation)
        if nested is not None:
            is_list = get_origin(field.annotation) is list
            paths += key_paths(nested, f"{path}[]" if is_list else path)
    return tuple(paths)


def _model_in(annotation: Any) -> type[StrictSettings] | None:
    """The settings object a field holds, alone or in a list or an Optional."""
    if isinstance(annotation, type) and issubclass(annotation, StrictSettings):
        return annotation
    for argument in get_args(annotation):
        if found := _model_in(argument):
            return found
    return None


def _with_value(item: Mapping[str, Any]) -> str:
    last = item["loc"][-1] if item["loc"] else ""
    secret = last in SECRET_KEYS
    value = "the value" if secret else _shown(item["input"])
    template = _KIND_MESSAGES.get(item["type"])
    if template is not None:
        return template.format(value=value, **(item.get("ctx") or {}))
    if secret or isinstance(item["input"], (dict, list)):
        return item["msg"]
    return f"{item['msg']} (got {item['input']!r})"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if part == "[key]":  # a mapping's key was refused: the path already ends in it
            continue
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
