"""The lab's SSH nodes behave like separate worker nodes for the program's remote commands.

Each check goes through the real OpenSSH client and server, as pulumi-command does: the
session is root on its own node, writes stay in that node, the systemd stand-ins run units
that outlive the session, and the project's own scripts (rendered from `templates/`) work on
a node; a node restarts as its host would, its enabled units only coming back; and the control
plane's daemons restart, kube-controller-manager with a short signing duration and without it.
The last test removes the lab after a simulated crash, checks that nothing is left, and brings
it back with the same host keys for whatever runs next.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import json
import re
import socketserver
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client

from components.node import rendering
from components.node.rendering import NodeFile
from components.settings.loading import load_settings
from components.settings.model import Settings
from lab import cluster, control_plane, node_network, node_teardown, nodes, processes
from tests.e2e.lab_client import NODE_COUNT, Lab, assert_nothing_left
from tests.factories import CLUSTER_CA, HOST_KEY, make_ssh_key, stack_config

pytestmark = pytest.mark.e2e

NODE1, NODE2, NODE3, NODE4 = (f"{node_network.NETNS_PREFIX}{i}" for i in (1, 2, 3, 4))

# Stands in for the kubelet binary: answers /healthz on 127.0.0.1:10248 and serves on the
# node address's port 10250, which is all the start script and the host look at.
FAKE_KUBELET = """#!/usr/bin/python3
import http.server, socketserver, sys, threading
socketserver.TCPServer.allow_reuse_address = True  # as Go does for the real kubelet
node_ip = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--node-ip="))
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
health = socketserver.ThreadingTCPServer(("127.0.0.1", 10248), Handler)
serving = socketserver.ThreadingTCPServer((node_ip, 10250), Handler)
threading.Thread(target=serving.serve_forever, daemon=True).start()
print("fake kubelet up with", sys.argv[1:], flush=True)
health.serve_forever()
"""


# A continuation line, as in the kubelet's unit: the stand-in joins them as systemd does.
SLEEPER_COMMAND = "/bin/sh -c \\\n  'echo in $(pwd) on $(hostname); exec /bin/sleep 1000'"


SLEEPER_ARGV = b"/bin/sleep\x001000\x00"


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether a check holds within the timeout (a busy machine may take a while to exec)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def calls_matching(name: str, lab: Lab, *argv: str) -> int:
    """How often the node's stand-ins were called with exactly these arguments."""
    return sum(call["argv"] == list(argv) for call in nodes.calls(name, lab.state_dir))


def unit_file(exec_start: str, workdir: str = "/") -> str:
    return (
        "[Unit]\nDescription=lab test unit\n\n"
        f"[Service]\nWorkingDirectory={workdir}\nExecStart={exec_start}\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def main_pid(lab: Lab, name: str, unit: str) -> int:
    """The unit's main pid as the node's stand-in recorded it."""
    text = (nodes.node_root(name, lab.state_dir) / f"run/lab-systemd/{unit}.pid").read_text()
    return int(text.split()[0])


@pytest.fixture
def host_http_server() -> Iterator[tuple[str, str]]:
    """A web server on the host's lab address only; yields its URL and the body it serves."""
    body = f"hello from the host {uuid.uuid4()}"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    # socketserver's, not http.server's: that one looks up the address in DNS when it binds.
    server = socketserver.ThreadingTCPServer((nodes.HOST_ADDRESS, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{nodes.HOST_ADDRESS}:{server.server_address[1]}/", body
    server.shutdown()
    server.server_close()


def test_state_file_records_each_node_and_its_host_key(lab: Lab) -> None:
    state = json.loads(nodes.state_file(lab.state_dir).read_text())
    assert [(n["name"], n["address"], n["sshPort"]) for n in state["nodes"]] == [
        (f"kblab-node{i}", f"10.77.0.{10 + i}", 22) for i in range(1, NODE_COUNT + 1)
    ]
    for node in state["nodes"]:
        assert re.fullmatch(r"ssh-ed25519 AAAA[0-9A-Za-z+/]+=*", node["hostKey"])
        pub = (nodes.node_dir(node["name"], lab.state_dir) / "ssh_host_ed25519_key.pub").read_text()
        assert pub.startswith(node["hostKey"] + " ")
    assert len({node["hostKey"] for node in state["nodes"]}) == NODE_COUNT


def test_ssh_refuses_a_node_whose_host_key_differs_from_the_pinned_one(
    lab: Lab, tmp_path: Path
) -> None:
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{lab.node(NODE1)['address']} {lab.node(NODE2)['hostKey']}\n")
    result = lab.ssh(NODE1, "true", known_hosts=wrong)
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr


@pytest.mark.parametrize("name", [NODE1, NODE2, NODE3])
def test_a_session_is_root_on_its_own_node(lab: Lab, name: str) -> None:
    out = lab.ssh_ok(name, "hostname; id -u; cat /etc/hostname")
    hostname, uid, etc_hostname = out.splitlines()
    assert (hostname, uid, etc_hostname) == (name, "0", name)
    address = lab.ssh_ok(name, "ip -4 -o addr show dev eth0").split()[3]
    assert address == f"{lab.node(name)['address']}/24"


def test_writes_land_only_in_the_nodes_upper_dir(lab: Lab) -> None:
    probe = f"etc/lab-probe-{uuid.uuid4().hex}"
    lab.ssh_ok(NODE1, f"touch /{probe} && systemctl daemon-reload")
    assert (nodes.node_upper(NODE1, lab.state_dir) / probe).is_file()
    assert not (Path("/") / probe).exists(), "the node wrote to the host's /"
    for other in (NODE2, NODE3):
        assert not (nodes.node_upper(other, lab.state_dir) / probe).exists()
        assert nodes.node_exec(
            other, ["test", "-e", f"/{probe}"], state_dir=lab.state_dir
        ).returncode
    assert calls_matching(NODE1, lab, "systemctl", "daemon-reload") >= 1


def test_a_node_reaches_the_host_on_the_lab_address(
    lab: Lab, host_http_server: tuple[str, str]
) -> None:
    url, body = host_http_server
    assert lab.ssh_ok(NODE2, f"curl -s --noproxy '*' --max-time 5 {url}") == body
    assert lab.ssh_ok(NODE2, "ip route show default").split()[:3] == [
        "default",
        "via",
        nodes.HOST_ADDRESS,
    ]


def test_the_host_reaches_a_service_on_the_kubelet_port_of_a_node(lab: Lab) -> None:
    address = lab.node(NODE2)["address"]
    unit = unit_file(f"/usr/bin/python3 -m http.server --bind {address} 10250", "/srv/lab")
    lab.ssh_ok(NODE2, "mkdir -p /srv/lab && cat > /srv/lab/index.html", stdin="node2 web\n")
    lab.ssh_ok(NODE2, "cat > /etc/systemd/system/web.service", stdin=unit)
    lab.ssh_ok(NODE2, "systemctl restart web.service")
    try:
        body = _get_with_retries(f"http://{address}:10250/index.html")
        assert body == "node2 web\n"
    finally:
        lab.ssh_ok(NODE2, "systemctl stop web.service")


# No proxy from the environment: lab traffic stays on the lab addresses.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_with_retries(url: str, attempts: int = 50) -> str:
    """GET a URL, retrying while the service is still starting."""
    for _ in range(attempts - 1):
        try:
            with _DIRECT.open(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.2)
    with _DIRECT.open(url, timeout=2) as response:
        return response.read().decode()


def test_a_unit_outlives_the_session_and_stops_on_request(lab: Lab) -> None:
    lab.ssh_ok(NODE1, "mkdir -p /var/lib/sleeper")
    lab.ssh_ok(
        NODE1,
        "cat > /etc/systemd/system/sleeper.service",
        stdin=unit_file(SLEEPER_COMMAND, "/var/lib/sleeper"),
    )
    lab.ssh_ok(NODE1, "systemctl daemon-reload && systemctl enable sleeper.service")
    lab.ssh_ok(NODE1, "systemctl restart sleeper.service")

    pid = main_pid(lab, NODE1, "sleeper.service")
    assert nodes.is_alive(pid), "the unit died with the SSH session"
    assert _eventually(lambda: Path(f"/proc/{pid}/cmdline").read_bytes() == SLEEPER_ARGV)
    assert Path(f"/proc/{pid}/root").resolve() == nodes.node_root(NODE1, lab.state_dir)
    assert pid in node_teardown.netns_pids(NODE1)
    assert lab.ssh_ok(NODE1, "systemctl is-active sleeper.service") == "active\n"
    assert lab.ssh(NODE2, "systemctl is-active sleeper.service").stdout == "inactive\n"
    journal = lab.ssh_ok(NODE1, "journalctl -u sleeper.service --no-pager -n 40")
    assert f"in /var/lib/sleeper on {NODE1}" in journal

    lab.ssh_ok(NODE1, "systemctl stop sleeper.service")
    assert not nodes.is_alive(pid)
    result = lab.ssh(NODE1, "systemctl is-active sleeper.service")
    assert (result.returncode, result.stdout) == (3, "inactive\n")
    for verb in ("enable", "restart", "stop"):
        assert calls_matching(NODE1, lab, "systemctl", verb, "sleeper.service") == 1


def show(lab: Lab, name: str, unit: str) -> dict[str, str]:
    """The unit's MainPID, NRestarts and ActiveState, as `systemctl show` prints them."""
    out = lab.ssh_ok(name, f"systemctl show -p MainPID,NRestarts -p ActiveState {unit}")
    return dict(line.split("=", 1) for line in out.splitlines())


def test_a_unit_that_exits_is_restarted_as_its_restart_setting_says(lab: Lab) -> None:
    """Restart=always with RestartSec=1: a crash loop, as systemd runs one, each exit a new
    main pid and one more NRestarts; a stop ends it, and a start counts from 0 again."""
    text = unit_file("/bin/sh -c 'echo up; sleep 1; exit 3'").replace(
        "[Install]", "Restart=always\nRestartSec=1\n\n[Install]"
    )
    lab.ssh_ok(NODE2, "cat > /etc/systemd/system/crasher.service", stdin=text)
    lab.ssh_ok(NODE2, "systemctl restart crasher.service")
    first = show(lab, NODE2, "crasher.service")

    assert _eventually(lambda: int(show(lab, NODE2, "crasher.service")["NRestarts"]) >= 2)
    later = show(lab, NODE2, "crasher.service")
    journal = lab.ssh_ok(NODE2, "journalctl -u crasher.service --no-pager -n 40")
    lab.ssh_ok(NODE2, "systemctl stop crasher.service")
    time.sleep(2.5)
    stopped = show(lab, NODE2, "crasher.service")
    lab.ssh_ok(NODE2, "systemctl start crasher.service")
    again = show(lab, NODE2, "crasher.service")
    lab.ssh_ok(NODE2, "systemctl stop crasher.service")

    assert first["NRestarts"] == "0" and first["MainPID"] != "0"
    assert first["ActiveState"] == "active"
    assert later["MainPID"] != first["MainPID"]
    assert "Main process exited, code=exited, status=3" in journal
    assert "Scheduled restart job, restart counter is at 2." in journal
    assert stopped == {"MainPID": "0", "NRestarts": stopped["NRestarts"], "ActiveState": "inactive"}
    assert again["NRestarts"] == "0" and again["MainPID"] != "0"


def test_a_unit_without_restart_stays_down_after_it_exits(lab: Lab) -> None:
    lab.ssh_ok(
        NODE2,
        "cat > /etc/systemd/system/oneshot.service",
        stdin=unit_file("/bin/sh -c 'sleep 1; exit 0'"),
    )
    lab.ssh_ok(NODE2, "systemctl start oneshot.service")

    assert _eventually(lambda: show(lab, NODE2, "oneshot.service")["ActiveState"] == "inactive")
    assert show(lab, NODE2, "oneshot.service")["NRestarts"] == "0"
    assert lab.ssh(NODE2, "systemctl is-active oneshot.service").returncode == 3


def test_swap_commands_are_harmless_stand_ins(lab: Lab) -> None:
    script = (
        "swapoff -a && "
        "systemctl list-unit-files --type=swap --no-legend --plain && "
        "swapon --show --noheadings"
    )
    assert lab.ssh_ok(NODE3, script) == ""
    assert calls_matching(NODE3, lab, "swapoff", "-a") == 1
    assert calls_matching(NODE3, lab, "swapon", "--show", "--noheadings") == 1


def test_a_node_has_what_a_kubelet_needs(lab: Lab) -> None:
    def run(name: str, command: str) -> str:
        result = nodes.node_exec(name, ["sh", "-c", command], state_dir=lab.state_dir)
        assert result.returncode == 0, result.stderr
        return result.stdout

    mounts = {line.split()[4] for line in run(NODE1, "cat /proc/self/mountinfo").splitlines()}
    assert {"/", "/proc", "/sys", "/sys/fs/cgroup", "/dev", "/dev/pts", "/run"} <= mounts
    assert run(NODE1, "test -c /dev/kmsg && echo yes") == "yes\n"
    controllers = set(run(NODE1, "ls /sys/fs/cgroup").split())
    assert {"cpu", "memory", "pids"} <= controllers or "cgroup.controllers" in controllers
    assert set(run(NODE1, "ls /sys/class/net").split()) == {"eth0", "lo"}
    run(NODE1, "echo mine > /run/lab-own-run")
    assert run(NODE2, "test -e /run/lab-own-run || echo absent") == "absent\n"
    assert not Path("/run/lab-own-run").exists()


def _settings(tmp_path: Path, name: str, address: str, **kubelet: object) -> Settings:
    """Valid settings for one lab node, as a stack would give them."""
    ca = tmp_path / "ca.pem"
    ca.write_text(CLUSTER_CA.pem)
    node = {"name": name, "address": address, "hostKey": HOST_KEY}
    raw = stack_config(ca, make_ssh_key(), [node], kubelet=kubelet)
    return load_settings({key.split(":", 1)[1]: value for key, value in raw.items()})


def _install(lab: Lab, name: str, path: str, mode: str, content: str) -> None:
    scripts = rendering.file_scripts(path, mode, f"lab-{Path(path).name}")
    out = lab.ssh_ok(name, scripts.create, stdin=content)
    assert out.strip() == hashlib.sha256(content.encode()).hexdigest()


def test_the_projects_scripts_run_on_a_node(lab: Lab, tmp_path: Path) -> None:
    settings = _settings(tmp_path, NODE3, lab.node(NODE3)["address"], healthzTimeoutSeconds=30)
    kubelet, node = settings.kubelet, settings.nodes[0]
    unit = NodeFile(
        "kubelet-unit", kubelet.unit_file, "0600", rendering.kubelet_unit(kubelet, node)
    )
    _install(lab, NODE3, kubelet.binary, "0755", FAKE_KUBELET)
    _install(lab, NODE3, unit.path, unit.mode, unit.content)
    # What TLS bootstrap leaves once the client certificate is issued: the gate checks it.
    _install(lab, NODE3, kubelet.ca_file, "0644", CLUSTER_CA.pem)
    client = f"{kubelet.cert_dir}/kubelet-client-current.pem"
    _install(lab, NODE3, client, "0600", CLUSTER_CA.kubelet_client_pem(NODE3))
    _install(lab, NODE3, kubelet.kubeconfig, "0600", "issued\n")
    lab.ssh_ok(NODE3, rendering.prepare_node_script(kubelet))
    scripts = rendering.kubelet_scripts(
        settings, node, [unit], f"{NODE3}-start-kubelet", bootstrap_token_id="abcdef"
    )
    # The node may have served other modules' scenarios before: count this test's calls.
    restart, enable = (
        ("systemctl", "restart", "kubelet.service"),
        ("systemctl", "enable", "kubelet.service"),
    )
    disable = ("systemctl", "disable", "--now", "kubelet.service")
    before = {call: calls_matching(NODE3, lab, *call) for call in (restart, enable, disable)}

    assert "is healthy" in lab.ssh_ok(NODE3, scripts.create)
    assert _get_with_retries(f"http://{node.address}:{kubelet.port}/") == "ok"
    # Pulumi runs a command's update on later changes, never its create again.
    assert "started by this stack already" in lab.ssh_ok(NODE3, scripts.update)
    assert "not restarted" in lab.ssh_ok(
        NODE3, rendering.restart_scripts(settings, node, [unit]).update
    )
    assert calls_matching(NODE3, lab, *restart) == before[restart] + 1
    assert calls_matching(NODE3, lab, *enable) == before[enable] + 1

    pid = main_pid(lab, NODE3, "kubelet.service")
    lab.ssh_ok(NODE3, scripts.delete)
    assert not nodes.is_alive(pid)
    assert lab.ssh(NODE3, "systemctl is-enabled kubelet.service").stdout == "disabled\n"
    assert calls_matching(NODE3, lab, *disable) == before[disable] + 1


def test_a_kubelet_that_cannot_start_shows_its_journal(lab: Lab, tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        NODE1,
        lab.node(NODE1)["address"],
        binary="/opt/k8s/bin/no-such-kubelet",
        healthzTimeoutSeconds=10,
    )
    kubelet, node = settings.kubelet, settings.nodes[0]
    unit = NodeFile(
        "kubelet-unit", kubelet.unit_file, "0600", rendering.kubelet_unit(kubelet, node)
    )
    _install(lab, NODE1, unit.path, unit.mode, unit.content)
    lab.ssh_ok(NODE1, rendering.prepare_node_script(kubelet))
    scripts = rendering.kubelet_scripts(
        settings, node, [unit], f"{NODE1}-start-kubelet", bootstrap_token_id="abcdef"
    )
    journal = ("journalctl", "-u", "kubelet.service", "--no-pager", "-n", "40")
    before = calls_matching(NODE1, lab, *journal)
    result = lab.ssh(NODE1, scripts.create)
    assert result.returncode == 1
    assert (
        f"the kubelet on {NODE1} crashed after it was started: it was not running right after"
    ) in result.stderr
    assert "status=203/EXEC" in result.stderr
    assert calls_matching(NODE1, lab, *journal) == before + 1


def test_a_reboot_brings_back_the_enabled_units_and_only_those(lab: Lab) -> None:
    """The fourth node, which no other test here uses: one unit enabled (WantedBy=
    multi-user.target), one only started. After the reboot every old process is gone, sshd
    answers with the same host key, /run is empty and the disk is kept; the enabled unit runs
    again under a new MainPID, started without a systemctl call, and the other stays down."""
    for unit in ("booted.service", "manual.service"):
        path = f"/etc/systemd/system/{unit}"
        lab.ssh_ok(NODE4, f"cat > {path}", stdin=unit_file("/bin/sleep 900"))
    lab.ssh_ok(NODE4, "systemctl enable --now booted.service && systemctl start manual.service")
    lab.ssh_ok(NODE4, "touch /run/lab-reboot-probe /var/lib/lab-reboot-probe")
    before = {unit: main_pid(lab, NODE4, unit) for unit in ("booted.service", "manual.service")}
    sshd = nodes.sshd_pid(NODE4, lab.state_dir)
    start = ("systemctl", "start", "booted.service")
    starts = calls_matching(NODE4, lab, *start)

    started = nodes.reboot(NODE4, lab.state_dir)

    try:
        assert "booted.service" in started and "manual.service" not in started
        assert not any(nodes.is_alive(pid) for pid in (sshd, *before.values()))
        assert nodes.sshd_pid(NODE4, lab.state_dir) != sshd
        assert lab.ssh_ok(NODE4, "hostname").strip() == NODE4
        booted = show(lab, NODE4, "booted.service")
        assert booted["ActiveState"] == "active" and booted["NRestarts"] == "0"
        pid = int(booted["MainPID"])
        assert pid not in (0, before["booted.service"])
        assert pid in node_teardown.netns_pids(NODE4)
        assert Path(f"/proc/{pid}/root").resolve() == nodes.node_root(NODE4, lab.state_dir)
        assert show(lab, NODE4, "manual.service") == {
            "MainPID": "0",
            "NRestarts": "0",
            "ActiveState": "inactive",
        }
        assert lab.ssh(NODE4, "test -e /run/lab-reboot-probe").returncode == 1
        assert lab.ssh_ok(NODE4, "ls /run/lock /var/lib/lab-reboot-probe")
        assert calls_matching(NODE4, lab, *start) == starts
    finally:
        lab.ssh(NODE4, "systemctl disable --now booted.service; systemctl stop manual.service")


@pytest.fixture(scope="module")
def plane(lab: Lab) -> Iterator[control_plane.ControlPlane]:
    """The lab's control plane, on the nodes' bridge address; stopped again afterwards unless
    it ran before (the scenarios' `world` starts its own anew)."""
    plane = control_plane.control_plane()
    ran = all(processes.running(daemon, plane.run_dir) for daemon in control_plane.DAEMONS)
    control_plane.up(plane)
    yield plane
    if not ran:
        control_plane.down(plane)


def signed_client_certificate(
    plane: control_plane.ControlPlane,
) -> tuple[x509.Certificate, datetime.datetime, datetime.datetime]:
    """A kube-apiserver-client CSR without expirationSeconds (as a kubelet's), approved with the
    lab's admin credential; returns the certificate kube-controller-manager issued, and the
    times just before the approval and just after the certificate was seen: it was signed
    between them."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab-signing-probe")])
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    pem = request.public_bytes(serialization.Encoding.PEM)
    certificates = client.CertificatesV1Api(cluster.api(plane))
    name = f"lab-signing-probe-{uuid.uuid4().hex[:8]}"
    body = client.V1CertificateSigningRequest(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1CertificateSigningRequestSpec(
            request=base64.b64encode(pem).decode(),
            signer_name="kubernetes.io/kube-apiserver-client",
            usages=["client auth"],
        ),
    )
    csr = certificates.create_certificate_signing_request(body)
    try:
        approved = client.V1CertificateSigningRequestCondition(
            type="Approved", status="True", reason="LabTest", message="lab signing probe"
        )
        csr.status = client.V1CertificateSigningRequestStatus(conditions=[approved])
        approved_at = datetime.datetime.now(datetime.timezone.utc)
        certificates.replace_certificate_signing_request_approval(name, csr)
        issued: list[str] = []

        def issue() -> bool:
            status = certificates.read_certificate_signing_request(name).status
            issued[:] = [status.certificate] if status and status.certificate else []
            return bool(issued)

        assert _eventually(issue, 60), f"CSR {name} was approved but not signed in 60 s"
        seen_at = datetime.datetime.now(datetime.timezone.utc)
    finally:
        certificates.delete_certificate_signing_request(name)
    certificate = x509.load_pem_x509_certificate(base64.b64decode(issued[0]))
    return certificate, approved_at, seen_at


def lifetime(certificate: x509.Certificate) -> datetime.timedelta:
    return certificate.not_valid_after_utc - certificate.not_valid_before_utc


def test_a_short_signing_duration_holds_until_kube_controller_manager_restarts_without_it(
    plane: control_plane.ControlPlane,
) -> None:
    """--cluster-signing-duration=4m: kube-controller-manager backdates notBefore by 5 min and,
    below 8 h, leaves notAfter at signing + 4 min (k8s.io/kubernetes pkg/controller/
    certificates/signer/signer.go, authority/policies.go): 9 min from notBefore to notAfter.
    Restarted without the flag, it signs for its default year again, which the lab CA's own
    end (30 days away) cuts short."""
    before = processes.running("kube-controller-manager", plane.run_dir)
    outage = control_plane.set_signing_duration(plane, "4m")
    try:
        short, approved_at, seen_at = signed_client_certificate(plane)
    finally:
        control_plane.set_signing_duration(plane, None)
    default, _, _ = signed_client_certificate(plane)
    ca = x509.load_pem_x509_certificate(plane.ca_cert.read_bytes())

    assert processes.running("kube-controller-manager", plane.run_dir) not in (None, before)
    assert 0 < outage.seconds < control_plane.READY_TIMEOUT_SECONDS
    assert lifetime(short) == datetime.timedelta(minutes=9)
    signed_at = short.not_valid_after_utc - datetime.timedelta(minutes=4)
    second = datetime.timedelta(seconds=1)  # the certificate's times are in whole seconds
    assert approved_at - second <= signed_at <= seen_at
    assert default.not_valid_after_utc == ca.not_valid_after_utc
    assert lifetime(default) > datetime.timedelta(days=1)


def test_an_api_server_restart_reports_how_long_it_was_down(
    plane: control_plane.ControlPlane,
) -> None:
    """Right after the previous test restarted kube-controller-manager, which dies if the API
    server goes away before its controllers have started: it must have been waited for."""
    before = processes.running("kube-apiserver", plane.run_dir)
    controller_manager = processes.running("kube-controller-manager", plane.run_dir)
    outage = control_plane.restart_daemon(plane, "kube-apiserver")

    assert processes.running("kube-apiserver", plane.run_dir) not in (None, before)
    assert processes.running("kube-controller-manager", plane.run_dir) == controller_manager
    assert outage.daemon == "kube-apiserver"
    assert 0 < outage.seconds < control_plane.READY_TIMEOUT_SECONDS
    assert outage.ready_at <= datetime.datetime.now(datetime.timezone.utc)
    assert "default" in {
        namespace.metadata.name
        for namespace in client.CoreV1Api(cluster.api(plane)).list_namespace().items
    }


def test_down_cleans_up_after_a_crash_and_up_keeps_the_host_keys(lab: Lab) -> None:
    sshd = nodes.sshd_pid(NODE1, lab.state_dir)
    lab.ssh_ok(NODE2, "cat > /etc/systemd/system/nap.service", stdin=unit_file("/bin/sleep 900"))
    lab.ssh_ok(NODE2, "systemctl start nap.service")
    nap = main_pid(lab, NODE2, "nap.service")
    subprocess.run(["ip", "netns", "delete", NODE1], check=True)  # a crash lost its name
    nodes.state_file(lab.state_dir).unlink()

    nodes.down(lab.state_dir)
    nodes.down(lab.state_dir)

    assert not nodes.is_alive(sshd)
    assert not nodes.is_alive(nap)
    assert_nothing_left(lab.state_dir)

    assert nodes.up(NODE_COUNT, lab.state_dir) == lab.state
    assert lab.ssh_ok(NODE2, "hostname; ls /etc/systemd/system/nap.service || true") == f"{NODE2}\n"
