"""Long-running lab processes: started detached with a log and a pid file, stopped by pid file.

The lab's daemons (etcd, kube-apiserver, kube-controller-manager) must outlive the command that
started them, so `make e2e` can reuse a running control plane, and `down` must find them after
a crash: the pid file next to the log is the one record of each.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lab.unit_processes import is_alive, wait_gone


class LabError(RuntimeError):
    """A lab step failed; the message says which and where its log is."""


def start(name: str, argv: Sequence[str], run_dir: Path, env: dict[str, str] | None = None) -> int:
    """Start `argv` detached in a session of its own, output appended to `<run_dir>/<name>.log`.

    A short-lived `sh` launches it in the background and exits, so the daemon belongs to no
    Python object (nothing warns when one is collected) and lives on after this process.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    launcher = subprocess.run(
        ["sh", "-c", 'exec setsid "$@" </dev/null >>"$LAB_LOG" 2>&1 & echo $!', "sh", *argv],
        env={**(os.environ if env is None else env), "LAB_LOG": str(run_dir / f"{name}.log")},
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(launcher.stdout)
    (run_dir / f"{name}.pid").write_text(f"{pid}\n")
    return pid


def running(name: str, run_dir: Path) -> int | None:
    """The pid of `name` if its pid file names a live process."""
    try:
        pid = int((run_dir / f"{name}.pid").read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def stop(name: str, run_dir: Path, grace_seconds: float = 10) -> None:
    """Stop `name`'s whole process group: TERM, then KILL after the grace period. Returns once
    the process is gone, so that a restart finds its ports free."""
    pid = running(name, run_dir)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and is_alive(pid):
            time.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)
        wait_gone([pid], grace_seconds)
    (run_dir / f"{name}.pid").unlink(missing_ok=True)


def wait_until(
    what: str, ready: Callable[[], bool], timeout_seconds: float, log: Path | None = None
) -> None:
    """Poll `ready` until it is true; on timeout raise naming `what` and the log's tail."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    tail = ""
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        tail = f"; last lines of {log}:\n{tail}"
    raise LabError(f"{what} not ready after {timeout_seconds:.0f}s{tail}")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
