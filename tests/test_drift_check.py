"""Drift seen by refresh (issue 16, part 2): the probe script on a node root, and the judgement.

The probe runs with `sh` on a node whose kubelet the stack started (tests/node_root.py); what
it prints is parsed and judged as the refresh does, so a file edited there is found by its real
sha256, not a stand-in's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.node import drift_check, rendering
from components.node.drift_check import KUBELET, Finding, Observation, WrittenFile
from components.settings.model import Settings
from tests.factories import BuildSettings
from tests.node_root import NodeRoot, restart_script, started_node, write_files

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64


@pytest.fixture
def started(tmp_path: Path, build: BuildSettings) -> tuple[NodeRoot, Settings]:
    """A node whose kubelet the stack started healthy."""
    settings = build()
    return started_node(tmp_path / "node", settings), settings


def written(settings: Settings) -> list[WrittenFile]:
    return [
        WrittenFile(f.key, f.path, f.sha256)
        for f in rendering.node_files(settings, settings.nodes[0])
    ]


def observe(node: NodeRoot, settings: Settings) -> Observation:
    """The probe on `node`, its paths moved under the node's root as the scripts' are."""
    script = drift_check.probe_script(
        "node-0",
        [f.path for f in written(settings)],
        rendering.started_record(settings.kubelet),
        settings.kubelet.unit_name,
    )
    result = node.sh(script)
    assert result.returncode == 0, result.stderr
    observed = drift_check.parse(result.stdout)
    # Back to the paths the stack knows: the node root moved them.
    prefix = str(node.root)
    return Observation(
        {path.removeprefix(prefix): sum_ for path, sum_ in observed.files.items()},
        None
        if observed.started is None
        else {path.removeprefix(prefix): sum_ for path, sum_ in observed.started.items()},
        observed.kubelet_state,
    )


def judge(node: NodeRoot, settings: Settings) -> list[Finding]:
    return drift_check.findings(written(settings), observe(node, settings), "kubelet.service")


def test_a_node_as_the_stack_left_it_has_no_drift(started: tuple[NodeRoot, Settings]) -> None:
    node, settings = started

    observed = observe(node, settings)

    assert observed.kubelet_state == "active"
    assert set(observed.files.values()) == {f.sha256 for f in written(settings)}
    assert observed.started == {f.path: f.sha256 for f in written(settings)}
    assert judge(node, settings) == []


def test_an_edited_config_is_found_by_its_path_and_sha256(
    started: tuple[NodeRoot, Settings],
) -> None:
    node, settings = started
    config = Path(node.moved(settings.kubelet.config_file))
    config.write_text(config.read_text() + "# tuned by hand\n")

    [finding] = judge(node, settings)

    expected = next(f for f in written(settings) if f.key == "kubelet-config")
    assert finding.key == "kubelet-config"
    assert finding.what.startswith(f"{settings.kubelet.config_file} was changed on the node")
    assert f"the stack wrote {expected.sha256[:12]}" in finding.what


def test_a_removed_unit_and_a_stopped_kubelet_are_both_found(
    started: tuple[NodeRoot, Settings],
) -> None:
    node, settings = started
    Path(node.moved(settings.kubelet.unit_file)).unlink()
    node.active.unlink()  # systemctl stop, as the stub keeps it

    found = judge(node, settings)

    assert found == [
        Finding("kubelet-unit", f"{settings.kubelet.unit_file} is missing"),
        Finding(KUBELET, "the kubelet the stack started (kubelet.service) is inactive"),
    ]


def test_a_new_version_waiting_for_its_batch_is_not_drift(
    started: tuple[NodeRoot, Settings], build: BuildSettings
) -> None:
    """The stack wrote maxPods 110, staged: the live file is the one the kubelet started with."""
    node, _ = started
    new = build(kubelet={"maxPods": 110})
    write_files(node, new, "update")

    assert judge(node, new) == []
    # Once the batch's restart put it in place, the new one is expected.
    assert node.sh(restart_script(new)).returncode == 0
    assert judge(node, new) == []


def test_a_kubelet_the_stack_never_started_is_not_missed() -> None:
    """Without the record of a healthy start (a first start whose gate failed), a stopped
    kubelet is no drift: `pulumi up` already failed on it."""
    observed = Observation({"/etc/a": SHA_A}, None, "failed")

    assert drift_check.findings([WrittenFile("a", "/etc/a", SHA_A)], observed, "k") == []


def test_a_secret_files_sha256_is_never_said() -> None:
    files = [
        WrittenFile("bootstrap-kubeconfig", "/etc/b", SHA_A, secret=True),
        WrittenFile("ca", "/etc/ca", SHA_C),
    ]
    observed = Observation({"/etc/b": SHA_B, "/etc/ca": SHA_B}, {}, "active")

    found = drift_check.findings(files, observed, "k")

    assert found[0] == Finding("bootstrap-kubeconfig", "/etc/b was changed on the node")
    assert "bbbbbbbbbbbb" in found[1].what
    assert SHA_A[:12] not in drift_check.describe("node-0", found)


def test_a_missing_file_is_found() -> None:
    observed = Observation({"/etc/b": None}, {"/etc/b": SHA_A}, "active")

    assert drift_check.findings([WrittenFile("ca", "/etc/b", SHA_A)], observed, "k") == [
        Finding("ca", "/etc/b is missing")
    ]


def test_the_description_names_the_node_and_every_finding() -> None:
    found = [Finding("ca", "/etc/ca is missing"), Finding(KUBELET, "the kubelet is failed")]

    said = drift_check.describe("node-3", found)

    assert said == (
        "node-3: /etc/ca is missing; the kubelet is failed: the next `pulumi up` puts it back"
    )
    assert drift_check.describe("node-3", []) == ""


def test_an_answer_cut_short_is_refused() -> None:
    with pytest.raises(ValueError, match="no kubelet state"):
        drift_check.parse(f"file {SHA_A} /etc/a\n")
    observed = drift_check.parse(f"Welcome!\nfile {SHA_A} /etc/a\nkubelet active\n")
    with pytest.raises(ValueError, match="says nothing of /etc/b"):
        drift_check.findings([WrittenFile("b", "/etc/b", SHA_A)], observed, "k")
