"""Values the kubelet refuses only when it starts, refused by the settings loader instead
(`components.settings.kubelet_values`), each on one line with its key path. The cases are those a
newcomer wrote: `100MB`, `150%`, `1GB`, a `/33`, a misspelt nested key."""

from __future__ import annotations

from typing import Any

import pytest

from components.settings.loading import SettingsError
from tests.factories import BuildSettings

REFUSED = {
    "megabytes": (
        {"evictionHard": {"memory.available": "100MB"}},
        "kubelet.extraConfig.evictionHard.memory.available: '100MB' is neither a quantity like "
        "100Mi, 1Gi or 500M (Mi is 2^20 bytes, M 10^6; MB, GB are no units) nor a percentage",
    ),
    "over-100-percent": (
        {"evictionHard": {"nodefs.available": "150%"}},
        "kubelet.extraConfig.evictionHard.nodefs.available: '150%' is not a percentage from 0% "
        "to 100%",
    ),
    "zero-threshold": (
        {"evictionHard": {"memory.available": "0"}},
        "kubelet.extraConfig.evictionHard.memory.available: '0': a threshold must be positive",
    ),
    "misspelt-signal": (
        {"evictionHard": {"nodefs.inodesfree": "5%"}},
        "kubelet.extraConfig.evictionHard.nodefs.inodesfree: not an eviction signal; did you "
        "mean 'nodefs.inodesFree'?",
    ),
    "soft-without-grace-period": (
        {"evictionSoft": {"memory.available": "1Gi"}},
        "kubelet.extraConfig.evictionSoft.memory.available: a soft threshold needs its "
        "evictionSoftGracePeriod.memory.available",
    ),
    "zero-percent-reclaim": (
        {"evictionMinimumReclaim": {"memory.available": "0%"}},
        "kubelet.extraConfig.evictionMinimumReclaim.memory.available: '0%' is not a percentage "
        "from above 0% to 100%",
    ),
    "gigabytes-reserved": (
        {"systemReserved": {"memory": "1GB"}},
        "kubelet.extraConfig.systemReserved.memory: '1GB' is not a quantity like 100Mi",
    ),
    "megabytes-reserved": (
        {"kubeReserved": {"memory": "20MB"}},
        "kubelet.extraConfig.kubeReserved.memory: '20MB' is not a quantity like 100Mi",
    ),
    "unreservable": (
        {"kubeReserved": {"nvidia.com/gpu": "1"}},
        "kubelet.extraConfig.kubeReserved.nvidia.com/gpu: the kubelet cannot reserve it (only "
        "cpu, memory, ephemeral-storage, pid)",
    ),
    "pod-cidr-33": (
        {"podCIDR": "172.30.0.0/33"},
        "kubelet.extraConfig.podCIDR: '172.30.0.0/33' is not a CIDR like 172.30.0.0/24",
    ),
    "nested-typo": (
        {"logging": {"formt": "json"}},
        "kubelet.extraConfig.logging.formt: unknown KubeletConfiguration field; did you mean "
        "'format'?",
    ),
    "log-format": (
        {"logging": {"format": "yaml"}},
        "kubelet.extraConfig.logging.format: 'yaml' is not a log format (text, json)",
    ),
    "log-verbosity": (
        {"logging": {"verbosity": -1}},
        "kubelet.extraConfig.logging.verbosity: -1 is not an integer from 0 to 4294967295",
    ),
}


@pytest.mark.parametrize(("extra", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_a_value_the_kubelet_refuses_at_start_is_refused_here(
    build: BuildSettings, extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError) as error:
        build(kubelet={"extraConfig": extra})

    assert any(problem.startswith(message) for problem in error.value.problems), (
        error.value.problems
    )


def test_a_nodes_own_extra_config_is_checked_at_its_path(build: BuildSettings) -> None:
    nodes = [
        {"name": "node-0", "address": "10.0.0.1"},
        {
            "name": "node-1",
            "address": "10.0.0.2",
            "kubelet": {"extraConfig": {"evictionHard": {"memory.available": "1GB"}}},
        },
    ]
    with pytest.raises(SettingsError) as error:
        build(nodes=nodes)

    assert any(
        p.startswith("nodes[1].kubelet.extraConfig.evictionHard.memory.available: '1GB'")
        for p in error.value.problems
    ), error.value.problems


ACCEPTED = {
    "quantities-and-percentages": {
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "10%"},
        "evictionMinimumReclaim": {"memory.available": "0Mi"},
    },
    "soft-with-grace-period": {
        "evictionSoft": {"memory.available": "1.5Gi"},
        "evictionSoftGracePeriod": {"memory.available": "1m30s"},
    },
    "zero-percent-turns-off": {"evictionHard": {"imagefs.available": "0%"}},
    "reserved": {"systemReserved": {"cpu": "500m", "memory": "1Gi", "pid": "1000"}},
    "pod-cidr": {"podCIDR": "172.30.1.0/24"},
    "logging": {
        "logging": {
            "format": "json",
            "flushFrequency": "5s",
            "verbosity": 2,
            "options": {"json": {"infoBufferSize": "64Ki"}},
        }
    },
}


@pytest.mark.parametrize("extra", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_the_kubelet_accepts_is_accepted(build: BuildSettings, extra: dict[str, Any]) -> None:
    settings = build(kubelet={"extraConfig": extra})

    assert settings.kubelet.extra_config == extra
