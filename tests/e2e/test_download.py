"""`kubelet.download` through the real CLI: the kubelet fetched by each node from a local HTTP
server on the host's lab address, verified, installed, upgraded, and removed by a destroy.

The nodes start without a kubelet binary, as fresh machines. The served binaries are the lab's
real kubelet and a copy of it with bytes appended (an ELF file runs the same with trailing
bytes), so the second is a new sha256 of a kubelet that really runs: the upgrade.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lab import cluster, paths, workers
from lab.stack import LabStack
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

BINARY = workers.KUBELET_BINARY


class Mirror:
    """A plain HTTP server on the lab bridge, serving `directory` and logging every GET."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.requests: list[str] = []
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                mirror.requests.append(f"{self.command} {self.path} {getattr(code, 'value', code)}")

        handler = functools.partial(Handler, directory=str(directory))
        self.server = ThreadingHTTPServer((paths.HOST_ADDRESS, 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://{paths.HOST_ADDRESS}:{self.server.server_port}/{name}"

    def gets(self, name: str) -> int:
        return sum(1 for line in self.requests if line.startswith(f"GET /{name} 200"))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, world: World) -> Iterator[Mirror]:
    directory = tmp_path_factory.mktemp("mirror")
    shutil.copyfile(paths.bin_dir() / "kubelet", directory / "kubelet")
    upgraded = directory / "kubelet-upgraded"
    shutil.copyfile(paths.bin_dir() / "kubelet", upgraded)
    with upgraded.open("ab") as file:
        file.write(b"\n# another build of the same kubelet\n")
    served = Mirror(directory)
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture(scope="module")
def stack(world: World, mirror: Mirror) -> Iterator[LabStack]:
    for name in world.stack_nodes:
        (world.root(name) / BINARY.lstrip("/")).unlink()
    with new_stack(world, "download") as stack:
        _pin(stack, mirror, "kubelet")
        yield stack


def _pin(stack: LabStack, mirror: Mirror, name: str, sha256: str | None = None) -> None:
    stack.set("kubelet.download.url", mirror.url(name), path=True)
    stack.set("kubelet.download.sha256", sha256 or sha256_of(mirror.directory / name), path=True)


def _binary(world: World, name: str) -> Path:
    return world.root(name) / BINARY.lstrip("/")


def test_download_first_install_fetches_and_verifies(
    world: World, stack: LabStack, mirror: Mirror
) -> None:
    served = mirror.directory / "kubelet"
    up = stack.pulumi("up", "--yes", "--skip-preview")
    assert mirror.gets("kubelet") == len(world.stack_nodes), mirror.requests
    for name in world.stack_nodes:
        assert _binary(world, name).read_bytes() == served.read_bytes(), name
        assert _binary(world, name).stat().st_mode & 0o777 == 0o755
        assert name in cluster.node_names(world.plane), f"{name} did not register"
    assert "installed the kubelet at" in up.output
    exported = stack.outputs()["nodes"]
    assert {exported[name]["filesSha256"][BINARY] for name in world.stack_nodes} == {
        sha256_of(served)
    }


def test_download_a_rerun_fetches_nothing_and_restarts_nothing(
    world: World, stack: LabStack, mirror: Mirror
) -> None:
    before = {name: world.restarts(name) for name in world.stack_nodes}
    fetched = len(mirror.requests)
    stack.pulumi("up", "--yes", "--skip-preview")
    assert len(mirror.requests) == fetched
    assert set(stack.history()[0]["resourceChanges"]) == {"same"}
    assert {name: world.restarts(name) for name in world.stack_nodes} == before


def test_download_a_wrong_sha256_fails_each_node_and_leaves_its_binary(
    world: World, stack: LabStack, mirror: Mirror
) -> None:
    wrong = hashlib.sha256(b"not the kubelet").hexdigest()
    served = sha256_of(mirror.directory / "kubelet-upgraded")
    before = {name: world.restarts(name) for name in world.stack_nodes}
    _pin(stack, mirror, "kubelet-upgraded", wrong)
    up = stack.pulumi("up", "--yes", "--skip-preview", check=False)
    assert up.returncode != 0
    url = mirror.url("kubelet-upgraded")
    for name in world.stack_nodes:
        message = f"the file at {url} fetched on {name} has sha256 {served}, not {wrong}"
        assert message in up.output, f"{name}: {message!r} not in the output"
        assert sha256_of(_binary(world, name)) == sha256_of(mirror.directory / "kubelet")
        assert not list(_binary(world, name).parent.glob(".kubelet-bootstrap.*"))
    assert {name: world.restarts(name) for name in world.stack_nodes} == before


def test_download_a_new_binary_restarts_each_kubelet_once(
    world: World, stack: LabStack, mirror: Mirror
) -> None:
    upgraded = mirror.directory / "kubelet-upgraded"
    before = {name: world.restarts(name) for name in world.stack_nodes}
    _pin(stack, mirror, "kubelet-upgraded")
    planned = stack.planned()
    for name in world.stack_nodes:
        assert planned.get(f"{name}-kubelet-binary") == "update", name
        assert planned.get(f"{name}-restart-kubelet") == "update", f"{name} would not restart"
    stack.pulumi("up", "--yes", "--skip-preview")
    for name in world.stack_nodes:
        assert _binary(world, name).read_bytes() == upgraded.read_bytes(), name
    after = {name: world.restarts(name) for name in world.stack_nodes}
    assert after == {name: count + 1 for name, count in before.items()}


def test_download_destroy_stops_the_kubelets_and_removes_the_binaries(
    world: World, stack: LabStack
) -> None:
    """The stack installed them on machines that had none: they are its to remove."""
    stack.pulumi("destroy", "--yes", "--skip-preview")
    for name in world.stack_nodes:
        assert not _binary(world, name).exists(), f"{BINARY} is still on {name}"
