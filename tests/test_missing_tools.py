"""What a machine lacks is said in one line (issue 13, item 5): the Python packages behind
`python -m tools.*`, the Pulumi CLI behind `tools.fleet`, the test tools behind `make test`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.tools import require_tool
from tools import fleet

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter without the project's packages, as a machine's own python3 is."""
    directory = tmp_path_factory.mktemp("bare")
    venv.EnvBuilder(with_pip=False).create(directory)
    return directory / "bin" / "python"


@pytest.mark.parametrize(
    ("module", "what"),
    [
        ("tools.from_tutorial", "python -m tools"),
        ("offline.plan", "python -m offline.plan"),
        ("bench.graph", "python -m bench"),
    ],
)
def test_an_interpreter_without_the_packages_says_what_to_install(
    bare_python: Path, module: str, what: str
) -> None:
    result = subprocess.run(
        [str(bare_python), "-m", module], cwd=ROOT, capture_output=True, text=True, check=False
    )

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{what} needs pulumi, pulumi-kubernetes, pulumi-command, "), line
    assert f"which {bare_python} lacks: run `make plan` once" in line


def test_fleet_without_the_pulumi_cli_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    status = fleet.main(["preview", "--all"], stream=sys.stdout)

    assert status == 2
    assert capsys.readouterr().out == (
        "tools.fleet drives the Pulumi CLI, which is not on PATH: install it "
        "(https://www.pulumi.com/docs/iac/download-install/) or put it on PATH\n"
    )


def make_tools(tmp_path: Path, **stubs: str) -> subprocess.CompletedProcess[str]:
    """`make tools` with a PATH of `sh` and the given stubs only (no shellcheck)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sh").symlink_to(require_tool("sh"))
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    return subprocess.run(
        [make, "--no-print-directory", "tools"],
        cwd=ROOT,
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "stubs",
    [{"id": "echo 0"}, {"id": "echo 1000", "apt-get": "exit 99"}],
    ids=["no-apt-get", "not-root"],
)
def test_make_test_without_its_tools_says_which_to_install(
    tmp_path: Path, stubs: dict[str, str]
) -> None:
    result = make_tools(tmp_path, **stubs)

    assert result.returncode != 0
    assert (
        "make test runs shellcheck and systemd-analyze on what the program writes; this "
        "machine lacks: shellcheck systemd-analyze."
    ) in result.stderr
    assert "apt-get install shellcheck systemd" in result.stderr
    assert "sudo make tools" in result.stderr


def test_make_test_without_go_says_where_to_get_it(tmp_path: Path) -> None:
    result = make_tools(tmp_path, shellcheck="exit 0", **{"systemd-analyze": "exit 0"})

    assert result.returncode != 0
    assert "Go 1.22 or newer, which this machine lacks: install it from https://go.dev/dl/" in (
        result.stderr
    )
