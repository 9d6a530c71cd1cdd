"""Go-style durations ("24h", "1h30m", "90s"), the notation kubeadm and the kubelet use."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+)(h|m|s)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> int | None:
    """Seconds in `text`, or None when it is not a duration of hours, minutes and seconds."""
    if not isinstance(text, str) or not text or _PART.sub("", text):
        return None
    units = [unit for _, unit in _PART.findall(text)]
    if len(set(units)) != len(units) or units != sorted(units, key="hms".index):
        return None
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(text))


# Go's time.ParseDuration: a sign, then "0" or numbers with a fraction and a unit each.
_GO_DURATION = re.compile(r"[-+]?(0|((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)")


def is_go_duration(text: object) -> bool:
    """Whether `text` is what the kubelet's metav1.Duration fields parse (`5m0s`, `1.5h`)."""
    return isinstance(text, str) and _GO_DURATION.fullmatch(text) is not None
