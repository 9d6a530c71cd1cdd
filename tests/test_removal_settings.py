"""The removal settings: `removal.drain`, `removal.drainTimeoutSeconds`, `nodes[].decommissioned`,
checked like every other key (named, with a suggestion for a typo, all problems at once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.settings.loading import SettingsError, load_settings
from tests.factories import NS, stack_config


def load(ca_file: Path, ssh_key: str, nodes: Any = 2, **overrides: Any) -> Any:
    raw = stack_config(ca_file, ssh_key, nodes, **overrides)
    return load_settings({key.removeprefix(f"{NS}:"): value for key, value in raw.items()}, {})


def test_defaults_drain_every_removed_node_within_five_minutes(ca_file: Path, ssh_key: str) -> None:
    settings = load(ca_file, ssh_key)

    assert (settings.removal.drain, settings.removal.drain_timeout_seconds) == (True, 300)
    assert [node.decommissioned for node in settings.nodes] == [False, False]


def test_removal_settings_and_a_decommissioned_node_are_read(ca_file: Path, ssh_key: str) -> None:
    nodes = [
        {"name": "node-0", "address": "10.0.0.1"},
        {"name": "node-1", "address": "10.0.0.2", "decommissioned": True},
    ]
    removal = {"drain": False, "drainTimeoutSeconds": 60}

    settings = load(ca_file, ssh_key, nodes=nodes, removal=removal)

    assert (settings.removal.drain, settings.removal.drain_timeout_seconds) == (False, 60)
    assert [node.decommissioned for node in settings.nodes] == [False, True]


def test_bad_removal_settings_are_reported_together_naming_each_key(
    ca_file: Path, ssh_key: str
) -> None:
    nodes = [{"name": "node-0", "address": "10.0.0.1", "decommissioned": "perhaps"}]
    removal = {"drian": False, "drainTimeoutSeconds": 5}

    with pytest.raises(SettingsError) as failure:
        load(ca_file, ssh_key, nodes=nodes, removal=removal)

    problems = failure.value.problems
    assert "removal.drian: unknown key; did you mean 'drain'?" in problems
    assert any(p.startswith("removal.drainTimeoutSeconds: ") and "10" in p for p in problems)
    assert any(p.startswith("nodes[0].decommissioned: ") for p in problems)
    assert len(problems) == 3
