"""Locating the real tools the artifact tests run, failing loudly when one is missing.

A missing tool is a broken test environment, not a reason to skip: the test fails and names
the Debian package that provides the tool, so the fix is one `apt-get install` away.
"""

from __future__ import annotations

import shutil

import pytest

# Tool -> the Debian package that ships it.
DEBIAN_PACKAGES = {
    "shellcheck": "shellcheck",
    "systemd-analyze": "systemd",
    "sh": "dash",
    "findmnt": "util-linux",
    "sha256sum": "coreutils",
}


def require_tool(name: str) -> str:
    """The absolute path of `name` on PATH; fails the test naming its Debian package if absent."""
    path = shutil.which(name)
    if path is None:
        package = DEBIAN_PACKAGES.get(name, "<unknown>")
        pytest.fail(
            f"{name!r} is not installed; it is provided by the Debian package {package!r} "
            f"(apt-get install {package})",
            pytrace=False,
        )
    return path
