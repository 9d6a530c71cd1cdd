"""A lab node's running units, for its systemctl stand-in: a supervisor per started unit runs
its ExecStart detached, with its output in the unit's log and its main pid recorded, starts it
again as `Restart=` and `RestartSec=` say (counting `NRestarts`), and stops its process group.

Runs inside a node (see lab/node_services.py), so it uses the standard library only. The
supervisor re-reads the unit before each automatic restart, as if `daemon-reload` had run
(the stand-in's is a no-op). The host side (lab/nodes.py) shares the process helpers.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from lab.unit_files import Unit, UnitError, load_unit, wanted_units

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

FIRST_START_TIMEOUT = 10.0
# Restart= values and whether each starts the service again after an exit with `returncode`
# (Popen's: negative for a signal).
RESTART_POLICIES = {
    "no": lambda returncode: False,
    "always": lambda returncode: True,
    "on-failure": lambda returncode: returncode != 0,
    "on-abnormal": lambda returncode: returncode < 0,
}


def pid_file(name: str) -> Path:
    """Where the stand-in keeps a running unit's main pid and start time (in the node's /run)."""
    return SERVICE_RUN_DIR / f"{name}.pid"


def supervisor_file(name: str) -> Path:
    """Where a started unit's supervisor keeps its own pid and start time."""
    return SERVICE_RUN_DIR / f"{name}.supervisor"


def restarts_file(name: str) -> Path:
    """The unit's NRestarts: automatic restarts since it was last started on request."""
    return SERVICE_RUN_DIR / f"{name}.restarts"


def recorded_pid(path: Path) -> int | None:
    """The pid in a pid file if that very process (same start time) still runs."""
    try:
        pid_text, started = path.read_text().split()
    except (OSError, ValueError):
        return None
    fields = proc_stat(int(pid_text))
    return int(pid_text) if fields is not None and fields[19] == started else None


def record_pid(path: Path, pid: int) -> None:
    fields = proc_stat(pid)
    SERVICE_RUN_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {fields[19] if fields else 0}\n")


def main_pid(name: str) -> int | None:
    """The unit's main pid if that very process still runs."""
    return recorded_pid(pid_file(name))


def supervisor_pid(name: str) -> int | None:
    """The pid of the unit's supervisor if it still runs: the unit is active or activating."""
    return recorded_pid(supervisor_file(name))


def restart_count(name: str) -> int:
    try:
        return int(restarts_file(name).read_text())
    except (OSError, ValueError):
        return 0


def active_state(name: str) -> str:
    """active (its main process runs), activating (waiting to restart it) or inactive."""
    if main_pid(name) is not None:
        return "active"
    return "activating" if supervisor_pid(name) is not None else "inactive"


def service_environment(unit: Unit) -> dict[str, str]:
    """A service's environment as systemd gives it: a fixed PATH, not the SSH session's."""
    return {"PATH": SERVICE_PATH, "LANG": "C.UTF-8", **unit.environment}


def spawn_service(unit: Unit) -> subprocess.Popen[bytes] | None:
    """Starts the unit's ExecStart in a session of its own, its output appended to the unit's
    log and its pid recorded. A failure to exec is logged, and None returned."""
    workdir = unit.working_directory or "/"
    if not Path(workdir).is_dir():
        append_unit_log(
            unit.name,
            f"Changing to the requested working directory failed: "
            f"{workdir}: No such file or directory (status=200/CHDIR)",
        )
        return None
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
            return None
    record_pid(pid_file(unit.name), process.pid)
    return process


def stop_group(pid: int) -> None:
    """TERM to a service's process group, KILL after a timeout; waits until it is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        if wait_gone(process_group(pid), PROCESS_STOP_TIMEOUT):
            return


def exit_message(returncode: int) -> str:
    """How systemd's journal tells a main process's exit."""
    if returncode < 0:
        number = -returncode
        name = signal.Signals(number).name.removeprefix("SIG")
        return f"Main process exited, code=killed, status={number}/{name}"
    return f"Main process exited, code=exited, status={returncode}"


def supervise(name: str) -> None:
    """Runs the unit's service and, as its Restart= says, again after RestartSec= each time it
    exits, until SIGTERM stops it (and the service). Tells its starter that the first start
    was tried by one line on stdout."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None:
            stop_group(child.pid)

    signal.signal(signal.SIGTERM, stop)
    record_pid(supervisor_file(name), os.getpid())
    unit = load_unit(name)
    told = False
    while not stopping:
        child = spawn_service(unit)
        if child is not None and stopping:
            stop_group(child.pid)
        if not told:
            print("tried", flush=True)
            told = True
        returncode = child.wait() if child is not None else 203
        pid_file(name).unlink(missing_ok=True)
        if stopping:
            break
        if child is not None:
            append_unit_log(name, exit_message(returncode))
        if not RESTART_POLICIES.get(unit.restart, RESTART_POLICIES["no"])(returncode):
            break
        count = restart_count(name) + 1
        append_unit_log(name, f"Scheduled restart job, restart counter is at {count}.")
        time.sleep(unit.restart_seconds)
        restarts_file(name).write_text(f"{count}\n")
        try:
            unit = load_unit(name)
        except UnitError as error:
            append_unit_log(name, str(error))
            break
    supervisor_file(name).unlink(missing_ok=True)


def start_unit(name: str) -> None:
    """`systemctl start`: does nothing when the unit already runs (or waits to restart);
    returns once its ExecStart was tried, as systemd does for a Type=simple service."""
    unit = load_unit(name)
    if not unit.exec_start:
        raise UnitError(f"Unit {name} has a bad unit file setting (no ExecStart=).", 1)
    if main_pid(name) is not None or supervisor_pid(name) is not None:
        return
    SERVICE_RUN_DIR.mkdir(parents=True, exist_ok=True)
    restarts_file(name).write_text("0\n")
    package_root = str(Path(__file__).resolve().parent.parent)
    code = (
        f"import sys; sys.path.insert(0, {package_root!r}); "
        f"from lab.unit_processes import supervise; supervise({name!r})"
    )
    UNIT_LOG_DIR.mkdir(parents=True, exist_ok=True)
    # Its stderr goes to the unit's log: one held open would keep the SSH session open.
    with unit_log(name).open("ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-I", "-c", code],
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
    assert supervisor.stdout is not None
    ready, _, _ = select.select([supervisor.stdout], [], [], FIRST_START_TIMEOUT)
    if not ready:
        raise UnitError(f"Job for {name} timed out (lab stand-in: its supervisor is silent).", 1)
    supervisor.stdout.close()


def stop_unit(name: str) -> None:
    """`systemctl stop`: stops the supervisor, which stops the service's process group, then
    anything of the service still there; waits until it is gone."""
    supervisor, pid = supervisor_pid(name), main_pid(name)
    if supervisor is not None:
        os.kill(supervisor, signal.SIGTERM)
        if not wait_gone([supervisor], 2 * PROCESS_STOP_TIMEOUT + 1):
            os.kill(supervisor, signal.SIGKILL)
    leftover = main_pid(name)
    if leftover is not None:
        stop_group(leftover)
    if supervisor is not None or pid is not None:
        append_unit_log(name, "Stopped.")
    pid_file(name).unlink(missing_ok=True)
    supervisor_file(name).unlink(missing_ok=True)


def restart_unit(name: str) -> None:
    """`systemctl restart`: stop (if running), then start."""
    load_unit(name)
    stop_unit(name)
    start_unit(name)


def start_at_boot(target: str = "multi-user.target") -> list[str]:
    """Starts every unit enabled for `target`, as systemd does at boot (no systemctl call, so
    none is logged); a unit that cannot start is noted in its own log and holds no other
    back. Returns the units started."""
    started = []
    for name in wanted_units(target):
        try:
            start_unit(name)
        except UnitError as error:
            append_unit_log(name, f"Failed to start at boot: {error}")
            continue
        started.append(name)
    return started
