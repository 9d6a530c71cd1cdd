"""The e2e suite: scenarios against the lab on this machine (root, namespaces, a real sshd).

`make e2e` runs it (`pytest tests/e2e`). A plain `pytest` (`make test`) does not collect this
directory unless it is named on the command line, and says so. Nothing here skips: a machine
that cannot run the lab fails with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import nodes
from tests.e2e.lab_client import NODE_COUNT, Lab, assert_nothing_left
from tests.e2e.world import MEASUREMENTS, stack, world

__all__ = ["stack", "world"]  # the scenarios' fixtures, shared from world.py

E2E_DIR = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: runs against the lab on this machine (root)")


def _requested(config: pytest.Config) -> bool:
    """Whether the command line names this directory or something in it."""
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == E2E_DIR or E2E_DIR in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leaves the e2e files out of a plain `pytest`, with one line that says so."""
    if _requested(config):
        return None
    if not config.stash.get(_announced, False):
        config.stash[_announced] = True
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("tests/e2e not collected: run `make e2e` or `pytest tests/e2e`")
    return True


_announced = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """Fresh lab nodes for the session; at its end they are removed and nothing may be left."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (network namespaces, mounts, sshd)")
    if shutil.which("ip") is None:
        missing.append("iproute2's `ip`")
    if missing:
        pytest.fail(f"the e2e lab needs {' and '.join(missing)}; run it as root", pytrace=False)
    state_dir = nodes.DEFAULT_STATE_DIR
    try:
        state = nodes.up(NODE_COUNT, state_dir)
    except nodes.LabError as error:
        pytest.fail(f"the lab nodes did not come up: {error}", pytrace=False)
    yield Lab(state_dir, state)
    nodes.down(state_dir)
    assert_nothing_left(state_dir)


_RESULTS: list[tuple[str, str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect each test's outcome and time for the table at the end (a failed setup too)."""
    if (report.when == "setup" and report.outcome != "passed") or report.when == "call":
        outcome = "xfail" if hasattr(report, "wasxfail") else report.outcome
        _RESULTS.append((report.nodeid.split("::")[-1], outcome, report.duration))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The table `make e2e` prints: scenario, result, seconds; then what was measured."""
    if not _RESULTS:
        return
    write = terminalreporter.write_line
    write("")
    write(f"{'scenario':<62} {'result':<8} {'seconds':>8}")
    for name, outcome, seconds in _RESULTS:
        write(f"{name:<62} {outcome:<8} {seconds:8.1f}")
    if MEASUREMENTS:
        write("")
        write(f"{'measured':<62} {'seconds':>17}")
        for what, seconds in MEASUREMENTS.items():
            write(f"{what:<62} {seconds:17.1f}")
