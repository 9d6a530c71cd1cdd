"""The renewal approver through the real CLI, control plane and kubelets (issue 16).

kube-controller-manager signs for four minutes, so each kubelet asks for a new serving
certificate 1.3 to 3.1 minutes after it got one (`certificate_manager.go`: at 70 to 90 % of
notAfter - notBefore, with notBefore backdated five minutes). The stack's three nodes run
their kubelets; the spare lab machine plays the master the approver runs on. After the one
`pulumi up`, no `pulumi` command runs until the approver is turned off: every renewal is its
work. Requests the scenario files itself use a kubelet's own client certificate, as a
compromised node could.
"""

from __future__ import annotations

import base64
import datetime
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from components.approval.serving_certificate import served_certificate
from components.renewal.files import ApproverPaths
from lab import cluster, control_plane
from lab.stack import LabStack
from tests.e2e.world import World, new_stack
from tests.kubelet_csrs import (
    csr_object,
    generate_name,
    kubelet_serving_csr,
    make_key,
    request_pem,
    to_model,
)

pytestmark = pytest.mark.e2e

SIGNING_DURATION = "4m"
MASTER = "master-1"
RENEWAL_WAIT_SECONDS = 360  # the latest rotation is 3.1 min after signing; one more for slack
DECISION_WAIT_SECONDS = 90  # a relist after the longest retry pause (30 s) and a watch
KUBELET_PORT = 10250


class Approver:
    """The approver of `stack` on lab machine `machine`, as a person on the master sees it."""

    def __init__(self, world: World, stack: LabStack, machine: str) -> None:
        self.world, self.stack, self.machine = world, stack, machine
        self.paths = ApproverPaths(stack.name)

    def health(self) -> dict[str, Any]:
        """Its /healthz report, read on the master with its own binary as the start script
        does; the exit status and the report must agree."""
        command = f"{self.paths.binary_dir}/kubelet-bootstrap-approver-* health"
        result = self.world.lab.ssh(self.machine, command)
        report = json.loads(result.stdout)
        assert (result.returncode == 0) == report["healthy"], result
        return report

    def healthy_within(self, seconds: float) -> dict[str, Any]:
        """Its report once healthy (a restarted approver has yet to list the CSRs)."""
        deadline = time.monotonic() + seconds
        while not (report := self.health())["healthy"] and time.monotonic() < deadline:
            time.sleep(1)
        return report

    def main_pid(self) -> int:
        shown = self.world.lab.ssh_ok(self.machine, f"systemctl show -p MainPID {self.paths.unit}")
        return int(shown.strip().removeprefix("MainPID="))

    def kubeconfig(self) -> dict[str, Any]:
        path = self.world.root(self.machine) / self.paths.kubeconfig.lstrip("/")
        return json.loads(path.read_text())

    def decisions(self) -> list[dict[str, Any]]:
        """Its journal: one JSON line per decision (the lab's journalctl reads the unit log)."""
        journal = self.world.lab.ssh_ok(self.machine, f"journalctl -u {self.paths.unit} --no-pager")
        lines = [line[line.find("{") :] for line in journal.splitlines() if '"msg":"' in line]
        return [entry for entry in map(json.loads, lines) if entry["msg"] in ("approved", "denied")]


@pytest.fixture(scope="module")
def approver(world: World) -> Iterator[Approver]:
    control_plane.set_signing_duration(world.plane, SIGNING_DURATION)
    try:
        with new_stack(world, "renewal") as stack:
            master = world.record(world.spare_node)
            stack.set("renewalApprover.hosts[0].name", MASTER, path=True)
            stack.set("renewalApprover.hosts[0].sshHost", master["address"], path=True)
            stack.set("renewalApprover.hosts[0].hostKey", master["hostKey"], path=True)
            stack.pulumi("up", "--yes", "--skip-preview")
            assert world.joined(world.stack_nodes) == {}
            yield Approver(world, stack, world.spare_node)
    finally:
        control_plane.set_signing_duration(world.plane, None)


def api_as(world: World, user: dict[str, str]) -> client.ApiClient:
    """An API client of the lab's API server as `user` (a kubeconfig's user entry)."""
    ca = base64.b64encode(world.plane.ca_cert.read_bytes()).decode()
    cluster_entry = {"server": world.plane.api_server, "certificate-authority-data": ca}
    return config.new_client_from_config_dict(
        {
            "clusters": [{"name": "c", "cluster": cluster_entry}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


def node_api(world: World, node: str) -> client.ApiClient:
    """An API client with the node's own client certificate, as its kubelet holds it."""
    pem = world.client_certificate(node).read_text()
    data = base64.b64encode(pem.encode()).decode()
    return api_as(world, {"client-certificate-data": data, "client-key-data": data})


def file_request(world: World, node: str, *, ips: list[str]) -> str:
    """A serving CSR of `node` filed with its own credential, naming `ips`: its name."""
    csr = kubelet_serving_csr(node, ips=ips, name=generate_name("renewal-e2e-"))
    certificates = client.CertificatesV1Api(node_api(world, node))
    certificates.create_certificate_signing_request(to_model(csr))
    return csr["metadata"]["name"]


def condition(world: World, name: str, timeout: float = DECISION_WAIT_SECONDS) -> Any:
    """The decision on CSR `name`, once there is one."""
    certificates = client.CertificatesV1Api(cluster.api(world.plane))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        csr = certificates.read_certificate_signing_request(name)
        for found in (csr.status and csr.status.conditions) or []:
            if found.type in ("Approved", "Denied"):
                return found
        time.sleep(1)
    raise AssertionError(f"no decision on {name} within {timeout:g}s")


def assert_approved_by_the_approver(decided: Any) -> None:
    assert decided.type == "Approved", decided
    assert decided.message.startswith("kubelet-bootstrap-approver: "), decided.message


def serving_not_before(world: World, node: str) -> datetime.datetime:
    return served_certificate(world.address(node), KUBELET_PORT, 5).not_valid_before_utc


def test_the_approver_runs_healthy_on_its_master(world: World, approver: Approver) -> None:
    report = approver.health()
    assert report["healthy"] and report["nodes"] == len(world.stack_nodes)
    assert approver.main_pid() > 0
    assert approver.stack.outputs()["renewalApprover"]["hosts"] == [MASTER]


def test_every_renewal_is_approved_with_no_pulumi_command(world: World, approver: Approver) -> None:
    updates = len(approver.stack.history())
    first = {node: serving_not_before(world, node) for node in world.stack_nodes}
    started = time.monotonic()
    renewed: dict[str, float] = {}
    while len(renewed) < len(first) and time.monotonic() - started < RENEWAL_WAIT_SECONDS:
        for node in set(first) - set(renewed):
            if serving_not_before(world, node) > first[node]:
                renewed[node] = time.monotonic() - started
        time.sleep(2)

    assert sorted(renewed) == sorted(first), f"not renewed: {set(first) - set(renewed)}"
    approved = {entry["node"] for entry in approver.decisions() if entry["msg"] == "approved"}
    assert approved >= set(first)
    assert len(approver.stack.history()) == updates, "a pulumi update ran meanwhile"
    world.measure(
        "renewal: the last kubelet serving a renewed certificate (s)", max(renewed.values())
    )


def test_a_forged_renewal_is_denied_with_its_reason(world: World, approver: Approver) -> None:
    node = world.stack_nodes[0]
    name = file_request(world, node, ips=[world.address(node), "10.99.0.1"])

    decided = condition(world, name)

    assert decided.type == "Denied"
    assert decided.message.startswith("kubelet-bootstrap-approver: ")
    assert "IP address 10.99.0.1 is not an address of" in decided.message
    [logged] = [entry for entry in approver.decisions() if entry["csr"] == name]
    assert logged["msg"] == "denied" and logged["rule"] == "san-ip" and logged["node"] == node


def test_the_approver_outlives_an_api_server_restart(world: World, approver: Approver) -> None:
    pid = approver.main_pid()
    outage = control_plane.restart_daemon(world.plane, "kube-apiserver")
    node = world.stack_nodes[1]
    name = file_request(world, node, ips=[world.address(node)])
    filed = time.monotonic()

    assert_approved_by_the_approver(condition(world, name))
    world.measure("renewal: approval after an API server restart (s)", time.monotonic() - filed)
    assert approver.main_pid() == pid, "it restarted instead of reconnecting"
    assert approver.healthy_within(30)["healthy"]
    world.measure("renewal: API server outage (s)", outage.seconds)


def test_the_approver_comes_back_after_its_host_restarts(world: World, approver: Approver) -> None:
    pid = approver.main_pid()
    started = world.reboot(approver.machine)

    assert approver.paths.unit in started
    assert approver.main_pid() not in (0, pid)
    node = world.stack_nodes[2]
    name = file_request(world, node, ips=[world.address(node)])
    assert_approved_by_the_approver(condition(world, name))
    assert approver.healthy_within(30)["healthy"]


def test_a_killed_approver_is_started_again(world: World, approver: Approver) -> None:
    pid = approver.main_pid()
    world.lab.ssh_ok(approver.machine, f"kill -9 {pid}")

    deadline = time.monotonic() + 30  # RestartSec=5
    while approver.main_pid() in (0, pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert approver.main_pid() not in (0, pid)
    assert approver.healthy_within(30)["healthy"]


def test_its_credential_cannot_approve_a_client_request_or_read_secrets(
    world: World, approver: Approver
) -> None:
    """A request for a client certificate of the API server (signer kube-apiserver-client,
    which nothing approves by itself) stays pending whatever the approver's token tries."""
    api = api_as(world, approver.kubeconfig()["users"][0]["user"])
    admin = client.CertificatesV1Api(cluster.api(world.plane))
    # (system:masters itself the API server refuses for this signer.)
    pem = request_pem(
        make_key("ecdsa-p256"), common_name="cluster-operator", organizations=("e2e:operators",)
    )
    forged = csr_object(
        pem,
        signer="kubernetes.io/kube-apiserver-client",
        usages=("digital signature", "client auth"),
        username="",
        groups=(),
        name=generate_name("client-e2e-"),
    )
    name = admin.create_certificate_signing_request(to_model(forged)).metadata.name
    pending = admin.read_certificate_signing_request(name)
    approval = client.V1CertificateSigningRequestCondition(
        type="Approved", status="True", reason="NotMine", message="the approver's, it must fail"
    )
    pending.status = client.V1CertificateSigningRequestStatus(conditions=[approval])

    def status_of(call: Any) -> int:
        try:
            call()
        except client.exceptions.ApiException as error:
            return int(error.status)
        return 200

    certificates = client.CertificatesV1Api(api)
    core = client.CoreV1Api(api)
    assert status_of(lambda: certificates.list_certificate_signing_request()) == 200
    approve = lambda: certificates.replace_certificate_signing_request_approval(name, pending)  # noqa: E731
    assert status_of(approve) == 403
    assert not admin.read_certificate_signing_request(name).status.conditions
    assert status_of(lambda: core.list_namespaced_secret("kube-system")) == 403
    assert status_of(lambda: core.read_node(world.stack_nodes[0])) == 403
    admin.delete_certificate_signing_request(name)


def test_turned_off_it_is_gone_from_the_host_and_the_cluster(
    world: World, approver: Approver
) -> None:
    token = approver.kubeconfig()["users"][0]["user"]["token"]
    approver.stack.set("renewalApprover.enabled", "false", path=True)
    approver.stack.pulumi("up", "--yes", "--skip-preview")

    root = world.root(approver.machine)
    for path in (approver.paths.unit_file, approver.paths.kubeconfig, approver.paths.binary_dir):
        assert not (root / path.lstrip("/")).exists(), path
    assert approver.paths.name not in cluster.service_accounts(world.plane, "kube-system")
    assert approver.paths.name not in cluster.cluster_roles(world.plane)
    certificates = client.CertificatesV1Api(api_as(world, {"token": token}))

    def answer() -> int:
        try:
            certificates.list_certificate_signing_request()
        except client.exceptions.ApiException as error:
            return int(error.status)
        return 200

    # Its binding is gone at once (403); the token authenticates no more (401) once the API
    # server's ServiceAccount lookup sees the deletion.
    removed, deadline = time.monotonic(), time.monotonic() + 60
    while (status := answer()) != 401 and time.monotonic() < deadline:
        assert status == 403, status
        time.sleep(0.5)
    assert status == 401
    world.measure("renewal: the removed token refused (401) after (s)", time.monotonic() - removed)
