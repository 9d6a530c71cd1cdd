"""A worker node in a temp directory, on which the node scripts run for real with `sh`.

The program's /etc, /var/lib and /run paths are moved under the node's root; the commands a
test must control (systemctl, journalctl, curl, sudo, the clock) are stubs, and openssl and
the rest are the machine's own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from components.node import rendering
from components.settings.model import Settings
from tests.factories import CLUSTER_CA, ClusterCa
from tests.tools import require_tool

CLOCK = 'n=$(cat {clock} 2>/dev/null || echo 0); echo $((n + {step})) > {clock}; echo "$n"'
"""A `date` stub whose clock moves `step` seconds a call, from 0."""

KUBELET_PID = "4242"
"""The main pid the stub systemctl reports for the kubelet until a test changes it."""


def ticking(clock: Path, seconds: int) -> str:
    """A `date` stub whose clock, kept in `clock`, starts at 0 and moves `seconds` a call."""
    return CLOCK.format(clock=clock, step=seconds)


def path_without(tool: str, directory: Path) -> str:
    """A PATH with every command of this machine's PATH but `tool`, linked into `directory`."""
    directory.mkdir()
    for entry in os.environ["PATH"].split(os.pathsep):
        for command in Path(entry).glob("*") if Path(entry).is_dir() else []:
            link = directory / command.name
            if command.name != tool and not link.exists() and os.access(command, os.X_OK):
                link.symlink_to(command)
    return str(directory)


def stub_commands(directory: Path, **commands: str) -> dict[str, str]:
    """An environment whose PATH finds `name` -> shell body stubs in `directory` first."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in commands.items():
        stub = directory / name
        stub.write_text(f"#!/bin/sh\n{body}\n")
        stub.chmod(0o755)
    return {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}"}


def run(
    argv: list[str], *, stdin: str | bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    data = stdin.decode() if isinstance(stdin, bytes) else stdin
    return subprocess.run(
        argv, input=data, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def kubelet_scripts(settings: Settings, owner: str = "node-0-start-kubelet") -> rendering.Scripts:
    node = settings.nodes[0]
    files = rendering.node_files(settings, node)
    return rendering.kubelet_scripts(settings, node, files, owner, bootstrap_token_id="abcdef")


def restart_script(settings: Settings, *, created: bool = False) -> str:
    """The restart's update script (its create script when `created`)."""
    node = settings.nodes[0]
    scripts = rendering.restart_scripts(settings, node, rendering.node_files(settings, node))
    return scripts.create if created else scripts.update  # type: ignore[return-value]


class NodeRoot:
    """A node in a temp root: systemctl, curl, journalctl, sudo and the clock stubbed (`stubs`
    replace them), every systemctl and journalctl call logged. By default its kubelet answers
    healthz ok, its process keeps the pid in `main_pid`, and the clock moves 5 s a call
    (`sleep` returns at once), so a gate settles in a few checks."""

    def __init__(self, root: Path, **stubs: str) -> None:
        self.root = root
        self.log = root / "calls.log"
        self.main_pid = root / "main.pid"
        self.active = root / "kubelet.active"
        self.kubeconfig = root / "etc/kubernetes/kubelet.kubeconfig"
        self.client_certificate = root / "etc/kubernetes/cert/kubelet-client-current.pem"
        self.kubeconfig.parent.mkdir(parents=True)
        self.log.write_text("")
        self.main_pid.write_text(KUBELET_PID)
        defaults = {
            "systemctl": self.systemctl(),
            "journalctl": f'echo "journalctl $*" >> {self.log}',
            "curl": "printf ok",
            "sudo": '[ "$1" = -n ] || exit 1; shift; exec "$@"',
            "date": ticking(root / "clock", seconds=5),
            "sleep": "exit 0",
        }
        self.env = self.stub(**{**defaults, **stubs})

    def systemctl(self, then: str = "") -> str:
        """A systemctl stub: logs the call, answers `show -p MainPID` from `main_pid` and
        `show -p NRestarts` with 0, runs `then`, and keeps whether the kubelet is active in
        `active` (start and restart make it so; stop and disable --now end it)."""
        return (
            f'echo "systemctl $*" >> {self.log}\n'
            f'[ "$1 $3" != "show MainPID" ] || cat {self.main_pid}\n'
            '[ "$1 $3" != "show NRestarts" ] || echo 0\n'
            f"{then}\n"
            "case $1 in\n"
            f"  start | restart) touch {self.active} ;;\n"
            f"  stop) rm -f {self.active} ;;\n"
            f'  disable) [ "$2" != --now ] || rm -f {self.active} ;;\n'
            # As systemd's: the state printed unless --quiet, exit 3 when not active.
            f"  is-active) state=inactive; [ ! -f {self.active} ] || state=active\n"
            '    [ "$2" = --quiet ] || echo "$state"; [ "$state" = active ] || exit 3 ;;\n'
            "esac"
        )

    def stub(self, **stubs: str) -> dict[str, str]:
        """Replaces some of the stubs: `name` -> its shell body."""
        self.env = stub_commands(self.root / "stubs", **stubs)
        return self.env

    def moved(self, script: str) -> str:
        for top in ("/etc/", "/var/lib/", "/run/"):
            script = script.replace(top, f"{self.root}{top}")
        return script

    def bootstrapped(self, ca: ClusterCa = CLUSTER_CA, name: str = "node-0") -> None:
        """The kubelet got its client certificate from `ca` as `name`: it wrote the
        certificate, then its --kubeconfig."""
        self.issue(ca.kubelet_client_pem(name))
        self.kubeconfig.write_text("kind: Config\n")

    def issue(self, pem: str) -> None:
        """Puts `pem` where the kubelet keeps its current client certificate."""
        self.client_certificate.parent.mkdir(parents=True, exist_ok=True)
        self.client_certificate.write_text(pem)

    def bootstrap_command(self, ca: ClusterCa = CLUSTER_CA, name: str = "node-0") -> str:
        """Shell that bootstraps the kubelet when it runs (in a stub), as `bootstrapped`."""
        issue = self.issue_command(ca.kubelet_client_pem(name))
        return f"{issue}; echo 'kind: Config' > {self.kubeconfig}"

    def issue_command(self, pem: str) -> str:
        """Shell that puts `pem` where the kubelet keeps its client certificate when it runs."""
        issued = self.root / "issued.pem"
        issued.write_text(pem)
        return f"mkdir -p {self.client_certificate.parent}; cp {issued} {self.client_certificate}"

    def write(self, files: list[rendering.NodeFile]) -> None:
        for file in files:
            path = Path(self.moved(file.path))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(file.content)

    def sh(self, script: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Runs a script as pulumi-command does, `sh -c` with its stdin, on this node."""
        return run([require_tool("sh"), "-c", self.moved(script)], stdin=stdin, env=self.env)

    def run(self, command: Any, field: str) -> subprocess.CompletedProcess[str]:
        result = self.sh(command.inputs[field], command.inputs.get("stdin"))
        assert result.returncode == 0, f"{command.name} {field}: {result.stderr}"
        return result

    def apply(self, recording: Any, *, first: bool) -> None:
        """The node's file commands, then its start and restart: `create` the first time, then
        `update` (pulumi-command runs `create` again when there is no `update`)."""
        keys = ("bootstrap-kubeconfig", "ca", "kubelet-config", "kubelet-unit")
        for key in (*keys, "start-kubelet", "restart-kubelet"):
            command, field = recording.named(f"node-0-{key}"), self.field(recording, key, first)
            if field in command.inputs:  # a restart's create runs nothing
                self.run(command, field)

    @staticmethod
    def field(recording: Any, key: str, first: bool) -> str:
        inputs = recording.named(f"node-0-{key}").inputs
        return "create" if first or "update" not in inputs else "update"

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()

    def restarts(self) -> int:
        return sum(call.startswith("systemctl restart ") for call in self.calls())


def write_files(node: NodeRoot, settings: Settings, field: str) -> dict[str, str]:
    """The node's restart-file commands (`create` or `update`), as kubelet_node runs them;
    each command's stderr by key."""
    kubelet = settings.kubelet
    said = {}
    for file in rendering.node_files(settings, settings.nodes[0]):
        scripts = rendering.file_scripts(
            file.path, file.mode, f"node-0-{file.key}", kubelet=kubelet
        )
        result = node.sh(getattr(scripts, field), file.content)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == file.sha256
        said[file.key] = result.stderr
    return said


def started_node(root: Path, settings: Settings) -> NodeRoot:
    """A node in `root` whose kubelet the stack started healthy: files written, then the
    start, as the node's commands run them at the first `pulumi up`."""
    node = NodeRoot(root)
    node.bootstrapped()
    write_files(node, settings, "create")
    result = node.sh(kubelet_scripts(settings).create)
    assert result.returncode == 0, result.stderr
    return node


def start_script(settings: Settings) -> str:
    return kubelet_scripts(settings).create


def start_on(node: NodeRoot, settings: Settings) -> subprocess.CompletedProcess[str]:
    """The start script on `node`, its files written there first, as the file commands do."""
    node.write(rendering.node_files(settings, settings.nodes[0]))
    return node.sh(start_script(settings))
