"""Rolling means rolling: a node's new files go live only in its rollout batch.

On a node whose kubelet the stack started healthy, the file commands stage a new version of a
file the kubelet restarts for; the live file stays as the last healthy start had it, so a
kubelet restarting before its batch (a crash, a reboot) finds what was proven. The node's
restart, in its batch, puts the staged files in place, restarts and passes the gate. The
scripts run with `sh` on a node root.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.node import rendering
from components.settings.loading import load_settings
from components.settings.model import Settings
from tests.factories import CLUSTER_CA, HOST_KEY, admin_kubeconfig
from tests.node_root import NodeRoot, kubelet_scripts, restart_script, started_node, write_files

BuildSettings = Callable[..., Settings]


@pytest.fixture
def build(tmp_path: Path, ssh_key: str) -> BuildSettings:
    ca = tmp_path / "ca.pem"
    ca.write_text(CLUSTER_CA.pem)

    def make(**kubelet: Any) -> Settings:
        raw = {
            "apiServer": "https://10.0.0.10:6443",
            "caCertFile": str(ca),
            "kubeconfig": admin_kubeconfig(CLUSTER_CA.pem),
            "ssh": {"privateKey": ssh_key, "hostKey": HOST_KEY},
            "cluster": {"dnsServiceIP": "10.254.0.2"},
            "nodes": [{"name": "node-0", "address": "10.0.0.1"}],
            "kubelet": kubelet,
        }
        return load_settings(raw, environ={})

    return make


def live(node: NodeRoot, settings: Settings) -> str:
    return Path(node.moved(settings.kubelet.config_file)).read_text()


def staged(node: NodeRoot, path: str) -> Path:
    return Path(node.moved(rendering.staged_path(path)))


@pytest.fixture
def started(tmp_path: Path, build: BuildSettings) -> tuple[NodeRoot, Settings]:
    """A node whose kubelet the stack started healthy with maxPods 220."""
    settings = build()
    return started_node(tmp_path / "node", settings), settings


def test_files_go_live_on_a_node_whose_kubelet_the_stack_has_not_started(
    tmp_path: Path, build: BuildSettings
) -> None:
    settings = build()
    node = NodeRoot(tmp_path / "node")

    said = write_files(node, settings, "create")

    assert "maxPods: 220" in live(node, settings)
    assert not staged(node, settings.kubelet.config_file).exists()
    assert not any("staged" in line for line in said.values())


def test_a_new_config_for_a_started_kubelet_is_staged_and_the_live_one_kept(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    node, old = started
    new = build(maxPods=110)

    said = write_files(node, new, "update")

    assert "maxPods: 220" in live(node, old)
    assert "maxPods: 110" in staged(node, new.kubelet.config_file).read_text()
    assert oct(staged(node, new.kubelet.config_file).stat().st_mode & 0o777) == "0o600"
    assert "goes live when its kubelet restarts in its rollout batch" in said["kubelet-config"]
    # Files whose content is the same are not staged.
    assert not staged(node, new.kubelet.ca_file).exists()
    assert not staged(node, new.kubelet.unit_file).exists()


def test_a_kubelet_restarted_before_its_batch_keeps_its_files(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    """A crash restarts the kubelet (systemd): nothing it reads has changed. A start run again
    (a new token, the kubelet healthy) restarts nothing and puts nothing in place either."""
    node, old = started
    new = build(maxPods=110)
    write_files(node, new, "update")

    again = node.sh(kubelet_scripts(new).update)

    assert again.returncode == 0, again.stderr
    assert node.restarts() == 1
    assert "maxPods: 220" in live(node, old)
    assert staged(node, new.kubelet.config_file).exists()


def test_the_restart_in_its_batch_puts_the_staged_files_in_place_and_restarts(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    node, _ = started
    new = build(maxPods=110)
    write_files(node, new, "update")

    result = node.sh(restart_script(new))

    assert result.returncode == 0, result.stderr
    assert f"{node.moved(new.kubelet.config_file)}: its staged version is in place" in result.stdout
    assert "maxPods: 110" in live(node, new)
    assert not staged(node, new.kubelet.config_file).exists()
    assert node.restarts() == 2
    config = next(f for f in rendering.node_files(new, new.nodes[0]) if f.key == "kubelet-config")
    record = Path(node.moved(rendering.started_record(new.kubelet))).read_text()
    assert f"sha256 {config.sha256}" in record


def test_a_rollback_before_the_batch_drops_what_was_staged(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    node, old = started
    write_files(node, build(maxPods=110), "update")

    write_files(node, old, "update")
    result = node.sh(restart_script(old))

    assert not staged(node, old.kubelet.config_file).exists()
    assert result.returncode == 0, result.stderr
    assert "not restarted" in result.stdout
    assert node.restarts() == 1


def test_a_staged_file_that_is_not_what_the_stack_staged_is_refused(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    node, old = started
    new = build(maxPods=110)
    write_files(node, new, "update")
    copy = staged(node, new.kubelet.config_file)
    copy.write_text(copy.read_text() + "readOnlyPort: 10255\n")

    result = node.sh(restart_script(new))

    assert result.returncode == 1
    assert f"{copy} on node-0 is not what the stack staged" in result.stderr
    assert "maxPods: 220" in live(node, old)
    assert node.restarts() == 1


def test_a_batch_goes_live_whole_or_not_at_all(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    """The config and the unit are staged; the unit's copy is not what the stack staged: the
    config, though it is, stays staged too."""
    node, old = started
    new = build(maxPods=110, verbosity=4)
    write_files(node, new, "update")
    unit = staged(node, new.kubelet.unit_file)
    unit.write_text(unit.read_text() + "# edited\n")

    result = node.sh(restart_script(new))

    assert result.returncode == 1
    assert f"{unit} on node-0 is not what the stack staged" in result.stderr
    assert "maxPods: 220" in live(node, old)
    assert staged(node, new.kubelet.config_file).exists()
    assert "--v=2" in Path(node.moved(old.kubelet.unit_file)).read_text()


def test_a_restart_created_with_nothing_staged_does_nothing(
    started: tuple[NodeRoot, Settings],
) -> None:
    """A new node: its start just started the kubelet with the files in place."""
    node, settings = started
    calls = len(node.calls())

    result = node.sh(restart_script(settings, created=True))

    assert result.returncode == 0, result.stderr
    assert "nothing is staged on node-0" in result.stdout
    assert node.calls()[calls:] == []


def test_a_restart_created_with_files_staged_before_it_restarts_with_them(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    """Its node's commands replaced (a new name or parent) in the update that changed a file."""
    node, _ = started
    new = build(maxPods=110)
    write_files(node, new, "update")

    result = node.sh(restart_script(new, created=True))

    assert result.returncode == 0, result.stderr
    assert "maxPods: 110" in live(node, new)
    assert node.restarts() == 2


def test_a_start_that_restarts_the_kubelet_puts_what_is_staged_in_place_first(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    """A kubelet without its client certificate is restarted by its start: with the newest
    files, which its record then names."""
    node, _ = started
    new = build(maxPods=110)
    write_files(node, new, "update")
    node.client_certificate.unlink()
    node.stub(systemctl=node.systemctl(f'[ "$1" != restart ] || {{ {node.bootstrap_command()}; }}'))

    result = node.sh(kubelet_scripts(new).update)

    assert result.returncode == 0, result.stderr
    assert "maxPods: 110" in live(node, new)
    record = Path(node.moved(rendering.started_record(new.kubelet))).read_text()
    config = next(f for f in rendering.node_files(new, new.nodes[0]) if f.key == "kubelet-config")
    assert f"sha256 {config.sha256}" in record


def test_a_file_removed_from_the_stack_takes_its_staged_version_along(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    node, _ = started
    new = build(maxPods=110)
    write_files(node, new, "update")
    config = next(f for f in rendering.node_files(new, new.nodes[0]) if f.key == "kubelet-config")
    scripts = rendering.file_scripts(
        config.path, config.mode, "node-0-kubelet-config", kubelet=new.kubelet
    )

    result = node.sh(scripts.delete, config.content)

    assert result.returncode == 0, result.stderr
    assert not staged(node, new.kubelet.config_file).exists()
