"""The Pulumi CLIs `tools.fleet` starts: each in a session of its own, so that a Ctrl-C reaches
tools.fleet alone, which hands it to each CLI exactly once (and once more to stop it).

A Ctrl-C at a terminal goes to the whole foreground process group; a `kill -INT` or a CI
runner's cancel goes to tools.fleet only. Started in their own session, the CLIs get neither,
and tools.fleet forwards the signal itself in both cases: a CLI never gets a second SIGINT by
accident (which would make it terminate instead of cancelling cleanly), nor none at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from pulumi import automation as auto

WRAPPER = """#!/bin/sh
# Written by tools.fleet: the Pulumi CLI in a session of its own (see tools/fleet_cli.py).
exec {python} -c 'import os, sys; os.setsid(); os.execv(sys.argv[1], sys.argv[1:])' {pulumi} "$@"
"""


def session_command(directory: Path) -> auto.PulumiCommand:
    """A PulumiCommand whose CLI runs in its own session, through a wrapper in `directory`."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise FileNotFoundError("the Pulumi CLI is not on PATH")
    wrapper = directory / "bin" / "pulumi"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(WRAPPER.format(python=_quoted(sys.executable), pulumi=_quoted(pulumi)))
    wrapper.chmod(0o755)
    return auto.PulumiCommand(root=str(directory))


def cli_pids(stack: str) -> list[int]:
    """The pids of this process's Pulumi CLIs running an operation on `stack`."""
    listing = subprocess.run(
        # -ww: the whole command line, whatever the width of the terminal (or COLUMNS).
        ["ps", "-A", "-ww", "-o", "pid=,ppid=,args="],
        capture_output=True,
        text=True,
        check=False,
    )
    pids = []
    for line in listing.stdout.splitlines():
        pid, ppid, *args = line.split(maxsplit=2)
        words = args[0].split() if args else []
        if int(ppid) == os.getpid() and "--stack" in words and _stack_after(words) == stack:
            pids.append(int(pid))
    return pids


def interrupt(pids: list[int]) -> None:
    """SIGINT to each, as a Ctrl-C would: a CLI cancels (or, the second time, terminates)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)


def exited(pids: list[int], timeout: float) -> bool:
    """Whether every process of `pids` has exited within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but is not reaped yet is a zombie: as good as gone.
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return not state.stdout.strip().startswith("Z")


def _stack_after(words: list[str]) -> str | None:
    index = words.index("--stack")
    return words[index + 1] if index + 1 < len(words) else None


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
