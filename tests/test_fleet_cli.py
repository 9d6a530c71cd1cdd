"""The CLIs tools.fleet starts run in a session of their own, and get Ctrl-C from it alone
(`tools.fleet_cli`): proven with a stand-in `pulumi` on PATH that logs each SIGINT."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tools import fleet_cli

FAKE_PULUMI = """#!/bin/sh
if [ "$1" = version ]; then echo v3.272.0; exit 0; fi
got=0
trap 'got=$((got + 1)); echo "SIGINT $got" >> {log}; [ "$got" -lt 2 ] || exit 255' INT
echo started >> {log}
while :; do sleep 0.1; done
"""


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "cli.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(FAKE_PULUMI.format(log=log))
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def wait_for(what: str, done, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_cli_runs_in_its_own_session_and_gets_each_ctrl_c_once(
    fake_cli: Path, tmp_path: Path
) -> None:
    command = fleet_cli.session_command(tmp_path / "wrapper")  # runs `pulumi version` through it
    failures: list[BaseException] = []

    def up() -> None:
        try:
            command.run(["up", "--yes", "--stack", "alpha"], str(tmp_path), {})
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=up, daemon=True)
    thread.start()
    wait_for(
        "the CLI started", lambda: "started" in (fake_cli.read_text() if fake_cli.exists() else "")
    )
    pids = fleet_cli.cli_pids("alpha")
    try:
        assert len(pids) == 1 and fleet_cli.cli_pids("beta") == []
        # Not in this process's session: a terminal's Ctrl-C does not reach it.
        assert os.getsid(pids[0]) != os.getsid(0)
        fleet_cli.interrupt(pids)
        wait_for("the first SIGINT", lambda: "SIGINT 1" in fake_cli.read_text())
        assert not fleet_cli.exited(pids, timeout=0.5), "one Ctrl-C cancels; it does not kill"
        fleet_cli.interrupt(pids)
        assert fleet_cli.exited(pids, timeout=10)
        thread.join(10)
        assert fake_cli.read_text().splitlines() == ["started", "SIGINT 1", "SIGINT 2"]
        assert len(failures) == 1
    finally:
        for pid in fleet_cli.cli_pids("alpha"):  # a failed test leaves no stand-in running
            os.kill(pid, signal.SIGKILL)
