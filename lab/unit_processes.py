"""A lab node's running units, for its systemctl stand-in: a unit's ExecStart started detached
with its output in the unit's log, its main pid recorded, and its process group stopped.

Runs inside a node (see lab/node_services.py), so it uses the standard library only. There is
no supervisor: `Restart=` is ignored, no exit status is kept, and a dead main process reads as
`inactive`. The host side (lab/nodes.py) shares the process helpers.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from lab.unit_files import Unit, UnitError, load_unit

# In the node's root: the running units' pid files and their output.
SERVICE_RUN_DIR = Path("/run/lab-systemd")
UNIT_LOG_DIR = Path("/var/log/lab-units")

SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROCESS_STOP_TIMEOUT = 10.0


# --- processes ------------------------------------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    """A process's /proc stat fields after its name (state first), or None once it is gone or a
    zombie, which is as good as gone since nobody may ever reap it."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields


def is_alive(pid: int) -> bool:
    """Whether a process still runs (zombies do not count)."""
    return proc_stat(pid) is not None


def wait_gone(pids: Sequence[int], timeout: float) -> bool:
    """Waits until none of the processes runs; False on timeout."""
    deadline = time.monotonic() + timeout
    while any(is_alive(pid) for pid in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def process_group(pgid: int) -> list[int]:
    """The live processes of a process group (a service and everything it started)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields is not None and fields[2] == str(pgid):
                members.append(int(entry.name))
    return members


# --- unit logs ------------------------------------------------------------------------------------


def now() -> str:
    """A UTC timestamp with milliseconds, for logs read by tests."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def unit_log(name: str) -> Path:
    """The unit's output, which `journalctl -u` shows."""
    return UNIT_LOG_DIR / f"{name}.log"


def append_unit_log(name: str, message: str) -> None:
    """Adds a line of the stand-in's own to the unit's log, as systemd's journal would."""
    UNIT_LOG_DIR.mkdir(parents=True, exist_ok=True)
    with unit_log(name).open("a") as log:
        log.write(f"{now()} lab-systemd: {name}: {message}\n")


# --- services -------------------------------------------------------------------------------------


def pid_file(name: str) -> Path:
    """Where the stand-in keeps a running unit's main pid and start time (in the node's /run)."""
    return SERVICE_RUN_DIR / f"{name}.pid"


def main_pid(name: str) -> int | None:
    """The unit's main pid if that very process (same start time) still runs."""
    try:
        pid_text, started = pid_file(name).read_text().split()
    except (OSError, ValueError):
        return None
    fields = proc_stat(int(pid_text))
    return int(pid_text) if fields is not None and fields[19] == started else None


def service_environment(unit: Unit) -> dict[str, str]:
    """A service's environment as systemd gives it: a fixed PATH, not the SSH session's."""
    return {"PATH": SERVICE_PATH, "LANG": "C.UTF-8", **unit.environment}


def spawn_service(unit: Unit) -> None:
    """Starts the unit's ExecStart detached (own session, so it outlives the SSH session), its
    output appended to the unit's log and its pid recorded. A failure to exec is logged, not
    returned, as systemd does for a Type=simple service."""
    workdir = unit.working_directory or "/"
    if not Path(workdir).is_dir():
        append_unit_log(
            unit.name,
            f"Changing to the requested working directory failed: "
            f"{workdir}: No such file or directory (status=200/CHDIR)",
        )
        return
    append_unit_log(unit.name, f"Starting: {shlex.join(unit.exec_start)}")
    with unit_log(unit.name).open("ab") as log:
        try:
            process = subprocess.Popen(
                unit.exec_start,
                cwd=workdir,
                env=service_environment(unit),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            append_unit_log(unit.name, f"Failed to execute: {error} (status=203/EXEC)")
            return
    fields = proc_stat(process.pid)
    SERVICE_RUN_DIR.mkdir(parents=True, exist_ok=True)
    pid_file(unit.name).write_text(f"{process.pid} {fields[19] if fields else 0}\n")


def start_unit(name: str) -> None:
    """`systemctl start`: does nothing when the unit already runs."""
    unit = load_unit(name)
    if not unit.exec_start:
        raise UnitError(f"Unit {name} has a bad unit file setting (no ExecStart=).", 1)
    if main_pid(name) is None:
        spawn_service(unit)


def stop_unit(name: str) -> None:
    """`systemctl stop`: TERM to the service's process group, KILL after a timeout, and waits
    until the group is gone."""
    pid = main_pid(name)
    if pid is not None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            if wait_gone(process_group(pid), PROCESS_STOP_TIMEOUT):
                break
        append_unit_log(name, "Stopped.")
    pid_file(name).unlink(missing_ok=True)


def restart_unit(name: str) -> None:
    """`systemctl restart`: stop (if running), then start."""
    load_unit(name)
    stop_unit(name)
    start_unit(name)
