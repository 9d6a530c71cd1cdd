"""The lab's builder rebuilds a binary only when what it is built from changed.

No Go and no lab here: the build step is a recorder, so `make test` stays independent of the
lab while the one piece of its logic that decides what to rebuild is tested.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import build


@pytest.fixture
def lab_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAB_DIR", str(tmp_path / "lab"))
    return tmp_path / "lab"


def _target(source: Path, pins: dict, built: list[str]) -> build.Target:
    def make(_: dict) -> None:
        built.append(pins["version"])
        (source.parent / "lab" / "bin" / "tool").write_text("binary")

    output = source.parent / "lab" / "bin" / "tool"
    return build.Target("tool", (output,), pins, (source,), make)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    directory = tmp_path / "src"
    directory.mkdir()
    (directory / "main.go").write_text("package main\n")
    return directory


def test_nothing_is_rebuilt_when_nothing_changed(lab_dir: Path, source: Path) -> None:
    built: list[str] = []
    target = _target(source, {"version": "v1"}, built)
    assert build.build(chosen=[target])[0][1] == "built"
    assert build.build(chosen=[target])[0][1] == "up to date"
    assert built == ["v1"]


def test_a_changed_pin_rebuilds(lab_dir: Path, source: Path) -> None:
    built: list[str] = []
    build.build(chosen=[_target(source, {"version": "v1"}, built)])
    build.build(chosen=[_target(source, {"version": "v2"}, built)])
    assert built == ["v1", "v2"]


def test_a_changed_source_rebuilds_and_other_files_do_not(lab_dir: Path, source: Path) -> None:
    built: list[str] = []
    target = _target(source, {"version": "v1"}, built)
    build.build(chosen=[target])
    (source / "README.md").write_text("notes do not change the binary\n")
    build.build(chosen=[target])
    (source / "main.go").write_text("package main\n\nfunc main() {}\n")
    build.build(chosen=[target])
    assert built == ["v1", "v1"]


def test_a_missing_binary_is_rebuilt_and_force_rebuilds(lab_dir: Path, source: Path) -> None:
    built: list[str] = []
    target = _target(source, {"version": "v1"}, built)
    build.build(chosen=[target])
    target.outputs[0].unlink()
    build.build(chosen=[target])
    build.build(force=True, chosen=[target])
    assert built == ["v1", "v1", "v1"]


def test_every_pinned_target_names_its_outputs() -> None:
    pins = build.load_pins()
    names = {output.name for target in build.targets(pins) for output in target.outputs}
    assert {"pulumi", "kube-apiserver", "kubelet", "etcd", "pulumi-resource-kubernetes"} <= names
    assert set(pins["plugins"]) == {"kubernetes", "command", "random"}
