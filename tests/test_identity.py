"""Stable identity (issue 14, item 1): every resource keeps its URN and every dynamic provider
stays loadable from the state existing stacks hold.

A reference stack that registers every kind of resource the program makes (nodes with labels
and taints, a downloaded kubelet, a decommissioned node) is run offline; its URNs must be those
of `tests/data/golden-urns.json`, each one either still registered or kept by an alias. A
resource that is new, or one whose URN changes without an alias, fails here: add the alias
(`opts=pulumi.ResourceOptions(aliases=[...])`), or the new URN to the golden file, with a line
in CHANGELOG.md. The pickled providers of `tests/data/pickled-providers.json` were written by
the program as released (as the state keeps them): a provider class that moves must leave an
importable name behind, or every existing stack fails to refresh, remove or destroy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi.dynamic import ResourceProvider

from offline.engine import Recording, Registration, run_program
from tests.factories import FIXED_CLOCK, HOST_KEY, stack_config
from tests.identity import (
    PICKLED_PROVIDERS,
    STACK,
    answers_to,
    engine_urns,
    golden,
    providers_of,
    unpickled,
    urn,
)

STACK_URN = f"urn:pulumi:{STACK}::kubelet-bootstrap::pulumi:pulumi:Stack::kubelet-bootstrap-{STACK}"
DOWNLOAD = {"url": "https://dl.example/kubelet", "sha256": "a" * 64}


@pytest.fixture(scope="module")
def reference(ca_file: Path, ssh_key: str) -> Recording:
    nodes = [
        {
            "name": "node-0",
            "address": "10.0.0.1",
            "hostKey": HOST_KEY,
            "labels": {"tier": "web"},
            "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
        },
        {"name": "node-1", "address": "10.0.0.2", "hostKey": HOST_KEY},
        {"name": "node-2", "address": "10.0.0.3", "hostKey": HOST_KEY, "decommissioned": True},
    ]
    config = stack_config(ca_file, ssh_key, nodes, kubelet={"download": DOWNLOAD})
    return run_program(config, STACK, clock=FIXED_CLOCK)


def test_every_resource_keeps_its_urn_or_an_alias_to_it(reference: Recording) -> None:
    engine = engine_urns(reference.resources, STACK_URN)
    now = {engine[r.urn]: r.type for r in reference.resources}
    kept = answers_to(reference.resources, STACK_URN)
    expected = golden()

    lost = sorted(old for old in expected if old not in kept)
    answered = {
        current: {old for old, now_urn in kept.items() if now_urn == current} for current in now
    }
    new = sorted(current for current in now if not answered[current] & expected.keys())
    retyped = sorted(u for u in expected if u in now and now[u] != expected[u])
    assert lost == [], (
        "these URNs of existing stacks are no longer registered nor kept by an alias; each "
        "would be deleted (nodes drained, Nodes deleted): add an alias, and a CHANGELOG line"
    )
    assert retyped == []
    assert new == [], "new resources: add their URNs to tests/data/golden-urns.json and CHANGELOG"


def test_the_golden_stack_registers_every_kind_of_resource() -> None:
    """The reference covers what the program makes, so a change anywhere is seen."""
    kinds = {type_.split(":")[-1] for type_ in golden().values()}
    assert kinds >= {
        "BootstrapRbac",
        "ClusterRole",
        "ClusterRoleBinding",
        "BootstrapToken",
        "KubeletNode",
        "Command",
        "NodeRemoval",
        "KubeletApiVerification",
        "TokenIssue",
        "NodeMetadata",
        "NodeDrain",
        "NodeObject",
        "ServingCsrApproval",
        "KubeletApiCheck",
        "NodeDrift",
        "kubernetes",
    }


def test_an_alias_keeps_a_renamed_component_and_its_children() -> None:
    """The checker itself: a component renamed with an alias answers to its old URN, and so do
    its children, which inherit the alias as the engine makes them."""
    component = "kubelet-bootstrap:index:KubeletNode"
    command = "command:remote:Command"
    old_parent = urn("node-0", component, STACK_URN)
    renamed = Registration(
        urn=urn("worker-0", component, STACK_URN),
        type=component,
        name="worker-0",
        custom=False,
        parent=STACK_URN,
        dependencies=[],
        inputs={},
        secret_paths=set(),
        aliases=[{"spec": {"name": "node-0"}}],
    )
    child = Registration(
        urn=urn("node-0-start-kubelet", command, renamed.urn),
        type=command,
        name="node-0-start-kubelet",
        custom=True,
        parent=renamed.urn,
        dependencies=[],
        inputs={},
        secret_paths=set(),
    )

    kept = answers_to([renamed, child], STACK_URN)

    assert kept[old_parent] == renamed.urn
    assert kept[urn("node-0-start-kubelet", command, old_parent)] == child.urn
    assert urn("node-1", component, STACK_URN) not in kept


def test_the_providers_in_existing_state_still_load(reference: Recording) -> None:
    released: dict[str, dict[str, str]] = json.loads(PICKLED_PROVIDERS.read_text())
    current = providers_of(reference.resources)

    for name, pickled in released.items():
        provider = unpickled(pickled["pickle"])
        assert isinstance(provider, ResourceProvider), name
        assert f"{type(provider).__module__}.{type(provider).__qualname__}" == pickled["class"]
    # Every kind of dynamic resource the program registers has a released pickle pinned.
    assert {_class_of(blob) for blob in current.values()} <= {p["class"] for p in released.values()}


def _class_of(blob: str) -> str:
    provider = unpickled(blob)
    return f"{type(provider).__module__}.{type(provider).__qualname__}"
