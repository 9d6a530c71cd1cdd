"""`kubelet.download`: where each node fetches its kubelet binary, and the sha256 it must have.

The sha256 is the integrity check: each node verifies the fetched file against it before the
file is run or put in place, so a plain http mirror is as safe as https (https only adds
privacy). A URL with credentials is refused: the URL is no secret, it is stored in the state
in plaintext and is part of the install command, which pulumi-command prints on failure.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel

from components.settings.checks import fail

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_EXAMPLE_URL = "https://dl.k8s.io/v1.34.4/bin/linux/amd64/kubelet"


def _download_url(value: str) -> str:
    if any(character.isspace() or not character.isprintable() for character in value):
        raise fail(f"{value!r} holds whitespace or control characters; encode them (%20)")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise fail(f"{value!r} is not an https or http URL (like {_EXAMPLE_URL})")
    if parts.username is not None or parts.password is not None:
        raise fail(
            "holds credentials (user:password@), which would be stored and printed in "
            "plaintext; serve the binary without them (the value is not shown)"
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise fail(f"{value!r} has an invalid port") from None
    return value


def _sha256(value: str) -> str:
    if not _SHA256.match(value):
        raise fail(f"{value!r} is not a sha256 (64 hexadecimal characters, as sha256sum prints)")
    return value.lower()


DownloadUrl = Annotated[str, AfterValidator(_download_url)]
Sha256 = Annotated[str, AfterValidator(_sha256)]


class DownloadFields(BaseModel):
    """The keys of `kubelet.download`; `settings.KubeletDownload` adds the strict base that
    every settings object shares (camelCase keys, unknown keys refused)."""

    url: DownloadUrl
    """Where every node fetches the binary from (curl, or wget where curl is absent)."""
    sha256: Sha256
    """The binary's sha256, lowercase: checked before use; a new one restarts the kubelets."""
