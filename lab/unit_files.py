"""A lab node's systemd unit files, for its systemctl stand-in: reading a unit and its drop-ins
as systemd does, and the links that enable, disable or mask it.

Runs inside a node (see lab/node_services.py), so it uses the standard library only. Only
/etc/systemd/system is read; `EnvironmentFile=` is ignored and ExecStart gets no `$VAR`
expansion. `Restart=` and `RestartSec=` are read for the supervisor (lab/unit_processes.py).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

UNIT_DIR = Path("/etc/systemd/system")
UNIT_TYPES = ("service", "socket", "target", "swap", "mount", "automount", "timer", "path", "slice")


class UnitError(Exception):
    """A unit cannot be used; carries systemctl's exit code for the failure."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Unit:
    """What the stand-in uses of a unit file and its drop-ins."""

    name: str
    path: Path
    description: str = ""
    exec_start: tuple[str, ...] = ()
    working_directory: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    wanted_by: tuple[str, ...] = ()
    restart: str = "no"
    """`Restart=`: when the supervisor starts the service again after it exited."""
    restart_seconds: float = 0.1
    """`RestartSec=`: how long it waits first (systemd's default is 100ms)."""


# --- reading --------------------------------------------------------------------------------------


def unit_name(word: str) -> str:
    """`kubelet` -> `kubelet.service`, as systemctl completes a bare name."""
    return word if "." in word else f"{word}.service"


def unit_path(name: str) -> Path:
    """Where a unit's file lives in the node (only /etc/systemd/system is read)."""
    return UNIT_DIR / name


def is_masked(name: str) -> bool:
    """Whether the unit is masked (its file is a link to /dev/null)."""
    path = unit_path(name)
    return path.is_symlink() and os.readlink(path) == "/dev/null"


def logical_lines(text: str) -> Iterator[str]:
    """A unit file's lines with `\\` continuations joined and comments dropped, as systemd
    reads them."""
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line[:1] in ("#", ";") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        yield " ".join([*pending, line]).strip()
        pending = []
    if pending:
        yield " ".join(pending)


def unit_entries(text: str) -> Iterator[tuple[str, str, str]]:
    """(section, key, value) for each setting of a unit file, in file order."""
    section = ""
    for line in logical_lines(text):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line:
            key, value = line.split("=", 1)
            yield section, key.strip(), value.strip()


TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0}
TIME_UNITS |= {"h": 3600.0, "hr": 3600.0}


def parse_time_span(value: str) -> float:
    """A systemd time span in seconds: `5`, `5s`, `500ms`, `1min 30s`."""
    total, rest = 0.0, value.replace(" ", "")
    while rest:
        number = rest[: len(rest) - len(rest.lstrip("0123456789."))]
        rest = rest[len(number) :]
        unit = rest[: len(rest) - len(rest.lstrip("abcdefghijklmnopqrstuvwxyz"))]
        rest = rest[len(unit) :]
        if not number or unit not in TIME_UNITS:
            raise UnitError(f"Failed to parse time span {value!r}.", 1)
        total += float(number) * TIME_UNITS[unit]
    return total


def parse_environment(value: str) -> dict[str, str]:
    """`Environment="A=1" B=2` as a dict."""
    pairs = (word.split("=", 1) for word in shlex.split(value) if "=" in word)
    return dict(pairs)


def load_unit(name: str) -> Unit:
    """Reads a unit file and its drop-ins (`<unit>.d/*.conf`) in systemd's order; an empty
    `ExecStart=` resets the command, as kubeadm's drop-in relies on."""
    path = unit_path(name)
    if is_masked(name):
        raise UnitError(f"Unit {name} is masked.", 1)
    if not path.is_file():
        raise UnitError(f"Unit {name} not found.", 5)
    files = [path, *sorted((UNIT_DIR / f"{name}.d").glob("*.conf"))]
    description, command, workdir, restart, restart_seconds = "", "", None, "no", 0.1
    environment: dict[str, str] = {}
    wanted_by: list[str] = []
    for section, key, value in (
        entry for file in files for entry in unit_entries(file.read_text())
    ):
        match (section, key):
            case ("Unit", "Description"):
                description = value
            case ("Service", "ExecStart"):
                command = value
            case ("Service", "WorkingDirectory"):
                workdir = value.lstrip("-") or None
            case ("Service", "Environment"):
                environment.update(parse_environment(value))
            case ("Service", "Restart"):
                restart = value
            case ("Service", "RestartSec"):
                restart_seconds = parse_time_span(value)
            case ("Install", "WantedBy"):
                wanted_by += value.split()
    exec_start = tuple(shlex.split(command.lstrip("-@:+!")))
    return Unit(
        name,
        path,
        description,
        exec_start,
        workdir,
        environment,
        tuple(wanted_by),
        restart,
        restart_seconds,
    )


# --- enabling and masking -------------------------------------------------------------------------


def enable_unit(name: str) -> None:
    """`systemctl enable`: links the unit into each WantedBy target, like systemd."""
    unit = load_unit(name)
    if not unit.wanted_by:
        print(
            f"The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\n"
            f"Alias= settings in the [Install] section) for {name}.",
            file=sys.stderr,
        )
    for target in unit.wanted_by:
        link = UNIT_DIR / f"{target}.wants" / name
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(unit.path)
            print(f"Created symlink {link} → {unit.path}.", file=sys.stderr)


def wants_links(name: str) -> list[Path]:
    """The `<target>.wants/<unit>` links that enable a unit."""
    return sorted(UNIT_DIR.glob(f"*.wants/{name}"))


def wanted_units(target: str) -> list[str]:
    """The units enabled for a target: the links `systemctl enable` made in its `.wants`
    directory, which is all systemd reads at boot to know what the target pulls in."""
    wants = UNIT_DIR / f"{target}.wants"
    return sorted(link.name for link in wants.iterdir()) if wants.is_dir() else []


def disable_unit(name: str) -> None:
    """`systemctl disable`: removes the unit's WantedBy links."""
    links = wants_links(name)
    if not links and not unit_path(name).exists():
        raise UnitError(f"Unit file {name} does not exist.", 1)
    for link in links:
        link.unlink()
        print(f"Removed {link}.", file=sys.stderr)


def mask_unit(name: str) -> None:
    """`systemctl mask`: links the unit to /dev/null, refusing over a real unit file."""
    path = unit_path(name)
    if is_masked(name):
        return
    if path.exists() or path.is_symlink():
        raise UnitError(f"File {path} already exists.", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/null")
    print(f"Created symlink {path} → /dev/null.", file=sys.stderr)


def unmask_unit(name: str) -> None:
    """`systemctl unmask`: removes the /dev/null link."""
    if is_masked(name):
        unit_path(name).unlink()
        print(f"Removed {unit_path(name)}.", file=sys.stderr)


def unit_file_state(name: str) -> str:
    """enabled, disabled, static or masked, as `systemctl is-enabled` prints it."""
    if is_masked(name):
        return "masked"
    if wants_links(name):
        return "enabled"
    return "disabled" if load_unit(name).wanted_by else "static"
