"""`python -m tools.fleet`: many stacks at once, driven here by fake stack operations that
replay engine events as the Automation API hands them over (built from the event log's JSON).

The kubelet restart scripts in the events are the program's own, rendered from settings, so a
change of their format that would hide restarts from the driver fails here.
"""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation import EngineEvent
from pulumi.automation._cmd import CommandResult
from pulumi.automation.errors import ConcurrentUpdateError

from components.node import rendering
from components.settings.loading import load_settings
from tests.factories import NS, make_certificate, make_ssh_key, stack_config
from tools.fleet import main
from tools.fleet_display import Display, StackRun
from tools.fleet_tally import Tally

STACK = "urn:pulumi:prod::kubelet-bootstrap::"
COMMAND = "command:remote:Command"
SECRET_VALUE = "s3cr3t-token-value-never-printed"

Event = dict[str, Any]


# -- engine events, as JSON in the engine's event log -------------------------------------------


def _urn(name: str, type_: str) -> str:
    return f"{STACK}kubelet-bootstrap:index:KubeletNode${type_}::{name}"


def _step(op: str, name: str, type_: str, old: str | None, new: str | None) -> dict[str, Any]:
    urn = _urn(name, type_)
    state = {
        key: {"type": type_, "urn": urn, "inputs": {"update": script}}
        for key, script in (("old", old), ("new", new))
        if script is not None
    }
    return {"op": op, "urn": urn, "type": type_, "provider": "", **state}


def pre(
    op: str, name: str, type_: str = COMMAND, old: str | None = None, new: str | None = None
) -> Event:
    return {"resourcePreEvent": {"metadata": _step(op, name, type_, old, new)}}


def done(name: str, type_: str = COMMAND) -> Event:
    return {"resOutputsEvent": {"metadata": _step("same", name, type_, None, None)}}


def failed(name: str) -> Event:
    metadata = _step("create", name, COMMAND, None, None)
    return {"resOpFailedEvent": {"metadata": metadata, "status": 1, "steps": 0}}


def diagnostic(message: str, name: str | None = None, severity: str = "error") -> Event:
    urn = {"urn": _urn(name, COMMAND)} if name else {}
    return {"diagnosticEvent": {"message": message, "color": "never", "severity": severity, **urn}}


def summary(**changes: int) -> Event:
    ops = {op.replace("_", "-"): n for op, n in changes.items()}
    return {"summaryEvent": {"maybeCorrupt": False, "durationSeconds": 1, "resourceChanges": ops}}


def step(op: str, name: str, **scripts: str | None) -> list[Event]:
    """A step begun and done."""
    return [pre(op, name, **scripts), done(name)]


# -- the program's own start scripts ------------------------------------------------------------


@pytest.fixture
def restart_script(tmp_path: Path) -> Callable[..., str]:
    """The `update` script of node-0's restart command, for these kubelet settings."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(make_certificate(ca=True))
    ssh_key = make_ssh_key()

    def script(**kubelet: Any) -> str:
        config = stack_config(ca_file, ssh_key, 1, kubelet=kubelet)
        settings = load_settings({k.removeprefix(f"{NS}:"): v for k, v in config.items()}, {})
        node = settings.nodes[0]
        files = rendering.node_files(settings, node)
        return rendering.restart_scripts(settings, node, files).update

    return script


# -- fake stacks --------------------------------------------------------------------------------


class FakeStack:
    """Replays `events`, then raises `error` if given; `gate` holds it until set."""

    def __init__(
        self,
        events: list[Event],
        error: BaseException | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.events = events
        self.error = error
        self.gate = gate
        self.cancelled = False
        self.interrupts = 0
        self.cli_exits = True
        """Whether its CLI exits when terminated (a second Ctrl-C)."""
        self.order: list[str] = []

    def run(self, on_event: Callable[[EngineEvent], None]) -> None:
        for sequence, event in enumerate(self.events):
            on_event(EngineEvent.from_json({"sequence": sequence, "timestamp": 0, **event}))
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released this stack"
        if self.error is not None:
            raise self.error

    def interrupt(self) -> None:
        self.interrupts += 1
        self.order.append(f"SIGINT {self.interrupts}")

    def exited(self, timeout: float) -> bool:
        self.order.append("exited" if self.cli_exits else "still running")
        return self.cli_exits

    def cancel(self) -> None:
        self.cancelled = True
        self.order.append("cancel")
        if self.gate is not None:
            self.gate.set()


class FakeBackend:
    def __init__(self, stacks: dict[str, FakeStack], counts: dict[str, int] | None = None):
        self.stacks_by_name = stacks
        self.counts = counts or {}
        self.calls: list[tuple[str, str, bool]] = []

    def stacks(self) -> dict[str, int]:
        return {name: self.counts.get(name, 0) for name in self.stacks_by_name}

    def ops(self, name: str, operation: str, *, refresh: bool) -> FakeStack:
        self.calls.append((name, operation, refresh))
        return self.stacks_by_name[name]


def run(backend: FakeBackend, *argv: str, live: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), backend=backend, stream=out, live=live)
    return status, out.getvalue()


def row(output: str, stack: str) -> dict[str, str]:
    header = ("result", "changes", "restarts", "failures", "time")
    lines = output.split("\nstack ", 1)[1].splitlines()[1:]
    for line in itertools.takewhile(str.strip, lines):
        cells = [cell.strip() for cell in line.split("  ") if cell.strip()]
        if cells[0] == stack:
            return dict(zip(header, cells[1:], strict=True))
    raise AssertionError(f"no row for {stack} in:\n{output}")


def command_error(stderr: str, kind: type = ConcurrentUpdateError) -> Exception:
    return kind(CommandResult(stdout="Updating (prod):\n", stderr=stderr, code=255))


# -- counts -------------------------------------------------------------------------------------


def test_changes_and_restarts_of_an_update(restart_script: Callable[..., str]) -> None:
    old, new = restart_script(maxPods=110), restart_script(maxPods=220)
    events = [
        *step("same", "node-0-prepare"),
        *step("update", "node-0-kubelet-config"),
        *step("update", "node-0-restart-kubelet", old=old, new=new),
        *step("create", "node-9-start-kubelet"),
        *step("create", "node-9-restart-kubelet", new=new),
        summary(same=1, update=2, create=2),
    ]
    status, output = run(FakeBackend({"prod": FakeStack(events)}), "up", "--stack", "prod")
    assert status == 0
    assert row(output, "prod") == {
        "result": "ok",
        "changes": "create 2, update 2",
        "restarts": "1",  # the new node's first start is not one
        "failures": "0",
        "time": row(output, "prod")["time"],
    }


def test_a_restart_command_rerun_without_a_file_change_is_no_restart(
    restart_script: Callable[..., str],
) -> None:
    """A change of the health timeout re-runs the restart script, which restarts nothing."""
    old = restart_script(healthzTimeoutSeconds=180)
    new = restart_script(healthzTimeoutSeconds=200)
    assert old != new
    events = [*step("update", "node-0-restart-kubelet", old=old, new=new), summary(update=1)]
    _, output = run(FakeBackend({"prod": FakeStack(events)}), "preview", "--stack", "prod")
    assert row(output, "prod")["restarts"] == "0"
    assert row(output, "prod")["changes"] == "update 1"


def test_a_replaced_restart_command_restarts_nothing(restart_script: Callable[..., str]) -> None:
    """A replacement runs the new command's `create`, which is empty."""
    old, new = restart_script(maxPods=110), restart_script(maxPods=220)
    events = [
        pre("create-replacement", "node-0-restart-kubelet", old=old, new=new),
        pre("replace", "node-0-restart-kubelet", old=old, new=new),
        pre("delete-replaced", "node-0-restart-kubelet", old=old, new=new),
        done("node-0-restart-kubelet"),
        summary(replace=1),
    ]
    _, output = run(FakeBackend({"prod": FakeStack(events)}), "up", "--stack", "prod")
    assert row(output, "prod")["restarts"] == "0"
    assert row(output, "prod")["changes"] == "replace 1"


def test_only_kubelet_restart_commands_count_as_restarts(
    restart_script: Callable[..., str],
) -> None:
    old, new = restart_script(maxPods=110), restart_script(maxPods=220)
    events = [
        *step("update", "node-0-start-kubelet", old=old, new=new),
        *step("update", "node-0-restart-kubelet", type_="kubernetes:core/v1:Secret"),
    ]
    tally = Tally()
    for sequence, event in enumerate(events):
        tally.on_event(EngineEvent.from_json({"sequence": sequence, "timestamp": 0, **event}))
    assert tally.restart_count() == 0


def test_an_unknown_script_may_restart_and_counts() -> None:
    tally = Tally()
    tally.on_event(EngineEvent.from_json({"sequence": 0, "timestamp": 0, **pre(
        "update", "node-0-restart-kubelet"
    )}))  # fmt: skip
    assert tally.restart_count() == 1


def test_progress_counts_done_of_the_known_total() -> None:
    tally = Tally(expected=10)
    for sequence, event in enumerate(
        [pre("same", "a"), done("a"), pre("update", "b"), done("b"), pre("create", "c")]
    ):
        tally.on_event(EngineEvent.from_json({"sequence": sequence, "timestamp": 0, **event}))
    assert tally.progress() == (2, 10)
    tally.expected = 0
    assert tally.progress() == (2, 3)


# -- failures -----------------------------------------------------------------------------------


def test_a_failed_stack_fails_the_run_and_the_others_complete() -> None:
    broken = FakeStack(
        [
            pre("create", "node-3-prepare"),
            diagnostic("\x1b[31mssh: connect to host 10.0.0.3 port 22: connection refused\x1b[0m\n"
                       "\n  retried 10 times\n", "node-3-prepare"),
            failed("node-3-prepare"),
            diagnostic("<{%reset%}>update failed<{%reset%}>"),
            diagnostic("a warning, not shown", severity="warning"),
            summary(create=0),
        ],
        error=command_error("error: update failed"),
    )  # fmt: skip
    fine = FakeStack([*step("create", "node-1-prepare"), summary(create=1)])
    backend = FakeBackend({"a": fine, "b": broken})
    status, output = run(backend, "up", "--all")
    assert status == 1
    assert row(output, "a")["result"] == "ok"
    assert row(output, "b")["result"] == "failed"
    assert row(output, "b")["failures"] == "1"
    errors = output.split("b failed:\n", 1)[1]
    assert errors.splitlines() == [
        "  node-3-prepare: ssh: connect to host 10.0.0.3 port 22: connection refused",
        "  node-3-prepare: retried 10 times",
        "  update failed",
    ]


def test_a_stack_that_raises_is_reported_and_the_others_go_on() -> None:
    class Raising(FakeStack):
        def run(self, on_event: Callable[[EngineEvent], None]) -> None:
            raise FileNotFoundError("pulumi: no such file")

    backend = FakeBackend({"a": Raising([]), "b": FakeStack([summary(same=3)])})
    status, output = run(backend, "preview", "--all")
    assert status == 1
    assert row(output, "b")["result"] == "ok"
    assert "b" in output and row(output, "b")["changes"] == "none"
    assert "a failed:\n  FileNotFoundError: pulumi: no such file" in output


def test_a_cli_error_without_engine_events_keeps_its_error_lines_and_kind() -> None:
    error = command_error(
        "warning: something\nerror: the stack is currently locked by 1 lock(s)\n  more"
    )
    status, output = run(FakeBackend({"a": FakeStack([], error=error)}), "up", "--stack", "a")
    assert status == 1
    assert output.split("a failed:\n", 1)[1].splitlines() == [
        "  ConcurrentUpdateError",
        "  error: the stack is currently locked by 1 lock(s)",
    ]


def test_many_error_lines_are_cut_short() -> None:
    message = "\n".join(f"line {n}" for n in range(40))
    stack = FakeStack([diagnostic(message)], error=command_error("error: update failed"))
    _, output = run(FakeBackend({"a": stack}), "up", "--stack", "a")
    errors = output.split("a failed:\n", 1)[1].splitlines()
    assert len(errors) == 12
    assert errors[-1] == "  ... (29 more lines)"


def test_config_values_are_not_printed() -> None:
    """The prelude carries the stack's config; the driver prints none of it."""
    prelude = {"preludeEvent": {"config": {f"{NS}:kubeconfig": SECRET_VALUE}}}
    stack = FakeStack([prelude, summary(same=1)], error=command_error("error: boom"))
    _, output = run(FakeBackend({"a": stack}), "up", "--stack", "a")
    assert SECRET_VALUE not in output


# -- stacks, parallelism, operations --------------------------------------------------------------


def test_the_parallel_limit_is_honoured() -> None:
    lock = threading.Lock()
    running, most = 0, 0

    class Counting(FakeStack):
        def run(self, on_event: Callable[[EngineEvent], None]) -> None:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.1)
            with lock:
                running -= 1

    backend = FakeBackend({f"s{n}": Counting([]) for n in range(6)})
    status, _ = run(backend, "up", "--all", "--parallel", "2")
    assert status == 0
    assert most == 2


def test_each_stack_runs_the_operation_asked_for() -> None:
    backend = FakeBackend({"a": FakeStack([]), "b": FakeStack([]), "c": FakeStack([])})
    run(backend, "preview", "--stack", "c", "--stack", "a", "--stack", "c", "--refresh")
    assert sorted(backend.calls) == [("a", "preview", True), ("c", "preview", True)]


def test_no_stacks_is_a_usage_error() -> None:
    status, output = run(FakeBackend({}), "up", "--all")
    assert status == 2
    assert "no stacks" in output


def test_a_backend_that_cannot_list_is_a_usage_error() -> None:
    class Unlisted(FakeBackend):
        def stacks(self) -> dict[str, int]:
            raise command_error("error: PULUMI_ACCESS_TOKEN must be set for login", Exception)

    status, output = run(Unlisted({}), "up", "--all")
    assert status == 2
    assert "cannot list the stacks" in output


def test_stack_or_all_is_required() -> None:
    with pytest.raises(SystemExit) as exit_:
        run(FakeBackend({}), "up")
    assert exit_.value.code == 2


# -- progress -----------------------------------------------------------------------------------


def test_progress_on_a_non_tty_is_plain_lines() -> None:
    events = [*step("create", "a-1"), *step("create", "a-2"), summary(create=2)]
    backend = FakeBackend({"alpha": FakeStack(events), "b": FakeStack([summary(same=1)])})
    status, output = run(backend, "up", "--all")
    assert status == 0
    progress = output.split("\nstack ", 1)[0]
    assert "\x1b" not in output, "no terminal control on a non-TTY"
    assert any(
        line.split()[:4] == ["alpha", "ok", "2/2", "resources"] for line in progress.splitlines()
    )
    assert any(line.split()[:2] == ["b", "ok"] for line in progress.splitlines())


def test_a_tty_redraws_one_line_per_stack_in_place() -> None:
    clock = itertools.count(0.0, 1.0)
    runs = [StackRun("alpha", "up"), StackRun("b", "up")]
    out = io.StringIO()
    display = Display(out, runs, lambda: next(clock), live=True)
    display.refresh()
    runs[0].phase, runs[0].started = "running", 0.0
    display.refresh()
    drawn = out.getvalue().split("\x1b[2F")
    assert len(drawn) == 2, "the second drawing goes back over the first two lines"
    assert drawn[1].count("\x1b[2K") == 2
    assert "alpha  up" in drawn[1]


def test_a_non_tty_prints_progress_at_most_every_interval() -> None:
    now = [0.0]
    run_ = StackRun("alpha", "up", phase="running", started=0.0)
    out = io.StringIO()
    display = Display(out, [run_], lambda: now[0], live=False, interval=10)
    display.refresh()
    for n in range(5):
        run_.tally.seen.add(f"r{n}")
        run_.tally.done.add(f"r{n}")
        now[0] += 1
        display.refresh()
    now[0] = 12
    display.refresh()
    lines = out.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == ["0/0", "5/5"]


# -- Ctrl-C -------------------------------------------------------------------------------------


class Interrupting(Display):
    """A Ctrl-C at the display's refresh once `when()` holds, `times` times."""

    def __init__(self, *args: Any, when: Callable[[], bool], times: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.when = when
        self.times = times

    def refresh(self) -> None:
        super().refresh()
        if self.times and self.when():
            self.times -= 1
            raise KeyboardInterrupt


@pytest.fixture
def interrupting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    def install(when: Callable[[], bool], times: int) -> None:
        monkeypatch.setattr(
            "tools.fleet.Display",
            lambda *a, **k: Interrupting(*a, when=when, times=times, **k),
        )

    yield install


def test_ctrl_c_starts_no_more_stacks_and_waits_for_the_running(interrupting) -> None:
    gate = threading.Event()
    first = FakeStack([pre("update", "x")], gate=gate)
    later = FakeStack([])

    def when() -> bool:
        if first.events and backend.calls:
            threading.Timer(0.2, gate.set).start()  # its CLI cancels, and ends
            return True
        return False

    backend = FakeBackend({"a": first, "b": later})
    interrupting(when, times=1)
    status, output = run(backend, "up", "--all", "--parallel", "1")
    assert status == 130
    assert row(output, "a")["result"] == "ok"
    assert row(output, "b")["result"] == "not started"
    assert [call[0] for call in backend.calls] == ["a"]
    assert not first.cancelled, "the first Ctrl-C leaves cancelling to the stack's CLI"
    assert first.order == ["SIGINT 1"], "its CLI is handed one Ctrl-C, by tools.fleet itself"
    assert "interrupted" in output


def test_a_second_ctrl_c_cancels_the_running_stacks(interrupting) -> None:
    stuck = FakeStack([pre("update", "x")], gate=threading.Event())
    backend = FakeBackend({"a": stuck})
    interrupting(lambda: bool(backend.calls), times=2)
    status, output = run(backend, "up", "--all")
    assert status == 130
    assert stuck.order == ["SIGINT 1", "SIGINT 2", "exited", "cancel"]
    assert row(output, "a")["result"] == "cancelled"


def test_a_stack_whose_cli_does_not_exit_is_not_cancelled_but_named(interrupting) -> None:
    """`pulumi cancel` under a CLI still writing the state would unlock it under the writer."""
    stuck = FakeStack([pre("update", "x")], gate=threading.Event())
    stuck.cli_exits = False
    backend = FakeBackend({"a": stuck})
    interrupting(lambda: bool(backend.calls), times=2)

    status, output = run(backend, "up", "--all")

    stuck.gate.set()  # type: ignore[union-attr]
    assert status == 130
    assert stuck.order == ["SIGINT 1", "SIGINT 2", "still running"]
    assert "a: its CLI has not exited; once it has, run `pulumi cancel --stack a`" in output
