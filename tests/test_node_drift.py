"""`NodeDrift` (issue 16, part 2): the provider's refresh, and how its repairs reach the node's
commands.

The provider reads a node root (tests/node_root.py) through a stand-in for the SSH read that
runs the probe there with `sh`; the program runs offline with the drift probes answering
what a refresh recorded, and each command's scripts are checked as pulumi-command gets them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.runtime import mocks

from components.node import drift, remote_read, rendering
from components.node.drift import NodeDriftProvider
from components.node.drift_check import WrittenFile
from components.node.ssh import as_root
from components.settings.model import Settings
from offline.engine import OfflineMocks, Recording
from tests.factories import NS, BuildSettings
from tests.node_root import NodeRoot, started_node

DRIFT_TYPE = "pulumi-python:dynamic/kubelet-bootstrap:NodeDrift"
Run = Callable[[dict[str, Any]], Recording]


def provider_for(ssh: dict[str, Any] | None) -> NodeDriftProvider:
    """The provider configured as the engine does, with the stack's `ssh` object."""
    provider = NodeDriftProvider()
    values = {} if ssh is None else {drift.SSH_CONFIG_KEY: json.dumps(ssh)}
    provider.configure(ConfigureRequest(Config(values, project_name=NS)))
    return provider


def props_for(settings: Settings) -> dict[str, Any]:
    """The outputs a created probe of node-0 holds."""
    kubelet = settings.kubelet
    files = [
        WrittenFile(f.key, f.path, f.sha256)
        for f in rendering.node_files(settings, settings.nodes[0])
    ]
    inputs = drift.probe_inputs(
        "node-0",
        target={"host": "10.0.0.1", "port": 22, "user": "root", "host_key": None},
        bastion=None,
        become=None,
        files=files,
        bootstrap=None,  # as with bootstrapToken.removeKubeconfig: the node root has none
        started=rendering.started_record(kubelet),
        unit=kubelet.unit_name,
    )
    return NodeDriftProvider().create({**inputs, "repairs": {}}).outs


@pytest.fixture
def node(
    tmp_path: Path, build: BuildSettings, monkeypatch: pytest.MonkeyPatch
) -> tuple[NodeRoot, Settings]:
    """A node whose kubelet the stack started healthy, which the SSH read reaches."""
    settings = build()
    root = started_node(tmp_path / "node", settings)

    def read_as_root(target: Any, bastion: Any, key: str, command: str) -> str:
        assert (target.host, bastion, key) == (
            "10.0.0.1",
            None,
            settings.ssh.key.get_secret_value(),
        )
        result = root.sh(command)
        assert result.returncode == 0, result.stderr
        return result.stdout.replace(str(root.root), "")

    monkeypatch.setattr(remote_read, "read_as_root", read_as_root)
    return root, settings


@pytest.fixture
def configured(ssh_key: str) -> NodeDriftProvider:
    return provider_for({"privateKey": ssh_key, "user": "root"})


def edit_config(root: NodeRoot, settings: Settings) -> None:
    config = Path(root.moved(settings.kubelet.config_file))
    config.write_text(config.read_text() + "# tuned by hand\n")


def test_a_refresh_of_an_untouched_node_changes_nothing(
    node: tuple[NodeRoot, Settings], configured: NodeDriftProvider
) -> None:
    _, settings = node
    props = props_for(settings)

    result = configured.read("node-0-drift", props)

    assert result.outs == props
    assert result.inputs == {k: v for k, v in props.items() if k not in drift.OUTPUT_ONLY}


def test_an_edit_bumps_the_generation_and_asks_its_command_and_the_restart_to_repair(
    node: tuple[NodeRoot, Settings], configured: NodeDriftProvider
) -> None:
    root, settings = node
    edit_config(root, settings)

    created = props_for(settings)
    first = configured.read("node-0-drift", created)
    again = configured.read("node-0-drift", first.outs)

    base = created["generation"]
    assert abs(base - time.time()) < 60, "a new probe's generation is the time it was made"
    assert first.outs["generation"] == base + 1
    assert first.outs["repairs"] == first.inputs["repairs"] == {"kubelet-config": base + 1}
    assert first.outs["drift"].startswith(
        f"node-0: {settings.kubelet.config_file} was changed on the node (sha256 "
    )
    # Still there at the next refresh: a newer repair, so an up that failed runs again.
    assert (again.outs["generation"], again.outs["repairs"]) == (
        base + 2,
        {"kubelet-config": base + 2},
    )
    assert "generation" not in again.inputs and "drift" not in again.inputs


def test_repairs_once_asked_stay_and_a_clean_refresh_keeps_the_generation(
    node: tuple[NodeRoot, Settings], configured: NodeDriftProvider
) -> None:
    root, settings = node
    edit_config(root, settings)
    created = props_for(settings)
    base = created["generation"]
    found = configured.read("node-0-drift", created)
    root.write(rendering.node_files(settings, settings.nodes[0]))  # put back by hand
    root.active.unlink()  # and the kubelet stopped by hand

    later = configured.read("node-0-drift", found.outs)
    clean_props = {**later.outs}
    root.active.touch()
    clean = configured.read("node-0-drift", clean_props)

    assert later.outs["repairs"] == {"kubelet-config": base + 1, "kubelet": base + 2}
    assert later.outs["drift"] == (
        "node-0: the kubelet the stack started (kubelet.service) is inactive: "
        "the next `pulumi up` puts it back"
    )
    assert (clean.outs["generation"], clean.outs["repairs"]) == (base + 2, later.outs["repairs"])
    assert clean.outs["drift"] == ""


def test_a_node_out_of_reach_is_said_so_and_repairs_nothing(
    build: BuildSettings, configured: NodeDriftProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*_: Any) -> str:
        raise remote_read.RemoteReadError("ssh root@10.0.0.1:22: [Errno 111] Connection refused")

    monkeypatch.setattr(remote_read, "read_as_root", refused)
    props = props_for(build())

    result = configured.read("node-0-drift", props)

    assert result.outs["drift"] == (
        "node-0: not checked: ssh root@10.0.0.1:22: [Errno 111] Connection refused"
    )
    assert (result.outs["generation"], result.outs["repairs"]) == (props["generation"], {})


def test_a_provider_without_a_usable_key_says_which_setting_and_never_the_key(
    build: BuildSettings, ssh_key: str
) -> None:
    props = props_for(build())
    body = ssh_key.strip().splitlines()[1]

    unset = provider_for(None).read("node-0-drift", props).outs["drift"]
    broken = provider_for({"privateKey": ssh_key[:200]}).read("node-0-drift", props).outs["drift"]

    assert unset.startswith(
        "node-0: not checked: kubelet-bootstrap:ssh does not give a private key"
    )
    assert broken.startswith("node-0: not checked: the SSH private key (ssh.privateKey or ")
    assert body[:40] not in broken


def test_check_carries_the_repairs_refresh_wrote_and_diff_sees_only_real_changes(
    build: BuildSettings,
) -> None:
    provider = NodeDriftProvider()
    olds = {**props_for(build()), "repairs": {"ca": 3}}
    news = {k: v for k, v in olds.items() if k not in drift.OUTPUT_ONLY} | {"repairs": {}}

    checked = provider.check(olds, news).inputs
    created = provider.check({}, news).inputs

    assert checked["repairs"] == {"ca": 3}
    assert created["repairs"] == {}
    assert provider.diff("id", olds, checked).changes is False
    moved = {**checked, "target": {**checked["target"], "host": "10.0.0.9"}}
    assert provider.diff("id", olds, moved).changes is True
    # An input that became None is left out by the SDK: a bastion no longer used is a change.
    through_bastion = {**olds, "bastion": {"host": "b", "port": 22, "user": "u", "host_key": None}}
    without = {k: v for k, v in checked.items() if k != "bastion"}
    assert provider.diff("id", through_bastion, without).changes is True
    # What the last refresh said is cleared by the update that puts it back.
    assert provider.diff("id", {**olds, "drift": "node-0: ..."}, checked).changes is True
    updated = provider.update("id", {**olds, "generation": 3, "drift": "node-0: ..."}, checked)
    assert (updated.outs["generation"], updated.outs["drift"], updated.outs["repairs"]) == (
        3,
        "",
        {"ca": 3},
    )


# --- the program: repairs reach the node's commands ---------------------------------------


def refreshed(monkeypatch: pytest.MonkeyPatch, repairs: dict[str, dict[str, int]]) -> None:
    """The drift probes answer with the repairs a refresh recorded, by probe name."""
    new_resource = OfflineMocks.new_resource

    def answer(self: OfflineMocks, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        id_, outputs = new_resource(self, args)
        if args.typ == DRIFT_TYPE and args.name in repairs:
            outputs["repairs"] = repairs[args.name]
        return id_, outputs

    monkeypatch.setattr(OfflineMocks, "new_resource", answer)


def scripts_of(recording: Recording, name: str) -> tuple[str, str, str]:
    inputs = recording.named(name).inputs
    return inputs.get("create"), inputs.get("update"), inputs.get("delete")


def test_without_repairs_every_command_is_what_it_was_before_the_probes(
    config: Callable[..., dict[str, Any]], run: Run, build: BuildSettings
) -> None:
    """A stack upgraded to this version gains the probes and no changed command."""
    recording = run(config(nodes=2))
    settings = build(nodes=[{"name": "node-0", "address": "10.0.0.1"}])
    node = settings.nodes[0]
    files = rendering.node_files(settings, node)
    config_file = next(f for f in files if f.key == "kubelet-config")

    expected = rendering.file_scripts(
        config_file.path, config_file.mode, "node-0-kubelet-config", kubelet=settings.kubelet
    )
    restart = rendering.restart_scripts(settings, node, files)

    assert scripts_of(recording, "node-0-kubelet-config") == expected
    assert scripts_of(recording, "node-0-restart-kubelet")[1] == restart.update
    commands = [r for r in recording.resources if r.type == "command:remote:Command"]
    assert not [r.name for r in commands if "repair" in json.dumps(r.inputs)]
    probe = recording.named("node-0-drift")
    assert probe.inputs["repairs"] == {} and "privateKey" not in json.dumps(probe.inputs)


def test_a_repair_runs_that_nodes_file_command_and_restart_again_and_nothing_else(
    config: Callable[..., dict[str, Any]], run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = run(config(nodes=2))
    refreshed(monkeypatch, {"node-1-drift": {"kubelet-config": 2, "bootstrap-kubeconfig": 1}})

    after = run(config(nodes=2))

    changed = {
        r.name
        for r in after.resources
        if r.type == "command:remote:Command"
        and scripts_of(after, r.name) != scripts_of(before, r.name)
    }
    assert changed == {
        "node-1-kubelet-config",
        "node-1-bootstrap-kubeconfig",
        "node-1-restart-kubelet",
    }
    create, update, delete = scripts_of(after, "node-1-kubelet-config")
    assert (create, delete) == scripts_of(before, "node-1-kubelet-config")[::2]
    assert update.endswith("# repair 2: `pulumi refresh` found this changed on the node\n")
    restart = scripts_of(after, "node-1-restart-kubelet")[1]
    assert (
        "(repair 2)" in restart
        and "repaired='/var/lib/kubelet-bootstrap/repaired/kubelet.service'" in restart
    )


def test_a_repaired_kubelet_restarts_once_for_its_repair(
    node: tuple[NodeRoot, Settings],
) -> None:
    root, settings = node
    files = rendering.node_files(settings, settings.nodes[0])
    plain = rendering.restart_scripts(settings, settings.nodes[0], files).update
    repaired = rendering.restart_scripts(settings, settings.nodes[0], files, repair=4).update

    assert root.sh(plain).returncode == 0
    assert root.restarts() == 1  # the start's, not the plain restart's
    first = root.sh(repaired)
    second = root.sh(as_root(repaired, None))

    assert first.returncode == 0, first.stderr
    assert "restarting the kubelet on node-0 (repair 4)" in first.stdout
    assert second.returncode == 0 and "not restarted" in second.stdout
    assert root.restarts() == 2


def test_the_repair_puts_an_edited_file_back_through_the_rollout(
    node: tuple[NodeRoot, Settings], configured: NodeDriftProvider
) -> None:
    """Refresh, then the repaired file command and the restart, as `pulumi up` runs them."""
    root, settings = node
    edit_config(root, settings)
    repairs = configured.read("node-0-drift", props_for(settings)).outs["repairs"]
    node_0 = settings.nodes[0]
    files = rendering.node_files(settings, node_0)
    config_file = next(f for f in files if f.key == "kubelet-config")
    scripts = drift.with_repair(
        rendering.file_scripts(
            config_file.path, config_file.mode, "node-0-kubelet-config", kubelet=settings.kubelet
        ),
        drift.repair_line(repairs, ["kubelet-config"]),
    )

    written = root.sh(scripts.update, config_file.content)
    restarted = root.sh(
        rendering.restart_scripts(
            settings, node_0, files, drift.restart_repair(repairs, ["kubelet-config"])
        ).update
    )

    assert "is staged" in written.stderr
    assert restarted.returncode == 0, restarted.stderr
    assert Path(root.moved(config_file.path)).read_text() == config_file.content
    assert root.restarts() == 2
    assert configured.read("node-0-drift", props_for(settings)).outs["drift"] == ""


def test_the_bootstrap_kubeconfig_is_checked_as_a_secret_unless_the_stack_removes_it(
    config: Callable[..., dict[str, Any]], run: Run
) -> None:
    kept = run(config(nodes=1)).named("node-0-drift")
    removed = run(config(nodes=1, bootstrapToken={"removeKubeconfig": True})).named("node-0-drift")

    bootstrap = kept.inputs["bootstrap"]
    assert (bootstrap["key"], bootstrap["path"], bootstrap["secret"]) == (
        "bootstrap-kubeconfig",
        "/etc/kubernetes/kubelet-bootstrap.kubeconfig",
        True,
    )
    assert "bootstrap" in {path.split(".")[0] for path in kept.secret_paths}
    assert kept.additional_secret_outputs == ["bootstrap"]
    assert removed.inputs.get("bootstrap") is None
