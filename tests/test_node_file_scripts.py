"""The install and remove scripts of every file the stack writes, and the kubelet's stop,
run for real with `sh` on a node root: exact content and mode, atomic replacement, the claims
that keep a replacement's delete from undoing what its create wrote, and sudo's stdin."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from components.node import rendering
from components.node.ssh import as_root
from components.settings.model import Settings
from tests.factories import BuildSettings
from tests.node_root import NodeRoot, kubelet_scripts, run, stub_commands
from tests.test_artifacts import file_scripts
from tests.tools import require_tool

# --- 5. the install and remove scripts, run for real ---------------------------------------


def run_install(
    tmp_path: Path, dest: Path, mode: str, content: bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs the install script as `sh -c` does over SSH, its records kept in tmp_path/state.
    As root, `chown root:root` works as is; as another user it is turned into a no-op so the
    rest of the script still runs."""
    script = file_scripts(dest, mode).create.replace(
        rendering.NODE_STATE_DIR, str(tmp_path / "state")
    )
    if os.geteuid() != 0:
        script = script.replace("chown root:root", ": chown root:root")
    return run([require_tool("sh"), "-c", script], stdin=content, env=env)


def leftovers(directory: Path) -> list[str]:
    return sorted(
        str(path.relative_to(directory)) for path in directory.rglob(".kubelet-bootstrap.*")
    )


CONTENT = "first line\n  $HOME `id` 'quoted' \"double\" \\ tab\there\nno newline at the end"


@pytest.mark.parametrize("mode", ["0600", "0644"])
def test_install_writes_content_and_mode_exactly(tmp_path: Path, mode: str) -> None:
    dest = tmp_path / "node" / "etc" / "kubernetes" / "kubelet-config.yaml"

    result = run_install(tmp_path, dest, mode, CONTENT.encode())

    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == CONTENT.encode()
    info = dest.stat()
    assert stat.S_IMODE(info.st_mode) == int(mode, 8)
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (0, 0)
    assert result.stdout == hashlib.sha256(CONTENT.encode()).hexdigest() + "\n"
    assert result.stdout.strip() == rendering.sha256(CONTENT)
    assert os.listdir(dest.parent) == [dest.name]


def test_install_replaces_an_existing_file_and_its_mode(tmp_path: Path) -> None:
    dest = tmp_path / "node" / "kubelet.service"
    dest.parent.mkdir()
    dest.write_text("old content\n")
    dest.chmod(0o666)

    result = run_install(tmp_path, dest, "0600", b"new content\n")

    assert result.returncode == 0, result.stderr
    assert dest.read_text() == "new content\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert os.listdir(dest.parent) == ["kubelet.service"]


def test_install_writes_empty_content(tmp_path: Path) -> None:
    dest = tmp_path / "node" / "empty"

    result = run_install(tmp_path, dest, "0600", b"")

    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == b""
    assert result.stdout.strip() == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("failing", ["cat", "chown", "chmod", "mv"])
def test_install_failure_midway_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, failing: str
) -> None:
    """A step between mktemp and the final rename fails (a PATH stub exiting 1)."""
    node = tmp_path / "node"
    node.mkdir()
    dest = node / "kubelet-config.yaml"
    dest.write_text("old content\n")
    dest.chmod(0o600)
    env = stub_commands(tmp_path / "stubs", **{failing: "echo simulated failure >&2; exit 1"})

    result = run_install(tmp_path, dest, "0644", b"new content\n", env=env)

    assert result.returncode != 0, f"{failing} failed but the script exited 0"
    assert dest.read_text() == "old content\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert os.listdir(node) == [dest.name]


def test_install_onto_a_directory_fails_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """A directory where the file belongs (a bind mount of a missing file makes one).

    `mv -f tmp dest` moves *into* a directory instead of failing, and `sha256sum dest | cut`
    hides sha256sum's failure, as plain sh has no pipefail.
    """
    dest = tmp_path / "kubelet-config.yaml"
    dest.mkdir()

    result = run_install(tmp_path, dest, "0600", b"new content\n")

    assert leftovers(tmp_path) == [], "a temp file with the content was left behind"
    assert result.returncode != 0, f"exited 0 and printed {result.stdout!r} as the sha256"


def test_remove_script_removes_the_file_and_tolerates_its_absence(tmp_path: Path) -> None:
    node = NodeRoot(tmp_path / "node")
    scripts = file_scripts("/etc/kubernetes/kubelet-config.yaml", "0600")
    dest = Path(node.moved("/etc/kubernetes/kubelet-config.yaml"))
    assert node.sh(scripts.create, "content\n").returncode == 0

    first = node.sh(scripts.delete, "content\n")
    second = node.sh(scripts.delete, "content\n")

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert not dest.exists()


# Ownership: a delete undoes neither what the stack did not make nor what it has just made
# again (a replacement's create runs before the old resource's delete, pulumi-command#189).

CA = "/etc/kubernetes/cert/ca.pem"


def file_command(
    node: NodeRoot, owner: str, content: str, field: str = "create"
) -> subprocess.CompletedProcess[str]:
    """`owner`'s command for the CA file on `node`: its `field` script with its stdin."""
    result = node.sh(getattr(file_scripts(CA, "0644", owner), field), content)
    assert result.returncode == 0, result.stderr
    return result


def records(node: NodeRoot) -> list[str]:
    state = Path(node.moved(rendering.NODE_STATE_DIR))
    return sorted(str(path.relative_to(state)) for path in state.rglob("*") if path.is_file())


def test_a_delete_removes_the_file_its_resource_wrote_and_its_record(tmp_path: Path) -> None:
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    file_command(node, "node-0-ca", "ca\n")
    file_command(node, "node-0-ca", "ca\n", "update")
    file_command(node, "node-0-ca", "ca\n", "update")

    file_command(node, "node-0-ca", "ca\n", "delete")

    assert not dest.exists()
    assert records(node) == []


@pytest.mark.parametrize(
    "before", ["ca\n", "the control plane's own CA\n"], ids=["same-content", "other-content"]
)
def test_a_file_that_was_on_the_node_before_the_stack_stays_on_delete(
    tmp_path: Path, before: str
) -> None:
    """On the tutorial's kube-master, the kubelet's CA path holds the control plane's CA."""
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    dest.parent.mkdir(parents=True)
    dest.write_text(before)
    created = file_command(node, "node-0-ca", "ca\n")

    deleted = file_command(node, "node-0-ca", "ca\n", "delete")

    assert dest.read_text() == "ca\n"
    assert f"{dest} was on the node before" in created.stderr
    assert f"{dest} stays: it was on the node before the stack first wrote it" in deleted.stderr
    assert records(node) == []


@pytest.mark.parametrize("new", ["ca\n", "other ca\n"], ids=["same-content", "new-content"])
def test_a_renamed_resources_old_delete_leaves_what_the_new_one_wrote(
    tmp_path: Path, new: str
) -> None:
    """A node renamed in the stack: `worker-1-ca` is created, then `kube-node1-ca` deleted."""
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    file_command(node, "kube-node1-ca", "ca\n")
    file_command(node, "worker-1-ca", new)

    file_command(node, "kube-node1-ca", "ca\n", "delete")

    assert dest.read_text() == new
    file_command(node, "worker-1-ca", new, "delete")
    assert not dest.exists()


def test_a_replacement_under_the_same_name_keeps_the_file_the_new_instance_wrote(
    tmp_path: Path,
) -> None:
    """`pulumi up --replace`, or a new parent: the same name is created again, then the old
    instance deleted."""
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    file_command(node, "node-0-ca", "ca\n")
    file_command(node, "node-0-ca", "ca\n")

    file_command(node, "node-0-ca", "ca\n", "delete")

    assert dest.read_text() == "ca\n"
    file_command(node, "node-0-ca", "ca\n", "delete")
    assert not dest.exists()


def test_a_delete_leaves_a_file_that_no_longer_holds_what_it_wrote(tmp_path: Path) -> None:
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    file_command(node, "node-0-ca", "ca\n")
    dest.write_text("someone else's ca\n")

    deleted = file_command(node, "node-0-ca", "ca\n", "delete")

    assert dest.read_text() == "someone else's ca\n"
    assert f"{dest} stays: it no longer holds what node-0-ca wrote" in deleted.stderr


def test_a_file_an_older_version_wrote_is_the_stacks_after_an_update(tmp_path: Path) -> None:
    """After an upgrade the first run of these scripts is an update, and no record exists:
    the file is there because this resource wrote it, not because it was there before."""
    node = NodeRoot(tmp_path / "node")
    dest = Path(node.moved(CA))
    dest.parent.mkdir(parents=True)
    dest.write_text("ca\n")
    file_command(node, "node-0-ca", "ca\n", "update")

    file_command(node, "node-0-ca", "ca\n", "delete")

    assert not dest.exists()


def started_on(node: NodeRoot, settings: Settings, owner: str) -> None:
    node.write(rendering.node_files(settings, settings.nodes[0]))
    result = node.sh(kubelet_scripts(settings, owner).create)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("old", "new", "new_address"),
    [
        ("node-0-start-kubelet", "node-0-start-kubelet", "10.0.0.1"),
        ("kube-node1-start-kubelet", "worker-1-start-kubelet", "10.0.0.1"),
        ("kube-node1-start-kubelet", "worker-1-start-kubelet", "10.0.0.9"),
    ],
    ids=["replaced-same-name", "renamed-same-unit", "renamed-new-unit"],
)
def test_stop_leaves_a_kubelet_that_another_start_started_since(
    tmp_path: Path, build: BuildSettings, old: str, new: str, new_address: str
) -> None:
    node = NodeRoot(tmp_path / "node")
    node.bootstrapped()
    before = build()
    after = build(nodes=[{"name": "node-0", "address": new_address}])
    started_on(node, before, old)
    started_on(node, after, new)

    stopped = node.sh(kubelet_scripts(before, old).delete)

    assert stopped.returncode == 0, stopped.stderr
    assert not [call for call in node.calls() if "disable" in call.split()]
    assert node.sh(kubelet_scripts(after, new).delete).returncode == 0
    assert "systemctl disable --now kubelet.service" in node.calls()


def test_stop_leaves_a_kubelet_whose_unit_is_not_the_one_it_started(
    tmp_path: Path, build: BuildSettings
) -> None:
    node = NodeRoot(tmp_path / "node")
    node.bootstrapped()
    settings = build()
    started_on(node, settings, "node-0-start-kubelet")
    unit = Path(node.moved(settings.kubelet.unit_file))
    unit.write_text(unit.read_text().replace("--v=2", "--v=4"))

    stopped = node.sh(kubelet_scripts(settings).delete)

    assert stopped.returncode == 0, stopped.stderr
    assert not [call for call in node.calls() if "disable" in call.split()]
    assert f"{unit} is not the unit it was last started with" in stopped.stderr


def test_a_script_run_through_sudo_still_reads_its_content_from_stdin(tmp_path: Path) -> None:
    """With `ssh.become: sudo` the user's login shell runs `sudo -n sh -c <script>`. The stub
    sudo refuses without -n (it would wait for a password) and runs the rest."""
    log = tmp_path / "sudo.log"
    node = NodeRoot(
        tmp_path / "node",
        sudo=f'echo "sudo $1 $2 $3" >> {log}; [ "$1" = -n ] || exit 1; shift; exec "$@"',
    )
    dest = Path(node.moved("/etc/kubernetes/kubelet-config.yaml"))
    command = as_root(file_scripts("/etc/kubernetes/kubelet-config.yaml", "0600").create, "sudo")

    result = node.sh(command, CONTENT)

    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == CONTENT.encode()
    assert result.stdout.strip() == rendering.sha256(CONTENT)
    assert log.read_text() == "sudo -n sh -c\n"


def test_sudo_refuses_a_script_holding_the_line_that_ends_it() -> None:
    with pytest.raises(ValueError, match="KUBELET_BOOTSTRAP_SCRIPT"):
        as_root("echo one\nKUBELET_BOOTSTRAP_SCRIPT\necho two\n", "sudo")
