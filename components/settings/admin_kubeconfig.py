"""The admin kubeconfig as the stack configures it: a path or the content, or `$KUBECONFIG`.

Read by the program, which checks it against the stack's cluster, and by the dynamic providers
each time they are configured (`admin_provider`), so both see the credential configured now.
Messages never quote the value: it holds the credential.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

CONFIG_KEY = "kubelet-bootstrap:kubeconfig"


def read_kubeconfig(value: Any) -> str:
    """The admin kubeconfig given as a path or as content; returns the content."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a path or the kubeconfig content")
    if "\n" not in value.strip():
        path = Path(os.path.expanduser(value))
        try:
            value = path.read_text()
        except OSError:
            raise ValueError(
                "is neither a readable kubeconfig file nor kubeconfig content "
                "(the value is not shown: it may be a secret)"
            ) from None
    try:
        document = yaml.safe_load(value)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not YAML"
        raise ValueError(f"is not YAML{where}: {problem} (the content is not shown)") from None
    if not isinstance(document, dict) or not document.get("clusters"):
        raise ValueError("is not a kubeconfig with clusters (the content is not shown)")
    return value


def configured_kubeconfig(config: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The content of the admin kubeconfig in the stack's configuration (namespaced keys, as
    the engine hands them to a dynamic provider), else of `$KUBECONFIG`; a ValueError naming
    the key when neither gives one."""
    value = config.get(CONFIG_KEY)
    where = CONFIG_KEY
    if value is None and environ.get("KUBECONFIG"):
        value, where = environ["KUBECONFIG"], "$KUBECONFIG"
    if value is None:
        raise ValueError(
            f"{CONFIG_KEY} is not set, nor $KUBECONFIG: the admin credential is read from the "
            "stack's configuration when it is used; set it with "
            "`pulumi config set --secret kubeconfig < admin.kubeconfig`"
        )
    try:
        return read_kubeconfig(value)
    except ValueError as error:
        raise ValueError(f"{where} {error}") from None


def kubeconfig_path(value: Any, environ: Mapping[str, str]) -> str | None:
    """The absolute path of the admin kubeconfig when the stack names a file (or leaves it to
    `$KUBECONFIG`), else None (the stack holds the content). A provider given the path reads
    the file each time it is configured, so the state records no credential and a rotated
    file is what every later command uses."""
    if value is None:
        value = environ.get("KUBECONFIG")
    if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
        return None
    return os.path.abspath(os.path.expanduser(value.strip()))
