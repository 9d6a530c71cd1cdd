"""What `make plan` writes under build/: each plan replaces the last, and only a plan's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from offline import plan_diff
from tests.factories import PLAN_STACK, MakePlan


def files(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


# --- each plan replaces the last --------------------------------------------------------------


def test_a_removed_node_leaves_no_directory(make_plan: MakePlan, plan_out: Path) -> None:
    assert make_plan(nodes=3) == 0
    assert make_plan(nodes=2) == 0
    assert sorted(p.name for p in (plan_out / PLAN_STACK).iterdir() if p.is_dir()) == [
        "node-0",
        "node-1",
    ]


def test_a_moved_file_leaves_no_old_copy(make_plan: MakePlan, plan_out: Path) -> None:
    assert make_plan(nodes=1) == 0
    moved = "/etc/systemd/system/k8s-kubelet.service"
    assert make_plan(nodes=1, kubelet={"unitFile": moved}) == 0
    node = plan_out / PLAN_STACK / "node-0"
    assert (node / moved.lstrip("/")).is_file()
    assert not (node / "etc/systemd/system/kubelet.service").exists()


def test_the_previous_plan_is_kept_beside_the_new_one(make_plan: MakePlan, plan_out: Path) -> None:
    assert make_plan(nodes=2) == 0
    first = files(plan_out / PLAN_STACK)
    assert make_plan(nodes=1) == 0
    assert files(plan_out / f"{PLAN_STACK}.previous") == first
    assert files(plan_out / PLAN_STACK) < first


def test_a_failed_plan_leaves_the_last_one_in_place(make_plan: MakePlan, plan_out: Path) -> None:
    assert make_plan(nodes=2) == 0
    written = files(plan_out / PLAN_STACK)
    assert make_plan(nodes=2, apiServer="not a url") == 2
    assert files(plan_out / PLAN_STACK) == written
    assert not (plan_out / f"{PLAN_STACK}.previous").exists()


# --- only a plan's own directory is cleared ---------------------------------------------------


def refused(capsys: pytest.CaptureFixture[str], directory: Path) -> str:
    header, *reason = capsys.readouterr().err.splitlines()
    assert header == f"plan for stack {PLAN_STACK!r} failed:"
    assert str(directory) in reason[0]
    return reason[0]


@pytest.mark.parametrize("which", [PLAN_STACK, f"{PLAN_STACK}.previous"])
def test_a_directory_the_plan_did_not_write_is_left_alone(
    make_plan: MakePlan, plan_out: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    foreign = plan_out / which / "keep-me"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("not a plan\n")

    assert make_plan(nodes=1) == 2

    assert "not a plan directory" in refused(capsys, foreign.parent)
    assert files(plan_out) == {f"{which}/keep-me"}


def test_the_plan_of_another_stack_is_left_alone(
    make_plan: MakePlan, plan_out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stack may be named `t.previous`: its plan is not the previous plan of stack `t`."""
    assert make_plan(nodes=1, stack=f"{PLAN_STACK}.previous") == 0
    before = files(plan_out)

    assert make_plan(nodes=1) == 2

    assert "plan of stack 't.previous'" in refused(capsys, plan_out / f"{PLAN_STACK}.previous")
    assert files(plan_out) == before


def test_a_file_where_the_plan_goes_is_left_alone(
    make_plan: MakePlan, plan_out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_out.mkdir()
    (plan_out / PLAN_STACK).write_text("a file, not a directory\n")

    assert make_plan(nodes=1) == 2

    refused(capsys, plan_out / PLAN_STACK)
    assert (plan_out / PLAN_STACK).read_text() == "a file, not a directory\n"


def test_a_link_where_the_plan_goes_is_left_alone(
    make_plan: MakePlan, plan_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert make_plan(nodes=1) == 0
    elsewhere = tmp_path / "elsewhere"
    (plan_out / PLAN_STACK).rename(elsewhere)
    (plan_out / PLAN_STACK).symlink_to(elsewhere)
    kept = files(elsewhere)

    assert make_plan(nodes=2) == 2

    refused(capsys, plan_out / PLAN_STACK)
    assert (plan_out / PLAN_STACK).is_symlink()
    assert files(elsewhere) == kept


# --- what runs on each node ---------------------------------------------------------------------

# The node's preparation, the kubelet's start, and its stop (the start command's delete).
NODE_SCRIPTS = ("prepare.create", "start-kubelet.create", "start-kubelet.delete")


def test_each_remote_commands_scripts_are_written_per_node(
    make_plan: MakePlan, plan_out: Path, config: Callable[..., dict[str, Any]], run: Callable
) -> None:
    assert make_plan(nodes=2) == 0

    recording = run(config(nodes=2), stack=PLAN_STACK)
    expected = {
        f"{command.parent.split('::')[-1]}/commands/{command.name}.{script}.sh": text
        for command in recording.of_type("command:remote:Command")
        for script, text in command.inputs.items()
        if script in ("create", "update", "delete")
    }
    written = {
        name: (plan_out / PLAN_STACK / name).read_text() for name in files(plan_out / PLAN_STACK)
    }
    assert {name: written.get(name) for name in expected} == expected
    for node in ("node-0", "node-1"):
        scripts = {name for name in expected if name.startswith(f"{node}/")}
        assert {f"{node}/commands/{node}-{script}.sh" for script in NODE_SCRIPTS} <= scripts
    assert "systemctl disable --now" in written["node-1/commands/node-1-start-kubelet.delete.sh"]


# --- comparing with the previous plan -----------------------------------------------------------


def compared(capsys: pytest.CaptureFixture[str]) -> str:
    """What the plan printed after the line saying what it wrote: the comparison, if any."""
    out = capsys.readouterr().out
    return out.split("\nwrote ", 1)[1].split("\n", 1)[1].lstrip("\n")


def node(index: int, address: str) -> dict[str, str]:
    return {"name": f"node-{index}", "address": address}


def test_diff_shows_each_added_removed_and_changed_file(
    make_plan: MakePlan, plan_out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert make_plan(nodes=[node(0, "10.0.0.1"), node(1, "10.0.0.2")]) == 0
    capsys.readouterr()

    assert make_plan("--diff", nodes=[node(0, "10.0.0.9"), node(2, "10.0.0.3")]) == 0

    diff = compared(capsys)
    config = "etc/kubernetes/kubelet-config.yaml"
    assert f"--- /dev/null\n+++ t/node-2/{config}\n@@ -0,0 +1," in diff
    assert f"--- t.previous/node-1/{config}\n+++ /dev/null\n@@ -1," in diff
    assert f"--- t.previous/node-0/{config}\n+++ t/node-0/{config}\n@@ " in diff
    assert "\n-address: 10.0.0.1\n+address: 10.0.0.9\n" in diff
    restart = "commands/node-0-restart-kubelet.update.sh"
    assert f"--- t.previous/node-0/{restart}\n+++ t/node-0/{restart}\n" in diff
    assert "node-0-start-kubelet" not in diff
    assert "t/node-0/etc/kubernetes/cert/ca.pem" not in diff
    per_node = len(files(plan_out / PLAN_STACK / "node-0"))
    summary = diff.rstrip().splitlines()[-1]
    assert summary.startswith(f"since the previous plan: {per_node} added, {per_node} removed, ")


def test_diff_shows_nothing_when_nothing_changed(
    make_plan: MakePlan, capsys: pytest.CaptureFixture[str]
) -> None:
    assert make_plan(nodes=2) == 0
    capsys.readouterr()

    assert make_plan("--diff", nodes=2) == 0

    assert compared(capsys) == "no file changed since the previous plan\n"


def test_diff_says_when_there_is_no_previous_plan(
    make_plan: MakePlan, capsys: pytest.CaptureFixture[str]
) -> None:
    assert make_plan("--diff", nodes=1) == 0

    assert compared(capsys) == "no previous plan of stack 't' to compare with\n"


def test_without_diff_the_plan_prints_no_comparison(
    make_plan: MakePlan, capsys: pytest.CaptureFixture[str]
) -> None:
    assert make_plan(nodes=1) == 0
    capsys.readouterr()

    assert make_plan(nodes=2) == 0

    assert compared(capsys) == ""


def test_diff_names_a_file_even_when_it_has_no_line_to_show(tmp_path: Path) -> None:
    previous, plan_now = tmp_path / "t.previous", tmp_path / "t"
    for directory in (previous, plan_now):
        directory.mkdir()
    (previous / "kept").write_text("same\n")
    (plan_now / "kept").write_text("same")
    (plan_now / "empty").write_text("")

    assert plan_diff.compare(previous, plan_now).splitlines() == [
        "--- /dev/null",
        "+++ t/empty",
        "--- t.previous/kept",
        "+++ t/kept",
        "since the previous plan: 1 added, 0 removed, 1 changed",
    ]
