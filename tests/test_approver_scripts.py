"""The renewal approver's scripts run for real with `sh` on a host in a temp directory: the
binary installed from the SSH user's copy, the restart only for what changed, and the claims
that keep a replaced command's delete from stopping the service its create just started."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from components.node.ssh import as_root
from components.renewal import files
from tests.node_root import NodeRoot
from tests.test_artifacts import shellcheck

PATHS = files.ApproverPaths("test")
OWNER = "master-1-approver-service"
# The binary as the start script uses it: `health` answers healthy.
BINARY = '#!/bin/sh\n[ "$1" = health ] && echo \'{"healthy": true}\'\n'
SHA256 = hashlib.sha256(BINARY.encode()).hexdigest()


class Host(NodeRoot):
    """A NodeRoot whose /usr/local/lib is under its root too, holding the approver's copy."""

    def moved(self, script: str) -> str:
        return super().moved(script).replace("/usr/local/lib/", f"{self.root}/usr/local/lib/")

    def path(self, path: str) -> Path:
        return Path(self.moved(path))

    def copied(self, content: str = BINARY) -> None:
        """What pulumi-command's CopyToRemote leaves: the file, mode 0644, in the upload dir."""
        upload = self.path(PATHS.upload(SHA256))
        upload.parent.mkdir(parents=True, exist_ok=True)
        upload.write_text(content)
        upload.chmod(0o644)

    def service(self, field: int, want: str = "a b c d") -> str:
        return files.service_scripts(PATHS, OWNER, SHA256, want, 10271)[field]

    def ok(self, script: str) -> str:
        result = self.sh(script)
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture
def host(tmp_path: Path) -> Host:
    host = Host(tmp_path)
    host.path(PATHS.binary_dir).mkdir(parents=True)
    host.copied()
    return host


def test_create_installs_the_copy_starts_it_and_waits_for_health(host: Host) -> None:
    said = host.ok(host.service(0))

    binary = host.path(PATHS.binary(SHA256))
    assert binary.read_text() == BINARY and binary.stat().st_mode & 0o777 == 0o755
    assert f"systemctl enable {PATHS.unit}" in host.calls()
    assert host.restarts() == 1
    assert '"healthy": true' in said


def test_an_update_for_nothing_new_restarts_nothing(host: Host) -> None:
    host.ok(host.service(0))
    host.ok(host.service(1))
    assert host.restarts() == 1
    host.ok(host.service(1, want="a b c e"))
    assert host.restarts() == 2


def test_a_copy_that_is_not_the_stacks_is_not_installed(host: Host) -> None:
    host.copied(BINARY + "# changed on the way\n")
    result = host.sh(host.service(0))

    assert result.returncode == 1
    assert "is not the approver the stack copied" in result.stderr
    assert not host.path(PATHS.binary(SHA256)).exists()
    assert host.restarts() == 0


def test_delete_stops_it_and_removes_the_binaries(host: Host) -> None:
    host.ok(host.service(0))
    host.ok(host.service(2))

    assert f"systemctl disable --now {PATHS.unit}" in host.calls()
    assert not host.path(PATHS.binary_dir).exists()
    assert not host.path(PATHS.upload_dir).exists()


def test_a_replacements_old_delete_leaves_the_service_its_create_started(host: Host) -> None:
    """A new sshHost for the same machine: the new command's create, then the old's delete."""
    host.ok(host.service(0))
    host.ok(host.service(0))
    result = host.sh(host.service(2))

    assert result.returncode == 0 and "keeps running" in result.stderr
    assert not any(call.startswith("systemctl disable") for call in host.calls())
    assert host.path(PATHS.binary(SHA256)).exists()


@pytest.mark.parametrize("become", [None, "sudo"])
def test_the_scripts_pass_shellcheck(become: str | None) -> None:

    for script in (
        files.prepare_script(PATHS),
        *files.service_scripts(PATHS, OWNER, SHA256, "w", 1),
    ):
        assert shellcheck(as_root(script, become)) == ""
