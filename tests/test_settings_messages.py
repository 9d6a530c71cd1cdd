"""Settings mistakes a newcomer made, each answered in words a person acts on (issue 13, item 4):
no pydantic internals, the key that was meant, the line of a broken kubeconfig, and a key in
a misspelt namespace, which Pulumi would hand to no one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.settings.loading import SettingsError
from components.settings.stack_config import misplaced_keys
from offline.engine import run_program
from tests.factories import FIXED_CLOCK, HOST_KEY, BuildSettings

MESSAGES = {
    "version-is-download": (
        {"kubelet": {"version": "1.34.4"}},
        "kubelet.version: unknown key; use kubelet.download (the url and sha256 of the kubelet "
        "each node installs; its version is the binary's)",
    ),
    "domain-with-dot": (
        {"cluster": {"dnsDomain": "cluster.local.", "dnsServiceIP": "10.254.0.2"}},
        "cluster.dnsDomain: 'cluster.local.' ends with a dot: write 'cluster.local' (no "
        "trailing dot here)",
    ),
    "not-a-mapping": ({"kubelet": "defaults"}, "kubelet: 'defaults' is not a mapping of keys"),
    "not-one-of": (
        {"kubelet": {"cgroupDriver": "system"}},
        "kubelet.cgroupDriver: 'system' is not 'systemd' or 'cgroupfs'",
    ),
    "socket-path": (
        {"kubelet": {"containerRuntimeEndpoint": "/run/k3s/containerd.sock"}},
        "kubelet.containerRuntimeEndpoint: '/run/k3s/containerd.sock' is not a unix socket URL "
        "like unix:///run/containerd/containerd.sock: write unix:///run/k3s/containerd.sock",
    ),
    "not-an-integer": ({"ssh": {"port": "ssh"}}, "ssh.port: 'ssh' is not an integer"),
    "not-a-boolean": (
        {"kubelet": {"failSwapOn": "maybe"}},
        "kubelet.failSwapOn: 'maybe' is not true or false",
    ),
}


def problems(build: BuildSettings, **overrides: Any) -> list[str]:
    with pytest.raises(SettingsError) as error:
        build(**overrides)
    return error.value.problems


@pytest.mark.parametrize(("overrides", "message"), MESSAGES.values(), ids=MESSAGES.keys())
def test_a_mistake_is_said_in_words_a_person_acts_on(
    build: BuildSettings, overrides: dict[str, Any], message: str
) -> None:
    said = problems(build, **overrides)

    assert message in said, said
    assert not any("should" in p or "pattern" in p or "instance of" in p for p in said), said


def test_a_broken_kubeconfig_names_its_line_and_not_its_content(build: BuildSettings) -> None:
    broken = (
        "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.10:6443\n"
        "  token: s3cr3t: x\n"
    )

    said = problems(build, kubeconfig=broken)

    assert said == [
        "kubeconfig: is not YAML at line 5, column 16: mapping values are not allowed here (the "
        "content is not shown)"
    ]
    assert not any("s3cr3t" in p for p in said)


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("kubelet_bootstrap:apiServer", "kubelet-bootstrap:apiServer"),
        ("kubelet-boostrap:nodes", "kubelet-bootstrap:nodes"),
        ("KUBELET-BOOTSTRAP:rollout", "kubelet-bootstrap:rollout"),
    ],
)
def test_a_key_in_a_misspelt_namespace_is_named(key: str, meant: str) -> None:
    assert misplaced_keys({key: "x", "kubernetes:kubeconfig": "x", "pulumi:tags": "{}"}) == [
        f"{key}: not read, its namespace is not kubelet-bootstrap; did you mean {meant}?"
    ]


def test_the_program_refuses_a_misspelt_namespace_with_the_other_problems(
    config: Callable[..., dict[str, Any]],
) -> None:
    stack = config(nodes=1)
    stack["kubelet_bootstrap:rollout"] = '{"batchSize": 1}'
    stack["kubelet-bootstrap:kubelet"] = {"maxPods": 0}

    with pytest.raises(pulumi.RunError) as error:
        run_program(stack, "test", clock=FIXED_CLOCK)

    assert "kubelet_bootstrap:rollout: not read, its namespace is not kubelet-bootstrap" in str(
        error.value
    )
    assert "kubelet.maxPods: 0 is less than 1, the least it may be" in str(error.value)


# --- host keys: pinned, or accepted unverified by choice ----------------------------------------


def test_a_node_without_a_pinned_host_key_is_refused_with_the_command_that_pins_it(
    build: BuildSettings,
) -> None:
    nodes = [
        {"name": "node-0", "address": "10.0.0.1", "hostKey": HOST_KEY},
        {"name": "node-1", "address": "10.0.0.2", "sshHost": "node-1.example.net"},
    ]

    said = problems(build, nodes=nodes, ssh={"hostKey": None, "port": 2222})

    assert said == [
        "nodes[1].hostKey: not pinned, so node-1's SSH server would not be verified; pin it: "
        "pulumi config set --path 'kubelet-bootstrap:nodes[1].hostKey' \"$(ssh-keyscan -t "
        "ed25519 -p 2222 node-1.example.net 2>/dev/null | cut -d' ' -f2-)\" (or set "
        "ssh.acceptUnverifiedHostKeys: true to connect to any)"
    ]


def test_a_bastion_without_a_pinned_host_key_is_refused(build: BuildSettings) -> None:
    said = problems(build, ssh={"bastion": {"host": "jump.example.net"}})

    assert said == [
        "ssh.bastion.hostKey: not pinned, so the bastion's SSH server would not be verified; "
        "pin it: pulumi config set --path 'kubelet-bootstrap:ssh.bastion.hostKey' "
        "\"$(ssh-keyscan -t ed25519 jump.example.net 2>/dev/null | cut -d' ' -f2-)\" (or set "
        "ssh.acceptUnverifiedHostKeys: true to connect to any)"
    ]


@pytest.mark.parametrize(
    ("ssh", "node"),
    [
        ({"hostKey": HOST_KEY}, {}),
        ({"hostKey": None}, {"hostKey": HOST_KEY}),
        ({"hostKey": None, "acceptUnverifiedHostKeys": True}, {}),
        ({"hostKey": None}, {"decommissioned": True}),
    ],
    ids=["fleet-key", "node-key", "accepted-unverified", "decommissioned"],
)
def test_a_node_is_accepted_pinned_decommissioned_or_by_choice(
    build: BuildSettings, ssh: dict[str, Any], node: dict[str, Any]
) -> None:
    nodes = [{"name": "node-0", "address": "10.0.0.1", **node}]

    settings = build(nodes=nodes, ssh=ssh)

    assert settings.ssh.accept_unverified_host_keys is ssh.get("acceptUnverifiedHostKeys", False)
