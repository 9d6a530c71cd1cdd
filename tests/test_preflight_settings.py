"""`preflight.skip`: known check names only, refused with the known ones and a suggestion
before any resource is registered; and the checks a node gets as a function of the settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.node.preflight import CHECKS, node_checks
from components.settings.loading import SettingsError, load_settings
from offline import engine
from tests.factories import FIXED_CLOCK, NS

KNOWN = (
    "(known: kubeletBinary, versionSkew, containerRuntime, cgroupV2, nodeAddress, ipForward, "
    "kubeletPorts, kubeadmDropIn, swap)"
)


def raw(config: dict[str, Any]) -> dict[str, Any]:
    """A stack configuration without its namespace, as `load_settings` takes it."""
    return {key.removeprefix(f"{NS}:"): value for key, value in config.items()}


def problems_of(config: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as error:
        load_settings(raw(config), environ={})
    return error.value.problems


def test_the_checks_are_named_once_each_in_camel_case() -> None:
    assert len(set(CHECKS)) == len(CHECKS) == 9
    for name in CHECKS:
        assert name[0].islower() and "-" not in name and "_" not in name, name


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        (
            ["cgroupv2"],
            f"preflight.skip[0]: unknown check 'cgroupv2'; did you mean 'cgroupV2'? {KNOWN}",
        ),
        (
            ["swap", "kubeletPort"],
            f"preflight.skip[1]: unknown check 'kubeletPort'; did you mean 'kubeletPorts'? {KNOWN}",
        ),
        (["firewall"], f"preflight.skip[0]: unknown check 'firewall'; {KNOWN}"),
    ],
    ids=["case-typo", "missing-letter", "no-suggestion"],
)
def test_an_unknown_check_is_refused_with_the_known_ones(
    config: Callable[..., dict[str, Any]], skip: list[str], expected: str
) -> None:
    assert problems_of(config(preflight={"skip": skip})) == [expected]


def test_a_typo_in_the_preflight_keys_is_refused_with_a_suggestion(
    config: Callable[..., dict[str, Any]],
) -> None:
    assert problems_of(config(preflight={"skp": ["swap"]})) == [
        "preflight.skp: unknown key; did you mean 'skip'?"
    ]


def test_skip_must_be_a_list(config: Callable[..., dict[str, Any]]) -> None:
    [problem] = problems_of(config(preflight={"skip": "swap"}))
    assert problem == "preflight.skip: 'swap' is not a list", problem


def test_a_bad_skip_registers_nothing(config: Callable[..., dict[str, Any]]) -> None:
    recording = engine.Recording()
    with pytest.raises(pulumi.RunError, match=r"preflight\.skip\[0\]: unknown check 'nope'"):
        engine.run_program(
            config(preflight={"skip": ["nope"]}), "test", clock=FIXED_CLOCK, recording=recording
        )
    assert recording.resources == []


def checks_for(config: dict[str, Any]) -> tuple[str, ...]:
    settings = load_settings(raw(config), environ={})
    return node_checks(settings, settings.nodes[0])


def test_every_check_runs_by_default(config: Callable[..., dict[str, Any]]) -> None:
    assert checks_for(config()) == CHECKS


def test_skipped_checks_are_dropped_in_order(config: Callable[..., dict[str, Any]]) -> None:
    checks = checks_for(config(preflight={"skip": ["swap", "cgroupV2", "swap"]}))
    assert checks == (
        "kubeletBinary",
        "versionSkew",
        "containerRuntime",
        "nodeAddress",
        "ipForward",
        "kubeletPorts",
        "kubeadmDropIn",
    )


def test_allowed_swap_drops_the_swap_check(config: Callable[..., dict[str, Any]]) -> None:
    assert "swap" not in checks_for(config(kubelet={"failSwapOn": False}))
    assert "swap" in checks_for(config(kubelet={"failSwapOn": True}))


def test_allowed_cgroup_v1_drops_the_cgroup_v2_check(config: Callable[..., dict[str, Any]]) -> None:
    allowed = config(kubelet={"extraConfig": {"failCgroupV1": False}})
    refused = config(kubelet={"extraConfig": {"failCgroupV1": True}})
    assert "cgroupV2" not in checks_for(allowed)
    assert "cgroupV2" in checks_for(refused)
