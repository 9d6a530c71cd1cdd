"""The names of the preflight checks, as `preflight.skip` lists them and a failure prints.

The checks themselves are the node's (`node.preflight`); their names are part of the
configuration contract, so they live with the settings.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from components.settings.checks import fail
from components.settings.suggestions import suggest

# Every check, in the order the script runs them.
CHECKS = (
    "kubeletBinary",
    "versionSkew",
    "containerRuntime",
    "cgroupV2",
    "nodeAddress",
    "ipForward",
    "kubeletPorts",
    "kubeadmDropIn",
    "swap",
)


def _check_name(value: str) -> str:
    if value not in CHECKS:
        guess = suggest(value, "", CHECKS)
        hint = f"did you mean {guess!r}? " if guess else ""
        raise fail(f"unknown check {value!r}; {hint}(known: {', '.join(CHECKS)})")
    return value


PreflightCheck = Annotated[str, AfterValidator(_check_name)]
"""A check's name, as `preflight.skip` lists it."""
