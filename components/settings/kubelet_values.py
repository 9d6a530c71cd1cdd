"""Values the kubelet parses only at start-up, checked before any node gets them.

Some KubeletConfiguration fields are plain strings to the decoder and are parsed when the
kubelet starts: the eviction thresholds (`evictionHard: {memory.available: 100MB}` is no
quantity, `150%` is over 100), the reservations (`systemReserved: {memory: 1GB}`), the pod
CIDR, the log format. A mistake there passes `kubelet_types` and stops every kubelet of the
stack at once. The rules are the kubelet 1.34's (`pkg/kubelet/eviction/helpers.go`,
`cmd/kubelet/app/server.go` parseResourceList, component-base's log formats).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from components.settings.kubelet_types import QUANTITY

EVICTION_SIGNALS = (
    "memory.available",
    "allocatableMemory.available",
    "nodefs.available",
    "nodefs.inodesFree",
    "imagefs.available",
    "imagefs.inodesFree",
    "containerfs.available",
    "containerfs.inodesFree",
    "pid.available",
)
RESERVABLE = ("cpu", "memory", "ephemeral-storage", "pid")
LOG_FORMATS = ("text", "json")
_PERCENTAGE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)%")
_QUANTITY_HINT = (
    "a quantity like 100Mi, 1Gi or 500M (Mi is 2^20 bytes, M 10^6; MB, GB are no units)"
)


def value_problems(document: Mapping[str, Any]) -> list[str]:
    """One `path: problem` line per value the kubelet would refuse at start-up."""
    problems: list[str] = []
    for name, check in _CHECKS.items():
        value = document.get(name)
        if value is not None:
            problems += [f"{name}{problem}" for problem in check(value)]
    if isinstance(document.get("evictionSoft"), Mapping):
        periods = document.get("evictionSoftGracePeriod")
        periods = periods if isinstance(periods, Mapping) else {}
        problems += [
            f"evictionSoft.{signal}: a soft threshold needs its evictionSoftGracePeriod.{signal}"
            for signal in document["evictionSoft"]
            if signal not in periods
        ]
    return problems


def _thresholds(minimum_reclaim: bool = False) -> Callable[[Any], list[str]]:
    """Eviction statements: a known signal, then a positive quantity or a percentage."""

    def check(statements: Any) -> list[str]:
        if not isinstance(statements, Mapping):
            return []  # kubelet_types says it is not a mapping
        problems = []
        for signal, value in statements.items():
            if not isinstance(value, str):
                continue  # kubelet_types says what it should be
            problem = _signal(signal) or _threshold(value, minimum_reclaim)
            if problem:
                problems.append(f".{signal}: {problem}")
        return problems

    return check


def _signal(signal: Any) -> str | None:
    if signal in EVICTION_SIGNALS:
        return None
    by_lower = {known.lower(): known for known in EVICTION_SIGNALS}
    guess = difflib.get_close_matches(str(signal).lower(), by_lower, n=1)
    if guess:
        return f"not an eviction signal; did you mean {by_lower[guess[0]]!r}?"
    return f"not an eviction signal (known: {', '.join(EVICTION_SIGNALS)})"


def _threshold(value: str, minimum_reclaim: bool) -> str | None:
    if value.endswith("%"):
        if not _PERCENTAGE.fullmatch(value):
            return f"{value!r} is not a percentage like 10%"
        share = float(value[:-1])
        if share < 0 or share > 100 or (minimum_reclaim and share == 0):
            lowest = "above 0%" if minimum_reclaim else "0%"
            return f"{value!r} is not a percentage from {lowest} to 100%"
        return None
    if not QUANTITY.fullmatch(value):
        return f"{value!r} is neither {_QUANTITY_HINT} nor a percentage like 10%"
    if value.startswith("-") or (not minimum_reclaim and float(_number(value)) == 0):
        return f"{value!r}: a threshold must be positive"
    return None


def _reserved(reservation: Any) -> list[str]:
    """systemReserved and kubeReserved: cpu, memory, ephemeral-storage and pid only."""
    if not isinstance(reservation, Mapping):
        return []
    problems = []
    for resource, value in reservation.items():
        if resource not in RESERVABLE:
            problems.append(
                f".{resource}: the kubelet cannot reserve it (only {', '.join(RESERVABLE)})"
            )
        elif isinstance(value, str) and not QUANTITY.fullmatch(value):
            problems.append(f".{resource}: {value!r} is not {_QUANTITY_HINT}")
        elif isinstance(value, str) and value.startswith("-"):
            problems.append(f".{resource}: {value!r} cannot be negative")
    return problems


def _pod_cidr(value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return [f": {value!r} is not a CIDR like 172.30.0.0/24"]
    return []


def _logging(logging: Any) -> list[str]:
    if not isinstance(logging, Mapping) or logging.get("format", "text") in LOG_FORMATS:
        return []
    return [f".format: {logging['format']!r} is not a log format ({', '.join(LOG_FORMATS)})"]


def _number(quantity: str) -> str:
    """The number a quantity starts with."""
    match = re.match(r"[-+]?(\d+\.?\d*|\.\d+)", quantity)
    return match.group() if match else "0"


_CHECKS: dict[str, Callable[[Any], list[str]]] = {
    "evictionHard": _thresholds(),
    "evictionSoft": _thresholds(),
    "evictionMinimumReclaim": _thresholds(minimum_reclaim=True),
    "systemReserved": _reserved,
    "kubeReserved": _reserved,
    "podCIDR": _pod_cidr,
    "logging": _logging,
}
