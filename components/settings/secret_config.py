"""A value set with `--secret` stays secret wherever the program puts it.

The program reads its configuration as one raw mapping (`stack_config`), so Pulumi's marking
of a secret key is lost on the way: the admin kubeconfig and the SSH key are marked again by
the code that uses them, but any other key an operator sets with `--secret` (a download URL
with a token in it) would land in command scripts and the state in plain text. The engine
names the secret keys (top-level: a key set with `--secret --path` makes its whole object
secret); every string of those objects is then looked for in every resource's inputs, and an
input that holds one is registered as a secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pulumi

from components.settings.model import NAMESPACE

HANDLED = frozenset({"kubeconfig", "ssh"})
"""Keys whose secret values the program marks where it uses them."""
SHORTEST = 6
"""Shorter strings (`true`, `22`, `root`) are not looked for: they are no secrets, and would
mark most scripts."""


def secret_strings(raw: Mapping[str, Any], secret_keys: Iterable[str]) -> set[str]:
    """Every string of the settings set with `--secret`, except those the program handles."""
    prefix = f"{NAMESPACE}:"
    keys = {key[len(prefix) :] for key in secret_keys if key.startswith(prefix)}
    return {
        text
        for key in keys - HANDLED
        if key in raw
        for text in _strings(raw[key])
        if len(text) >= SHORTEST
    }


def _strings(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [str(value)] if value is not None and not isinstance(value, bool) else []


def keep_secret(secrets: set[str]) -> pulumi.ResourceTransformation:
    """A transformation marking as secret each input of a resource that holds one of
    `secrets`, known now or once its Output resolves."""

    def mark(value: Any) -> Any:
        if isinstance(value, str):
            return pulumi.Output.secret(value) if _holds(value, secrets) else value
        if isinstance(value, pulumi.Output):
            return value.apply(
                lambda known: pulumi.Output.secret(known) if _holds(known, secrets) else known
            )
        if isinstance(value, Mapping):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    def transformation(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult:
        return pulumi.ResourceTransformationResult(props=mark(args.props), opts=args.opts)

    return transformation


def _holds(value: Any, secrets: set[str]) -> bool:
    text = value if isinstance(value, str) else repr(value)
    return any(secret in text for secret in secrets)
