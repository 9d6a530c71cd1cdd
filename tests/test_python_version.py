"""The program, `make plan`, `make bench` and `make test` run on the oldest Python allowed.

Ubuntu 22.04's python3 is 3.10, and every pinned dependency installs there. vermin knows in
which version each construct and standard-library name appeared (`datetime.UTC`,
`typing.Self`, `tomllib`, `except*`, ...), so a newer one fails this test rather than the
program's import on a user's machine. The lab is checked too: `make test` imports parts of
it (the e2e collection rule, the builder's rebuild logic).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def oldest_python() -> str:
    [version] = re.findall(r'^requires-python = ">=(3\.\d+)"$', PYPROJECT, re.MULTILINE)
    return version


def vermin(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, vermin; sys.exit(vermin.main())",
            "--no-tips",
            "--violations",
            "--eval-annotations",
            f"--target={oldest_python()}-",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_requires_python_is_3_10_and_ruff_targets_the_same_version() -> None:
    assert oldest_python() == "3.10"
    [target] = re.findall(r'^target-version = "py(\d+)"$', PYPROJECT, re.MULTILINE)
    assert target == oldest_python().replace(".", "")


def test_no_construct_is_newer_than_the_oldest_python() -> None:
    roots = [
        ROOT / "__main__.py",
        *(ROOT / directory for directory in ("components", "offline", "bench", "tests", "tools")),
        *sorted((ROOT / "lab").glob("*.py")),
    ]
    result = vermin(*roots)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("import datetime\nnow = datetime.datetime.now(datetime.UTC)\n", "'datetime.UTC' member"),
        ("from typing import Self\n", "'typing.Self' member"),
        ("import tomllib\n", "'tomllib' module"),
        pytest.param(
            "try:\n    pass\nexcept* ValueError:\n    pass\n",
            "`except*`",
            marks=pytest.mark.skipif(
                sys.version_info < (3, 11),
                reason="vermin parses with the running Python, which cannot parse except*",
            ),
        ),
    ],
    ids=["datetime-utc", "typing-self", "tomllib", "except-star"],
)
def test_the_check_fails_on_a_newer_construct(tmp_path: Path, source: str, named: str) -> None:
    module = tmp_path / "newer.py"
    module.write_text(source)
    result = vermin(module)
    assert result.returncode != 0
    assert f"{named} requires !2, 3.11" in result.stdout, result.stdout + result.stderr
