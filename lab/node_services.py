"""A lab node's systemctl, journalctl, swapoff and swapon: the stand-ins, run inside the node.

A node has no systemd of its own and must never switch off the host's swap. So `lab.nodes`
installs this module, lab/unit_files.py and lab/unit_processes.py (standard library only) in
each node, and links those four commands to an entry script that calls `main`, which picks the
stand-in by the name it is called under. Every call is logged in the node; `daemon-reload` is
a no-op because units are read at each start.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.unit_files import (
    UNIT_DIR,
    UNIT_TYPES,
    UnitError,
    disable_unit,
    enable_unit,
    load_unit,
    mask_unit,
    unit_file_state,
    unit_name,
    unmask_unit,
)
from lab.unit_processes import (
    active_state,
    main_pid,
    now,
    restart_count,
    restart_unit,
    start_unit,
    stop_unit,
    unit_log,
)

# In the node's root: one JSON line per stand-in call, which tests read from the host.
CALL_LOG = Path("/var/log/lab-systemctl.log")


# --- logs -----------------------------------------------------------------------------------------


def log_call(argv: list[str]) -> None:
    """Appends one stand-in call to the node's call log (one JSON line; small appends are
    atomic, so concurrent sessions do not interleave)."""
    CALL_LOG.parent.mkdir(parents=True, exist_ok=True)
    with CALL_LOG.open("a") as log:
        log.write(json.dumps({"time": now(), "argv": argv}) + "\n")


def tail_lines(path: Path, count: int | None) -> list[str]:
    """The last lines of a log file (all when count is None); none if it does not exist."""
    if not path.exists():
        return []
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    return lines if count is None else lines[-count:] if count > 0 else []


# --- systemctl ------------------------------------------------------------------------------------


@dataclass
class Invocation:
    """A parsed systemctl command line."""

    verb: str
    words: list[str]
    flags: set[str]
    types: list[str]
    properties: list[str]

    @property
    def units(self) -> list[str]:
        return [unit_name(word) for word in self.words]


class UsageError(Exception):
    """A command line the stand-in does not understand; it says so rather than guess."""


SYSTEMCTL_FLAGS = {
    "--now",
    "--no-pager",
    "--quiet",
    "-q",
    "--no-legend",
    "--plain",
    "--system",
    "--no-block",
    "--full",
    "-l",
    "--no-reload",
    "--no-ask-password",
    "--value",
}


def parse_systemctl(args: list[str]) -> Invocation:
    """Splits a systemctl command line into verb, unit words, flags, `--type` and `--property`
    values."""
    words: list[str] = []
    flags: set[str] = set()
    types: list[str] = []
    properties: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg.startswith("--type="):
            types += arg.split("=", 1)[1].split(",")
        elif arg in ("--type", "-t"):
            types += next(rest, "").split(",")
        elif arg.startswith("--property="):
            properties += arg.split("=", 1)[1].split(",")
        elif arg in ("--property", "-p"):
            properties += next(rest, "").split(",")
        elif arg in SYSTEMCTL_FLAGS:
            flags.add(arg)
        elif arg.startswith("-"):
            raise UsageError(f"unrecognized option '{arg}' (lab stand-in)")
        else:
            words.append(arg)
    if not words:
        raise UsageError("no command given (lab stand-in)")
    return Invocation(
        verb=words[0], words=words[1:], flags=flags, types=types, properties=properties
    )


def for_each_unit(action: Callable[[str], None], verb: str) -> Callable[[Invocation], int]:
    """A systemctl verb that applies an action to each named unit, reporting failures the way
    systemctl does (`Failed to <verb> <unit>: <reason>`) with its exit code."""

    def handler(invocation: Invocation) -> int:
        if not invocation.units:
            raise UsageError(f"too few arguments for {verb}")
        code = 0
        for name in invocation.units:
            try:
                action(name)
            except UnitError as error:
                print(f"Failed to {verb} {name}: {error}", file=sys.stderr)
                code = error.code
        return code

    return handler


def systemctl_enable(invocation: Invocation) -> int:
    """`systemctl enable [--now]`."""
    code = for_each_unit(enable_unit, "enable")(invocation)
    if code == 0 and "--now" in invocation.flags:
        code = for_each_unit(start_unit, "start")(invocation)
    return code


def systemctl_disable(invocation: Invocation) -> int:
    """`systemctl disable [--now]`."""
    code = for_each_unit(disable_unit, "disable")(invocation)
    if "--now" in invocation.flags:
        code = for_each_unit(stop_unit, "stop")(invocation) or code
    return code


def systemctl_is_active(invocation: Invocation) -> int:
    """`systemctl is-active`: 0 when every unit runs, 3 otherwise (also while it waits to be
    restarted: activating)."""
    states = [active_state(name) for name in invocation.units]
    if "--quiet" not in invocation.flags and "-q" not in invocation.flags:
        print("\n".join(states))
    return 0 if states and all(state == "active" for state in states) else 3


def systemctl_is_enabled(invocation: Invocation) -> int:
    """`systemctl is-enabled`: 0 for enabled or static units."""
    code = 0
    for name in invocation.units:
        try:
            state = unit_file_state(name)
        except UnitError:
            print(f"Failed to get unit file state for {name}: No such file or directory")
            code = 1
            continue
        print(state)
        code = code or (0 if state in ("enabled", "static") else 1)
    return code


def systemctl_status(invocation: Invocation) -> int:
    """`systemctl status`: a short summary and the last log lines; 3 if not running, 4 if the
    unit does not exist."""
    code = 0
    for name in invocation.units:
        try:
            unit = load_unit(name)
        except UnitError:
            print(f"Unit {name} could not be found.", file=sys.stderr)
            code = 4
            continue
        pid = main_pid(name)
        state = {"active": "active (running)", "activating": "activating (auto-restart)"}
        print(f"● {name} - {unit.description or name}")
        print(f"     Loaded: loaded ({unit.path}; {unit_file_state(name)})")
        print(f"     Active: {state.get(active_state(name), 'inactive (dead)')}")
        if pid:
            print(f"   Main PID: {pid}")
        print("", *tail_lines(unit_log(name), 10), sep="\n")
        code = code or (0 if pid else 3)
    return code


def systemctl_list_unit_files(invocation: Invocation) -> int:
    """`systemctl list-unit-files [--type=T] [--no-legend]`: the node's unit files and their
    state; lab nodes have no swap units, so `--type=swap` lists nothing."""
    types = invocation.types or list(UNIT_TYPES)
    names = sorted(
        path.name
        for path in (UNIT_DIR.iterdir() if UNIT_DIR.is_dir() else [])
        if not path.is_dir() and path.suffix[1:] in types
    )
    rows = [f"{name} {unit_file_state(name)}" for name in names]
    if "--no-legend" not in invocation.flags:
        rows = ["UNIT FILE STATE", *rows, "", f"{len(rows)} unit files listed."]
    if rows:
        print(*rows, sep="\n")
    return 0


UNIT_PROPERTIES: dict[str, Callable[[str], object]] = {
    "MainPID": lambda name: main_pid(name) or 0,
    "NRestarts": restart_count,
    "ActiveState": active_state,
}


def systemctl_show(invocation: Invocation) -> int:
    """`systemctl show -p P[,Q] [--value] UNIT`: the properties the scripts read (MainPID,
    NRestarts, ActiveState), as `P=value` lines or values alone."""
    if not invocation.units or not invocation.properties:
        raise UsageError("show needs a unit and -p with MainPID, NRestarts or ActiveState")
    unknown = [name for name in invocation.properties if name not in UNIT_PROPERTIES]
    if unknown:
        raise UsageError(f"property {unknown[0]!r} is not known to the lab stand-in")
    for name in invocation.units:
        for key in invocation.properties:
            value = UNIT_PROPERTIES[key](name)
            print(value if "--value" in invocation.flags else f"{key}={value}")
    return 0


SYSTEMCTL_VERBS: dict[str, Callable[[Invocation], int]] = {
    "daemon-reload": lambda invocation: 0,
    "start": for_each_unit(start_unit, "start"),
    "stop": for_each_unit(stop_unit, "stop"),
    "restart": for_each_unit(restart_unit, "restart"),
    "enable": systemctl_enable,
    "disable": systemctl_disable,
    "mask": for_each_unit(mask_unit, "mask"),
    "unmask": for_each_unit(unmask_unit, "unmask"),
    "is-active": systemctl_is_active,
    "is-enabled": systemctl_is_enabled,
    "status": systemctl_status,
    "show": systemctl_show,
    "list-unit-files": systemctl_list_unit_files,
}


def systemctl(args: list[str]) -> int:
    """The node's systemctl: the verbs the program and the lab use, on the node's own units."""
    try:
        invocation = parse_systemctl(args)
        handler = SYSTEMCTL_VERBS.get(invocation.verb)
        if handler is None:
            raise UsageError(f"unknown command '{invocation.verb}' (lab stand-in)")
        return handler(invocation)
    except UsageError as error:
        print(f"systemctl: {error}", file=sys.stderr)
        return 1


# --- journalctl, swapoff, swapon ------------------------------------------------------------------


def parse_journalctl(args: list[str]) -> tuple[list[str], int | None]:
    """The units (`-u`) and line count (`-n`) of a journalctl command line."""
    parser = argparse.ArgumentParser(prog="journalctl", add_help=False, exit_on_error=False)
    parser.add_argument("-u", "--unit", action="append", default=[])
    parser.add_argument("-n", "--lines", type=int)
    for flag in ("--no-pager", "-q", "--quiet", "-b", "--boot", "--no-hostname"):
        parser.add_argument(flag, action="store_true")
    options, unknown = parser.parse_known_args(args)
    if unknown:
        raise UsageError(f"unsupported arguments {unknown} (lab stand-in)")
    return [unit_name(unit) for unit in options.unit], options.lines


def journalctl(args: list[str]) -> int:
    """The node's journalctl: `-u <unit> [-n N]` prints the tail of the unit's output."""
    try:
        units, count = parse_journalctl(args)
    except (UsageError, argparse.ArgumentError) as error:
        print(f"journalctl: {error}", file=sys.stderr)
        return 1
    lines = [line for name in units for line in tail_lines(unit_log(name), count)]
    print("\n".join(lines) if lines else "-- No entries --")
    return 0


def swapoff(args: list[str]) -> int:
    """The node's swapoff: a logged no-op, because the real one would act on the host's swap."""
    return 0


def swapon(args: list[str]) -> int:
    """The node's swapon: `--show` lists nothing (lab nodes have no swap); enabling is refused
    harmlessly, for the same reason as swapoff."""
    if not any(arg in ("--show", "-s", "--summary") or arg.startswith("--show=") for arg in args):
        print("swapon: lab nodes have no swap (lab stand-in)", file=sys.stderr)
    return 0


# --- dispatch -------------------------------------------------------------------------------------


STAND_INS: dict[str, Callable[[list[str]], int]] = {
    "systemctl": systemctl,
    "journalctl": journalctl,
    "swapoff": swapoff,
    "swapon": swapon,
}


def main(argv: list[str] | None = None) -> int:
    """Runs the stand-in named by the name this is called under, after logging the call."""
    argv = sys.argv if argv is None else argv
    command = Path(argv[0]).name
    stand_in = STAND_INS.get(command)
    if stand_in is None:
        print(f"lab stand-ins: unknown command name {command!r}", file=sys.stderr)
        return 2
    log_call([command, *argv[1:]])
    return stand_in(argv[1:])
