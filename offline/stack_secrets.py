"""The `--secret` values of a stack file, opened for `make plan` without reaching any node.

A stack set up as the README's real flow says holds its admin kubeconfig and SSH key
encrypted (docs/plan.md: how `STACK=<stack> make plan` opens and masks them). With the
passphrase secrets provider (an `encryptionsalt:` in the file) they are opened here, as the
Pulumi CLI opens them: AES-256-GCM under a key derived from `PULUMI_CONFIG_PASSPHRASE` (or the
file `PULUMI_CONFIG_PASSPHRASE_FILE` names) with PBKDF2-SHA256, a million rounds, the salt
from the file; the salt's own check value proves the passphrase first. Any other provider
(a cloud KMS, the Pulumi service) is asked through the CLI, `pulumi config --show-secrets`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PBKDF2_ROUNDS = 1_000_000
CHECK_VALUE = "pulumi"
"""What the salt's check value decrypts to under the right passphrase."""


class StackSecretsError(ValueError):
    """The stack's secrets cannot be opened; says how they can be."""


@dataclass
class Opened:
    """The config with every `secure:` value replaced by its plaintext, and those plaintexts
    (to mask them in what the plan prints)."""

    config: dict[str, Any]
    secrets: set[str] = field(default_factory=set)
    secret_keys: list[str] = field(default_factory=list)
    """The keys set with `--secret` (an object's, when one of its values is), as the CLI
    names them to the program."""


def has_secure_value(value: Any) -> bool:
    if isinstance(value, Mapping):
        return "secure" in value or any(has_secure_value(v) for v in value.values())
    if isinstance(value, list):
        return any(has_secure_value(v) for v in value)
    return False


def open_secrets(
    stack: str, document: Mapping[str, Any], project_root: Path, environ: Mapping[str, str]
) -> Opened:
    """The stack file's config (`document`, as read) with its secrets opened."""
    config = dict(document.get("config") or {})
    if not has_secure_value(config):
        return Opened(config)
    opened = _opened(stack, config, document, project_root, environ)
    opened.secret_keys = [key for key, value in config.items() if has_secure_value(value)]
    return opened


def _opened(
    stack: str,
    config: dict[str, Any],
    document: Mapping[str, Any],
    project_root: Path,
    environ: Mapping[str, str],
) -> Opened:
    salt = document.get("encryptionsalt")
    if isinstance(salt, str) and _passphrase(environ) is not None:
        key = passphrase_key(_passphrase(environ) or "", salt, stack)
        opened = Opened({})
        opened.config = _replace_secure(config, lambda text, _: _decrypt(key, text, stack), opened)
        return opened
    if shutil.which("pulumi", path=environ.get("PATH")):
        return _through_cli(stack, config, project_root, environ)
    how = (
        "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the stack's passphrase"
        if isinstance(salt, str)
        else "install the Pulumi CLI (its secrets provider is not a passphrase)"
    )
    encrypted = ", ".join(key for key, value in config.items() if has_secure_value(value))
    raise StackSecretsError(
        f"{encrypted}: set with --secret in stack {stack!r}; to plan the stack as configured, "
        f"{how}, or plan with plaintext test values"
    )


def passphrase_key(passphrase: str, salt_state: str, stack: str) -> bytes:
    """The stack's key, once the salt's check value proves the passphrase right."""
    version, salt, check = [*salt_state.split(":", 2), "", ""][:3]
    if version != "v1" or not check:
        raise StackSecretsError(f"stack {stack!r}: its encryptionsalt is not one Pulumi writes")
    key = hashlib.pbkdf2_hmac(
        "sha256", passphrase.encode(), base64.b64decode(salt), PBKDF2_ROUNDS, 32
    )
    try:
        right = _decrypt(key, check, stack) == CHECK_VALUE
    except StackSecretsError:
        right = False
    if not right:
        raise StackSecretsError(
            f"the passphrase in PULUMI_CONFIG_PASSPHRASE(_FILE) does not open stack {stack!r}"
        )
    return key


def _passphrase(environ: Mapping[str, str]) -> str | None:
    if "PULUMI_CONFIG_PASSPHRASE" in environ:
        return environ["PULUMI_CONFIG_PASSPHRASE"]
    path = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if not path:
        return None
    try:
        return Path(os.path.expanduser(path)).read_text()
    except OSError as error:
        raise StackSecretsError(f"PULUMI_CONFIG_PASSPHRASE_FILE: {error}") from None


def _decrypt(key: bytes, text: str, stack: str) -> str:
    """One `v1:<nonce>:<ciphertext>` value (AES-256-GCM, the tag after the ciphertext)."""
    parts = text.split(":")
    if len(parts) != 3 or parts[0] != "v1":
        raise StackSecretsError(f"stack {stack!r} holds a secure value Pulumi did not write")
    try:
        nonce, sealed = base64.b64decode(parts[1]), base64.b64decode(parts[2])
        return AESGCM(key).decrypt(nonce, sealed, None).decode()
    except (ValueError, InvalidTag):
        raise StackSecretsError(
            f"a secure value of stack {stack!r} does not open with its passphrase: was it "
            "copied from another stack?"
        ) from None


def _replace_secure(value: Any, open_: Any, opened: Opened, path: tuple[Any, ...] = ()) -> Any:
    """`value` with each `{secure: ...}` replaced by `open_(ciphertext, path)`."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            plaintext = open_(value["secure"], path)
            opened.secrets.add(plaintext)
            return plaintext
        return {k: _replace_secure(v, open_, opened, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v, open_, opened, (*path, i)) for i, v in enumerate(value)]
    return value


def _through_cli(
    stack: str, config: dict[str, Any], project_root: Path, environ: Mapping[str, str]
) -> Opened:
    """`pulumi config --show-secrets --json`: every key, its value opened by the stack's own
    secrets provider (an object's value as `objectValue`)."""
    command = ["pulumi", "config", "--show-secrets", "--json", "--stack", stack]
    command += ["--cwd", str(project_root), "--non-interactive"]
    result = subprocess.run(
        command, capture_output=True, text=True, env=dict(environ), timeout=300, check=False
    )
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()
        raise StackSecretsError(
            f"`pulumi config --show-secrets` for stack {stack!r} failed: "
            f"{said[-1] if said else f'exit {result.returncode}'}"
        )
    shown = json.loads(result.stdout)

    def shown_at(_: str, path: tuple[Any, ...]) -> str:
        entry = shown.get(path[0], {})
        value = entry.get("objectValue", entry.get("value"))
        for step in path[1:]:
            value = value[step]
        return str(value)

    opened = Opened({})
    opened.config = _replace_secure(config, shown_at, opened)
    return opened
