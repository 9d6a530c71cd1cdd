"""`make plan` reads Pulumi.<stack>.yaml itself: a broken file is one line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline import plan


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(plan, "PROJECT_ROOT", tmp_path)
    return tmp_path


BROKEN = {
    "unclosed-list": (
        "config:\n  kubelet-bootstrap:apiServer: https://10.0.0.10:6443\n"
        "  kubelet-bootstrap:nodes: [\n",
        "Pulumi.broken.yaml:4:1: expected the node content",
    ),
    "bad-indentation": (
        "config:\n  kubelet-bootstrap:apiServer: https://10.0.0.10:6443\n"
        " kubelet-bootstrap:caCertFile: ca.pem\n",
        "Pulumi.broken.yaml:3:2: ",
    ),
    "tab": (
        "config:\n\tkubelet-bootstrap:apiServer: https://10.0.0.10:6443\n",
        "Pulumi.broken.yaml:2:1: ",
    ),
    "not-a-mapping": ("- config\n", "Pulumi.broken.yaml: is not a mapping with a config: key"),
    "not-utf-8": ("config: caf\xe9\n", "Pulumi.broken.yaml"),
}


@pytest.mark.parametrize(("text", "expected"), BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_stack_file_is_one_line_naming_file_and_line(
    project: Path, text: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.broken.yaml").write_bytes(text.encode("latin-1"))

    status = plan.main(["--stack", "broken", "--out", str(project / "build")])

    assert status == 2
    header, line = capsys.readouterr().err.splitlines()
    assert header == "plan for stack 'broken' failed:"
    assert line.startswith(expected), line
    assert not (project / "build").exists()
