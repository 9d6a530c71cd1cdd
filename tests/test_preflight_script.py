"""The preflight script, checked by shellcheck and run for real with `sh` against a fake node.

The fake node is a temp root: the script's /proc, /sys, /etc, /run, /usr, /lib and /opt paths
are moved under it, and PATH holds only the few tools the script needs beside stubs of
`kubelet`, `crictl`, `containerd`, `ss`, `ip`, `hostname`, `swapoff` and `swapon`, so the
machine running the tests cannot leak into what the script sees. Each check passes on a
healthy node and fails, with its one line, on a node broken in its way.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.node import rendering
from components.node.preflight import CHECKS, preflight_script
from components.settings.loading import load_settings
from components.settings.model import Settings
from tests.factories import HOST_KEY, admin_kubeconfig
from tests.test_artifacts import shellcheck
from tests.tools import require_tool

# What the script runs besides the stubs (sh builtins aside).
TOOLS = ("sh", "awk", "sed", "grep", "tr", "sort", "head", "tail", "cat", "readlink")
ADDRESS = "10.0.0.1"
IP_OUTPUT = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\n"
    f"2: eth0    inet {ADDRESS}/24 brd 10.0.0.255 scope global eth0\\n"
    "2: eth0    inet6 fe80::1/64 scope link"
)
SS_HEADER = "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process"
SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
KUBEADM_DROP_IN = (
    "[Service]\n"
    'Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf"\n'
    "ExecStart=\n"
    "ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS\n"
)
_MOVED = re.compile(r"(?<=['\s])/(?=(proc|sys|etc|run|usr|lib|opt)/)")


class FakeNode:
    """A healthy worker before day one, in a temp root; tests break it one way at a time."""

    def __init__(self, root: Path, socket_dir: Path, ca_file: Path, ssh_key: str) -> None:
        self.root = root
        self.endpoint = f"unix://{socket_dir}/containerd.sock"
        self._ca_file = ca_file
        self._ssh_key = ssh_key
        self.bin = root / "tools"
        self.stubs = root / "stubs"
        self.bin.mkdir(parents=True)
        self.stubs.mkdir()
        for tool in TOOLS:
            (self.bin / tool).symlink_to(require_tool(tool))
        self.kubelet = self.path("/opt/k8s/bin/kubelet")
        self.write("/opt/k8s/bin/kubelet", '#!/bin/sh\necho "Kubernetes v1.34.4"\n', mode=0o755)
        self.write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")
        self.write("/proc/swaps", SWAPS_HEADER)
        self.write("/proc/sys/net/ipv4/ip_forward", "1\n")
        self.write("/proc/sys/net/ipv6/conf/all/forwarding", "1\n")
        self.stub("ip", f"printf '{IP_OUTPUT}\\n'")
        self.stub("ss", f"echo '{SS_HEADER}'")
        self.stub("swapoff", "exit 0")
        self.stub("swapon", "exit 0")
        self.api_server_answers("v1.34.4")
        self.runtime = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.runtime.bind(f"{socket_dir}/containerd.sock")
        self.runtime.listen()

    def path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def write(self, path: str, content: str, mode: int = 0o644) -> Path:
        target = self.path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)
        return target

    def stub(self, name: str, body: str) -> None:
        stub = self.stubs / name
        stub.write_text(f"#!/bin/sh\n{body}\n")
        stub.chmod(0o755)

    def api_server_answers(self, version: str | None, status: int = 200) -> None:
        """A curl stub standing in for the API server's /version: `version` as gitVersion (or
        a body without one), read only with the cluster CA given on stdin."""
        body = f'"gitVersion": "{version}",' if version else '"kind": "Status",'
        self.stub(
            "curl",
            f'[ "$(cat)" = "$(cat {self._ca_file})" ] || {{ printf \'\\n000\'; exit 77; }}\n'
            f'printf \'{{\\n  "major": "1",\\n  {body}\\n}}\\n{status}\'',
        )

    def process(self, pid: int, comm: str, argv: list[str], sockets: tuple[int, ...] = ()) -> None:
        """A process in the node's /proc: its name, command line and socket descriptors."""
        self.write(f"/proc/{pid}/comm", f"{comm}\n")
        self.write(f"/proc/{pid}/cmdline", "".join(f"{arg}\0" for arg in argv))
        for fd, inode in enumerate(sockets, start=3):
            link = self.path(f"/proc/{pid}/fd/{fd}")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f"socket:[{inode}]")

    def unstub(self, name: str) -> None:
        (self.stubs / name).unlink()

    def settings(self, kubelet: dict[str, Any] | None = None, **raw: Any) -> Settings:
        return load_settings(
            {
                "apiServer": "https://10.0.0.10:6443",
                "caCertFile": str(self._ca_file),
                "kubeconfig": admin_kubeconfig(self._ca_file.read_text()),
                "ssh": {"privateKey": self._ssh_key, "hostKey": HOST_KEY},
                "cluster": {"dnsServiceIP": "10.254.0.2"},
                "nodes": [{"name": "node-0", "address": ADDRESS}],
                "kubelet": {"containerRuntimeEndpoint": self.endpoint, **(kubelet or {})},
                **raw,
            },
            environ={},
        )

    def script(self, settings: Settings) -> str:
        node = settings.nodes[0]
        script = preflight_script(settings, node, rendering.node_files(settings, node))
        assert script is not None
        return script

    def run(self, settings: Settings | None = None) -> subprocess.CompletedProcess[str]:
        """The preflight as pulumi-command runs it (`sh -c`), its paths moved into the root."""
        moved = _MOVED.sub(f"{self.root}/", self.script(settings or self.settings()))
        env = {"PATH": f"{self.stubs}:{self.bin}", "LC_ALL": "C"}
        return subprocess.run(
            [str(self.bin / "sh"), "-c", moved],
            input=self._ca_file.read_text(),
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    def tree(self) -> dict[str, tuple[int, float]]:
        return {
            str(path): (path.lstat().st_size, path.lstat().st_mtime)
            for path in self.root.rglob("*")
        }


@pytest.fixture
def node(tmp_path: Path, ca_file: Path, ssh_key: str) -> Iterator[FakeNode]:
    # A unix socket path holds at most 107 bytes: the runtime's socket lives in a short dir.
    socket_dir = Path(tempfile.mkdtemp(prefix="kbpf", dir="/tmp"))
    fake = FakeNode(tmp_path / "node", socket_dir, ca_file, ssh_key)
    yield fake
    fake.runtime.close()
    shutil.rmtree(socket_dir)


def failures(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Each failed check's line, by check; the summary line aside."""
    found = {}
    for line in result.stderr.splitlines():
        match = re.match(r"node-0: preflight (\w+) failed: (.*)$", line)
        if match:
            assert match.group(1) not in found, f"two lines for {match.group(1)}"
            assert "; fix: " in match.group(2), line
            found[match.group(1)] = match.group(2)
    return found


def passed(result: subprocess.CompletedProcess[str]) -> set[str]:
    return set(re.findall(r"^node-0: preflight (\w+) ok: ", result.stdout, re.MULTILINE))


def assert_fails_only(result: subprocess.CompletedProcess[str], check: str, *fragments: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    found = failures(result)
    assert set(found) == {check}, result.stderr
    for fragment in fragments:
        assert fragment in found[check], found[check]
    assert passed(result) == set(CHECKS) - {check}, result.stdout
    assert f"node-0: preflight failed: {check}; nothing was written to node-0" in result.stderr
    return found[check]


# --- shellcheck -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "skip", [[], ["kubeletBinary", "swap"], list(CHECKS[:-1])], ids=["all", "some", "one"]
)
def test_the_preflight_passes_shellcheck(node: FakeNode, skip: list[str]) -> None:
    assert shellcheck(node.script(node.settings(preflight={"skip": skip}))) == ""


# --- a healthy node -------------------------------------------------------------------------


def test_a_healthy_node_passes_every_check_and_nothing_is_written(node: FakeNode) -> None:
    before = node.tree()

    result = node.run()

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert passed(result) == set(CHECKS)
    assert result.stdout.splitlines()[-1] == "node-0: preflight passed"
    assert node.tree() == before


def test_a_skipped_check_does_not_run(node: FakeNode) -> None:
    node.path("/sys/fs/cgroup/cgroup.controllers").unlink()

    result = node.run(node.settings(preflight={"skip": ["cgroupV2"]}))

    assert result.returncode == 0, result.stderr
    assert passed(result) == set(CHECKS) - {"cgroupV2"}


def test_every_failure_is_reported_before_the_script_fails(node: FakeNode) -> None:
    node.kubelet.unlink()
    node.path("/sys/fs/cgroup/cgroup.controllers").unlink()
    node.stub("ip", "echo '2: eth0    inet 10.9.9.9/24 scope global eth0'")

    result = node.run()

    assert result.returncode == 1
    assert set(failures(result)) == {"kubeletBinary", "cgroupV2", "nodeAddress"}
    assert passed(result) == set(CHECKS) - {"kubeletBinary", "cgroupV2", "nodeAddress"}
    assert result.stderr.splitlines()[-1] == (
        "node-0: preflight failed: kubeletBinary cgroupV2 nodeAddress; "
        "nothing was written to node-0"
    )


# --- kubeletBinary --------------------------------------------------------------------------


def test_kubelet_binary_missing(node: FakeNode) -> None:
    node.kubelet.unlink()
    assert_fails_only(
        node.run(),
        "kubeletBinary",
        f"{node.kubelet} does not exist; fix: install the kubelet 1.31 to 1.35 at",
        "or set kubelet.binary",
    )


def test_kubelet_binary_not_executable(node: FakeNode) -> None:
    node.kubelet.chmod(0o644)
    assert_fails_only(node.run(), "kubeletBinary", "is not an executable file")


@pytest.mark.parametrize("version", ["v1.30.14", "v1.36.0", "v2.31.0"])
def test_kubelet_binary_outside_the_supported_versions(node: FakeNode, version: str) -> None:
    """Against an API server of the same minor version: only this check fails."""
    node.api_server_answers(version.replace("v2.", "v1."))
    node.kubelet.write_text(f'#!/bin/sh\necho "Kubernetes {version}"\n')
    line = assert_fails_only(node.run(), "kubeletBinary")
    if version.startswith("v1."):
        assert f"is Kubernetes {version}, not 1.31 to 1.35" in line
    else:
        assert "not a Kubernetes version" in line


@pytest.mark.parametrize("version", ["v1.31.0", "v1.35.2", "v1.35.0-rc.1"])
def test_kubelet_binary_within_the_supported_versions(node: FakeNode, version: str) -> None:
    node.api_server_answers(version)
    node.kubelet.write_text(f'#!/bin/sh\necho "Kubernetes {version}"\n')
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert f"is Kubernetes {version}" in result.stdout


def test_kubelet_binary_that_does_not_run(node: FakeNode) -> None:
    node.kubelet.write_text(
        "#!/bin/sh\necho 'cannot execute binary file: Exec format error' >&2\nexit 126\n"
    )
    assert_fails_only(
        node.run(),
        "kubeletBinary",
        "--version printed 'cannot execute binary file: Exec format error', not a Kubernetes",
    )


# --- containerRuntime -----------------------------------------------------------------------


def test_runtime_socket_missing(node: FakeNode) -> None:
    node.runtime.close()
    Path(node.endpoint.removeprefix("unix://")).unlink()
    assert_fails_only(
        node.run(),
        "containerRuntime",
        "there is no socket",
        "start the container runtime (systemctl enable --now containerd)",
    )


def test_runtime_without_crictl_is_checked_by_its_socket_and_says_so(node: FakeNode) -> None:
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert "crictl is not installed: the runtime was not asked" in result.stdout
    assert "could not be learnt, so it was not compared with kubelet.cgroupDriver" in result.stdout


def crictl_info(systemd_cgroup: str) -> str:
    return (
        "cat <<'EOF'\n"
        '{\n  "status": {"conditions": []},\n  "config": {"containerd": {"runtimes": {"runc": '
        '{"options": {\n    "SystemdCgroup": ' + systemd_cgroup + "\n  }}}}}\n}\nEOF"
    )


def test_runtime_answers_crictl_with_the_same_cgroup_driver(node: FakeNode) -> None:
    node.stub(
        "crictl",
        f'[ "$1 $2 $3" = "--runtime-endpoint {node.endpoint} info" ] || exit 9\n'
        + crictl_info("true"),
    )
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert (
        f"{node.endpoint} answers crictl info; its cgroup driver is systemd (crictl info)"
        in result.stdout
    )


def test_runtime_that_does_not_answer_crictl(node: FakeNode) -> None:
    node.stub("crictl", "echo 'connect: connection refused' >&2; exit 1")
    assert_fails_only(
        node.run(),
        "containerRuntime",
        "does not answer crictl info: connect: connection refused",
        "journalctl -u containerd",
    )


def test_runtime_with_another_cgroup_driver_by_crictl(node: FakeNode) -> None:
    node.stub("crictl", crictl_info("false"))
    assert_fails_only(
        node.run(),
        "containerRuntime",
        "uses the cgroupfs cgroup driver (crictl info), kubelet.cgroupDriver is systemd",
        "set kubelet.cgroupDriver: cgroupfs, or SystemdCgroup = true",
    )


RUNC_OPTIONS = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n"


@pytest.mark.parametrize(
    "flags",
    [["--config", "{config}"], ["-c", "{config}"], ["--config={config}", "--log-level", "info"]],
    ids=["config", "c", "config-equals"],
)
def test_runtime_cgroup_driver_is_read_from_the_config_the_running_containerd_uses(
    node: FakeNode, flags: list[str]
) -> None:
    """As on Flatcar: containerd runs with a config of its own; config dump would read another.
    (Its command line names the file as the node sees it: here, in the node's root.)"""
    path = node.write("/run/torcx/containerd.toml", RUNC_OPTIONS + "  SystemdCgroup = false\n")
    node.process(
        812, "containerd", ["/usr/bin/containerd", *(f.format(config=path) for f in flags)]
    )
    node.stub("containerd", "echo '  SystemdCgroup = true'")
    assert_fails_only(
        node.run(),
        "containerRuntime",
        f"uses the cgroupfs cgroup driver ({path}, the config the running containerd uses)",
        f"SystemdCgroup = true in containerd's runc options ({path}) and restart containerd",
    )


def test_a_commented_out_setting_of_the_running_config_does_not_count(node: FakeNode) -> None:
    node.write(
        "/etc/containerd/config.toml",
        RUNC_OPTIONS + "  # SystemdCgroup = true\n  SystemdCgroup = false\n",
    )
    node.process(812, "containerd", ["/usr/bin/containerd"])
    assert_fails_only(node.run(), "containerRuntime", "uses the cgroupfs cgroup driver")


def test_running_containerd_without_config_flag_uses_the_default_config(node: FakeNode) -> None:
    node.write("/etc/containerd/config.toml", RUNC_OPTIONS + "  SystemdCgroup = true\n")
    node.process(812, "containerd", ["/usr/bin/containerd"])
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert (
        f"its cgroup driver is systemd ({node.path('/etc/containerd/config.toml')}, the config "
        "the running containerd uses)"
    ) in result.stdout


def test_a_driver_from_containerd_config_dump_alone_only_warns(node: FakeNode) -> None:
    """containerd config dump reads the default config, which need not be the running one."""
    node.stub("containerd", "echo '  SystemdCgroup = false'")
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert "node-0: preflight containerRuntime ok, with a warning: " in result.stdout
    assert "containerd config dump says the cgroupfs cgroup driver" in result.stdout
    assert "may not be the config the running containerd uses" in result.stdout


def test_runtime_whose_runtimes_disagree_is_not_compared(node: FakeNode) -> None:
    node.stub("crictl", crictl_info("true") + "\necho '\"SystemdCgroup\": false'")
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert "could not be learnt" in result.stdout


# --- versionSkew ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "kubelet"),
    [("v1.34.4", "v1.34.4"), ("v1.34.4", "v1.31.0"), ("v1.35.1", "v1.32.9")],
    ids=["same", "three-older", "three-older-1.35"],
)
def test_a_kubelet_within_the_skew_policy(node: FakeNode, server: str, kubelet: str) -> None:
    node.api_server_answers(server)
    node.write("/opt/k8s/bin/kubelet", f'#!/bin/sh\necho "Kubernetes {kubelet}"\n', mode=0o755)
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert (
        f"versionSkew ok: the kubelet v1.{kubelet.split('.')[1]} is within the skew policy of "
        f"the API server {server}"
    ) in result.stdout


@pytest.mark.parametrize(
    ("server", "kubelet"),
    [("v1.33.2", "v1.34.4"), ("v1.35.0", "v1.31.3")],
    ids=["newer", "four-older"],
)
def test_a_kubelet_outside_the_skew_policy(node: FakeNode, server: str, kubelet: str) -> None:
    node.api_server_answers(server)
    node.write("/opt/k8s/bin/kubelet", f'#!/bin/sh\necho "Kubernetes {kubelet}"\n', mode=0o755)
    minor = int(server.split(".")[1])
    assert_fails_only(
        node.run(),
        "versionSkew",
        f"the kubelet v1.{kubelet.split('.')[1]} is not within the skew policy of the API server "
        f"{server} (at most three minor versions older, never newer)",
        f"install a kubelet v1.{minor - 3} to v1.{minor} at {node.kubelet}",
    )


def test_an_api_server_that_hides_its_version_gives_a_warning(node: FakeNode) -> None:
    """A cluster with anonymous access off answers /version with 401."""
    node.api_server_answers(None, status=401)
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert (
        "versionSkew ok, with a warning: https://10.0.0.10:6443/version answered HTTP 401 "
        "without a version"
    ) in result.stdout


def test_an_unreachable_api_server_fails_the_skew_check(node: FakeNode) -> None:
    node.stub(
        "curl",
        "echo 'curl: (7) Failed to connect to 10.0.0.10 port 6443: Connection refused'; "
        "printf '\\n000'; exit 7",
    )
    assert_fails_only(
        node.run(),
        "versionSkew",
        "the API server https://10.0.0.10:6443 cannot be reached from node-0 (curl: (7) Failed "
        "to connect to 10.0.0.10 port 6443: Connection refused)",
        "let node-0 reach https://10.0.0.10:6443",
    )


def test_the_api_server_is_read_with_the_cluster_ca_from_stdin(node: FakeNode) -> None:
    """The stub answers only when stdin holds the CA: a command without it fails the check."""
    script = _MOVED.sub(f"{node.root}/", node.script(node.settings()))
    env = {"PATH": f"{node.stubs}:{node.bin}", "LC_ALL": "C"}
    result = subprocess.run(
        [str(node.bin / "sh"), "-c", script], input="", capture_output=True, text=True, env=env
    )
    assert set(failures(result)) == {"versionSkew"}


# --- cgroupV2 -------------------------------------------------------------------------------


def test_cgroup_v1_or_hybrid(node: FakeNode) -> None:
    node.path("/sys/fs/cgroup/cgroup.controllers").unlink()
    node.path("/sys/fs/cgroup/unified").mkdir()
    assert_fails_only(
        node.run(),
        "cgroupV2",
        "refuses by default from 1.35",
        "systemd.unified_cgroup_hierarchy=1",
        "kubelet.extraConfig.failCgroupV1: false",
    )


# --- nodeAddress ----------------------------------------------------------------------------


def test_address_on_no_interface(node: FakeNode) -> None:
    node.stub(
        "ip",
        "printf '1: lo    inet 127.0.0.1/8 scope host lo\\n'; "
        "echo '2: eth0    inet 10.0.0.7/24 scope global eth0'",
    )
    assert_fails_only(
        node.run(),
        "nodeAddress",
        f"{ADDRESS} is on none of its interfaces (ip -o addr lists: 127.0.0.1 10.0.0.7)",
        "set the address of node node-0 (nodes[].address)",
    )


def test_address_is_not_matched_by_a_prefix(node: FakeNode) -> None:
    node.stub("ip", "echo '2: eth0    inet 10.0.0.10/24 scope global eth0'")
    assert_fails_only(node.run(), "nodeAddress", "lists: 10.0.0.10)")


def test_address_found_by_hostname_without_ip(node: FakeNode) -> None:
    node.unstub("ip")
    node.stub("hostname", f'[ "$1" = -I ] || exit 9\necho "10.0.0.7 {ADDRESS} fd00::1 "')
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert f"{ADDRESS} is on one of its interfaces (hostname -I)" in result.stdout


def test_address_that_cannot_be_listed(node: FakeNode) -> None:
    node.unstub("ip")
    assert_fails_only(node.run(), "nodeAddress", "cannot be listed", "install iproute2")


def test_ip_forward_is_checked_for_the_family_of_the_nodes_address(node: FakeNode) -> None:
    """kubeadm checks IPv6 forwarding where IPv6 is used; IPv4's does not matter there."""
    node.stub("ip", "echo '2: eth0    inet6 fd00::5/64 scope global'")
    node.write("/proc/sys/net/ipv4/ip_forward", "0\n")
    node.write("/proc/sys/net/ipv6/conf/all/forwarding", "0\n")
    settings = node.settings(nodes=[{"name": "node-0", "address": "fd00:0::5"}])
    assert_fails_only(
        node.run(settings),
        "ipForward",
        "net.ipv6.conf.all.forwarding is 0",
        "sysctl -w net.ipv6.conf.all.forwarding=1",
    )


def test_an_ipv6_address_on_an_interface(node: FakeNode) -> None:
    node.stub("ip", "echo '2: eth0    inet6 fd00::5/64 scope global'")
    settings = node.settings(nodes=[{"name": "node-0", "address": "fd00:0::5"}])
    result = node.run(settings)
    assert result.returncode == 0, result.stderr
    assert "fd00::5 is on one of its interfaces" in result.stdout


# --- kubeletPorts ---------------------------------------------------------------------------


def ss_listing(*lines: str) -> str:
    return "cat <<'EOF'\n" + "\n".join([SS_HEADER, *lines]) + "\nEOF"


def test_port_held_by_another_process(node: FakeNode) -> None:
    node.stub(
        "ss",
        ss_listing(
            "LISTEN 0 511 0.0.0.0:10250 0.0.0.0:* "
            'users:(("nginx",pid=71,fd=6),("nginx",pid=70,fd=6))',
            'LISTEN 0 511 0.0.0.0:110250 0.0.0.0:* users:(("other",pid=72,fd=6))',
        ),
    )
    assert_fails_only(
        node.run(),
        "kubeletPorts",
        "port 10250 (the kubelet API, kubelet.port) is held by nginx",
        "fix: stop it or move it to another port; or set kubelet.port to a free port",
    )


def test_both_ports_held_make_one_line(node: FakeNode) -> None:
    node.stub(
        "ss",
        ss_listing(
            'LISTEN 0 4096 127.0.0.1:10248 0.0.0.0:* users:(("python3",pid=9,fd=3))',
            'LISTEN 0 4096 *:10250 *:* users:(("nginx",pid=8,fd=20))',
        ),
    )
    assert_fails_only(
        node.run(),
        "kubeletPorts",
        "port 10250 (the kubelet API, kubelet.port) is held by nginx; "
        "port 10248 (the kubelet's healthz) is held by python3; fix:",
    )


def test_healthz_port_held_by_another_process(node: FakeNode) -> None:
    node.stub(
        "ss", ss_listing('LISTEN 0 4096 127.0.0.1:10248 0.0.0.0:* users:(("python3",pid=9,fd=3))')
    )
    assert_fails_only(
        node.run(), "kubeletPorts", "port 10248 (the kubelet's healthz) is held by python3"
    )


def test_ports_held_by_the_kubelet_pass(node: FakeNode) -> None:
    node.stub(
        "ss",
        ss_listing(
            'LISTEN 0 4096 127.0.0.1:10248 0.0.0.0:* users:(("kubelet",pid=9,fd=3))',
            'LISTEN 0 4096 *:10250 *:* users:(("kubelet",pid=9,fd=20))',
        ),
    )
    result = node.run()
    assert result.returncode == 0, result.stderr


def test_the_configured_port_is_the_one_checked(node: FakeNode) -> None:
    node.stub("ss", ss_listing('LISTEN 0 511 [::]:10350 [::]:* users:(("envoy",pid=5,fd=9))'))
    result = node.run(node.settings(kubelet={"port": 10350}))
    assert_fails_only(
        result, "kubeletPorts", "port 10350 (the kubelet API, kubelet.port) is held by envoy"
    )


PROC_NET_TCP = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode\n"
    "   0: 0100007F:280A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0     "
    "   0 4711 1\n"
    "   1: 0100007F:2838 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0     "
    "   0 4712 1\n"
)


@pytest.mark.parametrize(
    ("holder", "named"), [("envoy", "envoy"), (None, "a process that could not be named")]
)
def test_port_held_without_ss_is_named_from_proc(
    node: FakeNode, holder: str | None, named: str
) -> None:
    node.unstub("ss")
    node.write("/proc/net/tcp", PROC_NET_TCP)
    if holder is not None:
        node.process(77, holder, [f"/usr/bin/{holder}"], sockets=(4700, 4711))
    assert_fails_only(
        node.run(), "kubeletPorts", f"port 10250 (the kubelet API, kubelet.port) is held by {named}"
    )


def test_ports_held_by_the_kubelet_pass_without_ss(node: FakeNode) -> None:
    """A node whose kubelet already runs (adoption): its own ports are not another's."""
    node.unstub("ss")
    node.write("/proc/net/tcp", PROC_NET_TCP)
    node.process(9, "kubelet", ["/opt/k8s/bin/kubelet"], sockets=(4711,))
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert "10250 and 10248 are free or the kubelet's" in result.stdout


def test_ip_forward_off(node: FakeNode) -> None:
    node.write("/proc/sys/net/ipv4/ip_forward", "0\n")
    assert_fails_only(
        node.run(),
        "ipForward",
        "net.ipv4.ip_forward is 0",
        "sysctl -w net.ipv4.ip_forward=1",
        "/etc/sysctl.d/",
    )


# --- kubeadmDropIn --------------------------------------------------------------------------


@pytest.mark.parametrize("directory", ["/usr/lib/systemd/system", "/etc/systemd/system"])
def test_kubeadm_drop_in_overrides_exec_start(node: FakeNode, directory: str) -> None:
    dropin = node.write(f"{directory}/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROP_IN)
    assert_fails_only(
        node.run(),
        "kubeadmDropIn",
        f"{dropin} set ExecStart for kubelet.service, as kubeadm's 10-kubeadm.conf does",
        f"remove {dropin} (or the kubeadm package that installs it)",
    )


def test_a_drop_in_of_the_units_own_name_is_the_one_looked_for(node: FakeNode) -> None:
    node.write("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROP_IN)
    settings = node.settings(kubelet={"unitFile": "/etc/systemd/system/k8s-kubelet.service"})
    assert node.run(settings).returncode == 0
    node.write("/etc/systemd/system/k8s-kubelet.service.d/override.conf", KUBEADM_DROP_IN)
    assert_fails_only(node.run(settings), "kubeadmDropIn", "set ExecStart for k8s-kubelet.service")


def test_a_drop_in_that_leaves_exec_start_alone_passes(node: FakeNode) -> None:
    node.write(
        "/etc/systemd/system/kubelet.service.d/20-env.conf",
        "[Service]\nEnvironment=A=1\n# ExecStart=x\n",
    )
    result = node.run()
    assert result.returncode == 0, result.stderr


def test_a_drop_in_seen_through_a_linked_lib_is_named_once(node: FakeNode) -> None:
    dropin = node.write(
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROP_IN
    )
    node.path("/lib").symlink_to("usr/lib")
    line = assert_fails_only(node.run(), "kubeadmDropIn")
    assert line.startswith(f"{dropin} set ExecStart"), line


# --- swap -----------------------------------------------------------------------------------


def with_swap(node: FakeNode) -> None:
    node.write("/proc/swaps", SWAPS_HEADER + "/dev/sda2\t\t\t\tpartition\t2097148\t\t0\t\t-2\n")


def test_swap_on_is_turned_off_by_the_preparation(node: FakeNode) -> None:
    with_swap(node)
    result = node.run()
    assert result.returncode == 0, result.stderr
    assert "swap is on (/dev/sda2); the preparation turns it off" in result.stdout


def test_swap_on_that_the_preparation_cannot_turn_off(node: FakeNode) -> None:
    with_swap(node)
    node.unstub("swapoff")
    assert_fails_only(
        node.run(),
        "swap",
        "swap is on (/dev/sda2), and without swapoff and swapon",
        "or set kubelet.failSwapOn: false",
    )


def test_swap_allowed_is_not_checked(node: FakeNode) -> None:
    with_swap(node)
    node.unstub("swapoff")
    result = node.run(node.settings(kubelet={"failSwapOn": False}))
    assert result.returncode == 0, result.stderr
    assert "preflight swap" not in result.stdout
