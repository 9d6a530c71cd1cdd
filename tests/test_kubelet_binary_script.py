"""The `<node>-kubelet-binary` scripts, through shellcheck and run for real with `sh`.

The node is a temp root (its /opt and /var/lib moved under it); curl and wget are stubs that
serve a local file and log each URL they are asked for; the "kubelets" are small scripts that
answer `--version` as the real one does ("Kubernetes v1.34.4").
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.node import kubelet_binary, rendering
from components.settings.loading import load_settings
from components.settings.model import Settings
from offline.engine import run_program
from tests.factories import CLUSTER_CA, FIXED_CLOCK, HOST_KEY, admin_kubeconfig
from tests.node_root import NodeRoot
from tests.test_artifacts import shellcheck
from tests.tools import require_tool

URL = "http://10.0.0.9:8080/k8s/kubelet?arch=amd64&v='1.34'"
BINARY = "/opt/k8s/bin/kubelet"
OWNER = "node-0-kubelet-binary"


def kubelet_build(version: str, build: str = "") -> bytes:
    """A stand-in kubelet binary: `--version` prints what the real one does."""
    return f'#!/bin/sh\n# build {build}\necho "Kubernetes {version}"\n'.encode()


GOOD = kubelet_build("v1.34.4")
NEWER = kubelet_build("v1.35.0", "2")
OLD = kubelet_build("v1.30.14")


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def settings_for(tmp_path: Path, ca_file: Path, ssh_key: str) -> Callable[..., Settings]:
    def make(content: bytes = GOOD, url: str = URL, **kubelet: Any) -> Settings:
        raw = {
            "apiServer": "https://10.0.0.10:6443",
            "caCertFile": str(ca_file),
            "kubeconfig": admin_kubeconfig(ca_file.read_text()),
            "ssh": {"privateKey": ssh_key, "hostKey": HOST_KEY},
            "cluster": {"dnsServiceIP": "10.254.0.2"},
            "kubelet": {"download": {"url": url, "sha256": sha(content)}, **kubelet},
            "nodes": [{"name": "node-0", "address": "10.0.0.1"}],
        }
        return load_settings(raw, environ={})

    return make


class Node(NodeRoot):
    """A NodeRoot whose /opt is moved too, with curl and wget serving `served`."""

    def __init__(self, root: Path, **stubs: str) -> None:
        self.fetches = root / "fetches.log"
        self.served = root / "served"
        self.version = root / "version"
        self.ca = root / "ca.pem"
        root.mkdir(parents=True)
        self.ca.write_text(CLUSTER_CA.pem)
        self.api_server_answers("v1.35.1")
        self.fetches.write_text("")
        curl = (
            "out=; url=\n"
            "while [ $# -gt 0 ]; do\n"
            "  case $1 in --output) out=$2; shift 2 ;; *) url=$1; shift ;; esac\n"
            "done\n"
            "case $url in */version)\n"  # the API server's, read with the CA on stdin
            f'  [ "$(cat)" = "$(cat {self.ca})" ] || {{ printf "\\n000"; exit 77; }}\n'
            f"  cat {self.version}; exit 0 ;;\n"
            "esac\n"
            '[ -n "$out" ] || { printf ok; exit 0; }\n'  # the start's health check
            f'printf "curl %s\\n" "$url" >> {self.fetches}\n'
            f'cp {self.served} "$out"'
        )
        wget = (
            "out=; url=\nwhile [ $# -gt 0 ]; do\n"
            "  case $1 in -O) out=$2; shift 2 ;; -T) shift 2 ;; *) url=$1; shift ;; esac\n"
            "done\n"
            f'printf "wget %s\\n" "$url" >> {self.fetches}\n'
            f'cp {self.served} "$out"'
        )
        super().__init__(root, **{"curl": curl, "wget": wget, **stubs})

    def moved(self, script: str) -> str:
        return super().moved(script).replace("/opt/", f"{self.root}/opt/")

    def sh(
        self, script: str, stdin: str | None = CLUSTER_CA.pem
    ) -> subprocess.CompletedProcess[str]:
        """Runs `script`, by default with the cluster CA as its stdin, as the program gives it."""
        return super().sh(script, stdin)

    def api_server_answers(self, version: str | None, status: int = 200) -> None:
        """The API server's /version: `version` as its gitVersion (or a body without one)."""
        body = f'"gitVersion": "{version}"' if version else '"kind": "Status"'
        self.version.write_text(f"{{\n  {body}\n}}\n{status}")

    @property
    def binary(self) -> Path:
        return Path(self.moved(BINARY))

    def serve(self, content: bytes) -> None:
        self.served.write_bytes(content)

    def place(self, content: bytes) -> None:
        """A kubelet that was on the node before the stack."""
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        self.binary.write_bytes(content)
        self.binary.chmod(0o755)

    def fetched(self) -> list[str]:
        return self.fetches.read_text().splitlines()

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.binary.parent.glob(".kubelet-bootstrap.*"))


def scripts(settings: Settings) -> rendering.Scripts:
    return kubelet_binary.binary_scripts(
        settings.kubelet, settings.nodes[0], OWNER, settings.api_server
    )


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path / "node")


# --- shellcheck -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["create", "update", "delete"])
def test_the_binary_scripts_pass_shellcheck(
    settings_for: Callable[..., Settings], field: str
) -> None:
    assert shellcheck(getattr(scripts(settings_for()), field)) == ""


# --- install ----------------------------------------------------------------------------------


def test_a_good_sha256_installs_the_binary_atomically(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    node.place(OLD)
    node.serve(GOOD)

    result = node.sh(scripts(settings_for()).create)

    assert result.returncode == 0, result.stderr
    assert node.binary.read_bytes() == GOOD
    assert stat.S_IMODE(node.binary.stat().st_mode) == 0o755
    assert node.fetched() == [f"curl {URL}"], "the URL did not reach curl as one word"
    assert result.stdout.splitlines()[-1] == sha(GOOD)
    assert "Kubernetes v1.34.4" in result.stdout
    assert node.leftovers() == []


@pytest.mark.parametrize("failing", ["chown", "chmod", "mv"])
def test_a_failure_before_the_rename_keeps_the_old_binary_and_no_temp_file(
    node: Node, settings_for: Callable[..., Settings], failing: str
) -> None:
    """The binary is written beside its path and renamed over it: until the rename, the path
    holds the old kubelet whole (a running kubelet keeps its file either way)."""
    node.place(OLD)
    node.serve(GOOD)
    node.stub(**{failing: "echo simulated failure >&2; exit 1"})

    result = node.sh(scripts(settings_for()).create)

    assert result.returncode != 0, f"{failing} failed but the script exited 0"
    assert node.binary.read_bytes() == OLD
    assert node.leftovers() == []


def test_a_bad_sha256_is_refused_and_the_binary_left_as_it_was(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    node.place(OLD)
    node.serve(GOOD + b"# tampered\n")

    result = node.sh(scripts(settings_for()).create)

    assert result.returncode == 1
    for expected in (URL, "node-0", sha(GOOD + b"# tampered\n"), f"not {sha(GOOD)}"):
        assert expected in result.stderr, expected
    assert node.binary.read_bytes() == OLD
    assert node.leftovers() == []


def test_the_same_sha256_fetches_nothing(node: Node, settings_for: Callable[..., Settings]) -> None:
    node.serve(GOOD)
    settings = settings_for()
    assert node.sh(scripts(settings).create).returncode == 0
    node.serve(b"must not be fetched")

    again = node.sh(scripts(settings).update)

    assert again.returncode == 0, again.stderr
    assert "not fetched" in again.stdout
    assert node.fetched() == [f"curl {URL}"]
    assert node.binary.read_bytes() == GOOD


def test_a_binary_outside_the_supported_versions_is_not_installed(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    node.place(GOOD)
    node.serve(OLD)

    result = node.sh(scripts(settings_for(OLD)).create)

    assert result.returncode == 1
    for expected in (URL, "node-0", "'Kubernetes v1.30.14'", "supports v1.31 to v1.35"):
        assert expected in result.stderr, expected
    assert node.binary.read_bytes() == GOOD
    assert node.leftovers() == []


def test_a_file_that_is_no_kubelet_is_not_installed(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    page = b"<html>404 page served with status 200</html>\n"
    node.serve(page)

    result = node.sh(scripts(settings_for(page)).create)

    assert result.returncode == 1
    assert f"the kubelet at {URL} on node-0 does not run" in result.stderr
    assert not node.binary.exists()
    assert node.leftovers() == []


def test_a_failed_fetch_names_the_url_and_the_http_error(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    node.place(GOOD)
    node.stub(curl='echo "curl: (22) The requested URL returned error: 404" >&2; exit 22')

    result = node.sh(scripts(settings_for(NEWER)).create)

    assert result.returncode == 1
    assert f"fetching {URL} on node-0 failed: curl: (22)" in result.stderr
    assert "error: 404" in result.stderr
    assert node.binary.read_bytes() == GOOD
    assert node.leftovers() == []


@pytest.mark.parametrize(
    ("server", "content"),
    [("v1.34.4", NEWER), ("v1.35.2", kubelet_build("v1.31.7"))],
    ids=["newer-than-the-server", "four-older"],
)
def test_a_kubelet_outside_the_skew_policy_is_not_installed(
    node: Node, settings_for: Callable[..., Settings], server: str, content: bytes
) -> None:
    node.place(GOOD)
    node.serve(content)
    node.api_server_answers(server)

    result = node.sh(scripts(settings_for(content)).create)

    assert result.returncode == 1
    assert (
        f"is {content.decode().splitlines()[-1][6:-1]}, not within the skew policy of the API "
        f"server {server} (at most three minor versions older, never newer): not installed"
    ) in result.stderr
    assert node.binary.read_bytes() == GOOD
    assert node.leftovers() == []


def test_an_api_server_that_hides_its_version_installs_with_a_warning(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    """A cluster with anonymous access off answers /version with 401."""
    node.serve(GOOD)
    node.api_server_answers(None, status=401)

    result = node.sh(scripts(settings_for()).create)

    assert result.returncode == 0, result.stderr
    assert "/version answered HTTP 401 without a version" in result.stderr
    assert node.binary.read_bytes() == GOOD


def test_without_the_cluster_ca_the_api_server_is_not_reached_and_nothing_installed(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    """The stub answers /version only to a curl given the CA on stdin, as the program does."""
    node.place(OLD)
    node.serve(GOOD)

    result = node.sh(scripts(settings_for()).create, stdin="")

    assert result.returncode == 1
    assert "the API server https://10.0.0.10:6443 cannot be reached from node-0" in result.stderr
    assert node.binary.read_bytes() == OLD
    assert node.leftovers() == []


def only_tools(node: Node, *names: str) -> dict[str, str]:
    """A PATH with the script's tools and the node's stubs but no curl (or wget either)."""
    tools = node.root / "tools"
    tools.mkdir(exist_ok=True)
    for name in (
        "sh", "sha256sum", "dirname", "mktemp", "mkdir", "chmod", "chown", "mv", "rm", "sync",
        "sed", "cat", "grep", "awk", "sort", "tr", "tail", "cp", "printf",
    ):  # fmt: skip
        (tools / name).symlink_to(require_tool(name))
    for name in names:
        shutil.copy(node.root / "stubs" / name, tools / name)
    return {**os.environ, "PATH": str(tools)}


def test_wget_fetches_where_curl_is_absent(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    node.serve(GOOD)
    node.env = only_tools(node, "wget")

    result = node.sh(scripts(settings_for()).create)

    assert result.returncode == 0, result.stderr
    assert node.fetched() == [f"wget {URL}"]
    assert node.binary.read_bytes() == GOOD
    assert "curl is not on node-0, so the kubelet's Kubernetes v1.34.4 was not compared" in (
        result.stderr
    )


def test_without_curl_or_wget_the_script_says_so(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    node.env = only_tools(node)

    result = node.sh(scripts(settings_for()).create)

    assert result.returncode == 1
    assert f"neither curl nor wget is on node-0 to fetch {URL}" in result.stderr


# --- delete: the claims rule of every file, and the kubelet still running from it -------------


def test_a_delete_removes_the_binary_the_stack_installed(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    node.serve(GOOD)
    binary = scripts(settings_for())
    assert node.sh(binary.create).returncode == 0

    result = node.sh(binary.delete)

    assert result.returncode == 0, result.stderr
    assert not node.binary.exists()


def test_a_binary_that_was_on_the_node_before_stays(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    node.place(OLD)
    node.serve(GOOD)
    binary = scripts(settings_for())
    assert node.sh(binary.create).returncode == 0

    result = node.sh(binary.delete)

    assert "was on the node before the stack first wrote it" in result.stderr
    assert node.binary.read_bytes() == GOOD


def test_a_binary_changed_since_stays(node: Node, settings_for: Callable[..., Settings]) -> None:
    node.serve(GOOD)
    binary = scripts(settings_for())
    assert node.sh(binary.create).returncode == 0
    node.place(NEWER)

    result = node.sh(binary.delete)

    assert "no longer holds what node-0-kubelet-binary wrote" in result.stderr
    assert node.binary.read_bytes() == NEWER


def started(node: Node, settings: Settings) -> rendering.Scripts:
    """The binary installed and the kubelet started on `node`; returns the start's scripts."""
    files = rendering.node_files(settings, settings.nodes[0])
    fetched = kubelet_binary.fetched_binary(settings.kubelet)
    assert fetched is not None
    start = rendering.kubelet_scripts(
        settings,
        settings.nodes[0],
        [*files, fetched],
        "node-0-start-kubelet",
        bootstrap_token_id="abcdef",
    )
    node.serve(GOOD)
    node.bootstrapped()
    node.write(files)
    assert node.sh(scripts(settings).create).returncode == 0
    result = node.sh(start.create)
    assert result.returncode == 0, result.stderr
    return start


def test_unsetting_download_leaves_the_binary_the_running_kubelet_uses(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    """`kubelet.download` removed from the stack: the start command stays, the binary command
    is deleted, and the kubelet must keep its binary."""
    settings = settings_for()
    started(node, settings)

    kept = node.sh(scripts(settings).delete)

    assert kept.returncode == 0, kept.stderr
    assert "the kubelet the stack started on this node runs from it" in kept.stderr
    assert node.binary.read_bytes() == GOOD


def test_a_destroy_stops_the_kubelet_and_then_removes_the_binary(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    """The start depends on the binary, so a destroy (or a node leaving the stack) runs the
    start's delete first."""
    settings = settings_for()
    start = started(node, settings)

    stopped = node.sh(start.delete)
    removed = node.sh(scripts(settings).delete)

    assert (stopped.returncode, removed.returncode) == (0, 0), stopped.stderr + removed.stderr
    assert "systemctl disable --now kubelet.service" in node.calls()
    assert not node.binary.exists()


def test_a_new_binary_for_a_started_kubelet_is_staged_until_its_batch(
    node: Node, settings_for: Callable[..., Settings]
) -> None:
    """The running kubelet's binary stays until the restart of the node's rollout batch puts
    the new one, fetched and verified before, in place; a second run fetches nothing."""
    started(node, settings_for())
    newer = settings_for(NEWER)
    node.serve(NEWER)
    staged = Path(node.moved(rendering.staged_path(BINARY)))

    first = node.sh(scripts(newer).update)
    again = node.sh(scripts(newer).update)
    assert (first.returncode, again.returncode) == (0, 0), first.stderr + again.stderr
    live_before_batch = node.binary.read_bytes()
    files = [
        *rendering.node_files(newer, newer.nodes[0]),
        kubelet_binary.fetched_binary(newer.kubelet),
    ]
    restart = rendering.restart_scripts(newer, newer.nodes[0], files).update  # type: ignore[list-item]
    restarted = node.sh(restart)

    assert live_before_batch == GOOD
    assert f"{node.binary} is staged as {staged}" in first.stderr
    assert "is staged already" in again.stdout
    assert len(node.fetched()) == 2  # the first install, then the newer one once
    assert restarted.returncode == 0, restarted.stderr
    assert node.binary.read_bytes() == NEWER
    assert stat.S_IMODE(node.binary.stat().st_mode) == 0o755
    assert not staged.exists()
    assert node.restarts() == 2


# --- successive updates: what restarts the kubelet --------------------------------------------


def test_a_new_sha256_restarts_the_kubelet_and_the_same_one_does_not(
    tmp_path: Path, node: Node, config: Callable[..., dict[str, Any]]
) -> None:
    """The program's own commands of successive updates, run in turn on one node."""
    node.bootstrapped()

    def apply(content: bytes, *, first: bool) -> None:
        node.serve(content)
        download = {"url": URL, "sha256": sha(content)}
        recording = run_program(
            config(nodes=1, kubelet={"download": download}), "test", clock=FIXED_CLOCK
        )
        node.run(recording.named(OWNER), "create" if first else "update")
        node.apply(recording, first=first)

    updates = [(GOOD, 1, 1), (GOOD, 1, 1), (NEWER, 2, 2), (GOOD, 3, 3)]
    for index, (content, fetches, restarts) in enumerate(updates):
        apply(content, first=index == 0)

        assert node.binary.read_bytes() == content
        assert len(node.fetched()) == fetches, f"update {index}: {node.fetched()}"
        assert node.restarts() == restarts, f"update {index}:\n{node.log.read_text()}"
