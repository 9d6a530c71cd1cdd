"""Preview or update many stacks of this project (one per cluster) at once, through the Pulumi
Automation API, with a line per stack while they run and a table at the end.

    python -m tools.fleet preview --all
    python -m tools.fleet up --stack prod-eu --stack prod-us --parallel 2 --refresh

Each stack runs the program in this repository (`auto.select_stack` with the repository as its
work_dir), with the backend, PULUMI_HOME and secrets passphrase of the environment, like
`pulumi` run here. A stack that fails does not stop the others.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TextIO

from pulumi import automation as auto

from tools import fleet_cli
from tools.fleet_display import Display, StackRun, summary_table
from tools.fleet_runner import Runner, StackOps, describe

REPO = Path(__file__).resolve().parent.parent
OPERATIONS = ("preview", "up")

EPILOG = """\
columns of the table:
  changes   the resources created, updated, replaced or deleted, by operation (planned by a
            preview, done by an update)
  restarts  running kubelets restarted: <node>-restart-kubelet commands updated whose files
            (unit, configuration, CA, binary: the sha256 each names) changed; a new node's
            first start is not a restart, nor a re-run that only checks health (a preview:
            the restarts planned; an update: those begun)
  failures  resources whose operation failed; the stack's error follows the table

exit status: 0 when every stack succeeded, 1 when any failed, 2 for a usage error, 130 when
interrupted. Ctrl-C (or SIGINT, as `kill -INT` or a CI runner sends it) starts no more stacks
and hands each running CLI one Ctrl-C: it cancels cleanly (in-flight operations finish, state
saved). A second Ctrl-C hands them another, which terminates them; once a CLI has exited, its
stack is cancelled (`pulumi cancel`, which releases its lock). Stacks whose CLI did not exit
are named: run `pulumi cancel` on them once it has.
"""


class Backend(Protocol):
    """Where the stacks are: their names, and a run of one of them."""

    def stacks(self) -> dict[str, int]:
        """Every stack of the project, with the resources it holds."""

    def ops(self, name: str, operation: str, *, refresh: bool) -> StackOps: ...


class AutomationStack:
    """One stack of the local program, through the Automation API."""

    def __init__(
        self,
        name: str,
        operation: str,
        refresh: bool,
        work_dir: Path,
        config_file: Path | None,
        command: auto.PulumiCommand,
    ) -> None:
        self._name = name
        self._operation = operation
        self._refresh = refresh
        self._work_dir = work_dir
        self._config_file = config_file
        self._command = command
        self._stack: auto.Stack | None = None
        self._pids: list[int] = []

    def run(self, on_event: Callable[[auto.EngineEvent], None]) -> None:
        self._stack = auto.select_stack(
            stack_name=self._name,
            work_dir=str(self._work_dir),
            opts=auto.LocalWorkspaceOptions(pulumi_command=self._command),
        )
        options = {
            "on_event": on_event,
            "color": "never",
            "refresh": self._refresh or None,
            "config_file": str(self._config_file) if self._config_file else None,
        }
        if self._operation == "preview":
            self._stack.preview(**options)
        else:
            # The result's summary would decrypt the stack's secret config: not needed here.
            self._stack.up(show_secrets=False, suppress_outputs=True, **options)

    def interrupt(self) -> None:
        self._pids = self._pids or fleet_cli.cli_pids(self._name)
        fleet_cli.interrupt(self._pids)

    def exited(self, timeout: float) -> bool:
        return fleet_cli.exited(self._pids or fleet_cli.cli_pids(self._name), timeout)

    def cancel(self) -> None:
        if self._stack is not None:
            self._stack.cancel()


class AutomationBackend:
    def __init__(self, work_dir: Path, config_dir: Path | None) -> None:
        self._work_dir = work_dir
        self._config_dir = config_dir
        self._wrapper = tempfile.TemporaryDirectory(prefix="kubelet-bootstrap-fleet-")
        self._command = fleet_cli.session_command(Path(self._wrapper.name))

    def stacks(self) -> dict[str, int]:
        workspace = auto.LocalWorkspace(work_dir=str(self._work_dir))
        return {s.name: s.resource_count or 0 for s in workspace.list_stacks()}

    def ops(self, name: str, operation: str, *, refresh: bool) -> StackOps:
        config = self._config_dir / f"Pulumi.{name}.yaml" if self._config_dir else None
        return AutomationStack(name, operation, refresh, self._work_dir, config, self._command)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.fleet",
        description=__doc__.split("\n\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("operation", choices=OPERATIONS)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", action="append", metavar="NAME", help="a stack (repeatable)")
    which.add_argument("--all", action="store_true", help="every stack of the project")
    parser.add_argument(
        "--parallel", type=_positive, default=4, metavar="N", help="stacks at a time (4)"
    )
    parser.add_argument("--refresh", action="store_true", help="refresh each stack first")
    parser.add_argument(
        "--config-dir",
        type=Path,
        metavar="DIR",
        help="where the stacks' Pulumi.<stack>.yaml files are, when not beside Pulumi.yaml",
    )
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def main(
    argv: Sequence[str] | None = None,
    *,
    backend: Backend | None = None,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    live: bool | None = None,
) -> int:
    args = parse_args(argv)
    out = stream or sys.stdout
    if backend is None and shutil.which("pulumi") is None:
        out.write(
            "tools.fleet drives the Pulumi CLI, which is not on PATH: install it "
            "(https://www.pulumi.com/docs/iac/download-install/) or put it on PATH\n"
        )
        return 2
    backend = backend or AutomationBackend(REPO, args.config_dir)
    try:
        known = backend.stacks()
    except Exception as error:
        out.write("cannot list the stacks: " + "; ".join(describe(error)) + "\n")
        return 2
    names = sorted(known) if args.all else list(dict.fromkeys(args.stack))
    if not names:
        out.write("no stacks: `pulumi stack init <name>` makes one\n")
        return 2
    runs = [StackRun(name, args.operation) for name in names]
    for run in runs:
        run.tally.expected = known.get(run.name, 0)
    display = Display(out, runs, clock, live=out.isatty() if live is None else live)
    interrupted = Runner(
        runs,
        lambda name: backend.ops(name, args.operation, refresh=args.refresh),
        args.parallel,
        display,
        clock,
    ).run()
    out.write("\n" + summary_table(runs, clock()) + "\n")
    if interrupted:
        return 130
    return 1 if any(run.phase != "ok" for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
