"""What the e2e scenarios share: the lab's nodes, its control plane, and one stack of the program.

Three nodes are in the stack from the start; a fourth runs beside them for the scenario that
adds a node and removes it again. The first node holds the control plane's CA at the
kubelet's CA path, as the tutorial's kube-master does.
"""

from __future__ import annotations

import base64
import datetime
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from lab import cluster, control_plane, nodes, workers
from lab.stack import LabStack
from lab.unit_processes import proc_stat
from tests.e2e.lab_client import NODE_COUNT, Lab

STACK_NODES = 3
STACK_NAME = "e2e"
CERT_DIR = "/etc/kubernetes/cert"
"""The kubelet's cert dir in every lab stack (the default of kubelet.certDir)."""

# What the scenarios timed, printed by conftest.py after the results table.
MEASUREMENTS: dict[str, float] = {}


@dataclass
class World:
    lab: Lab
    plane: control_plane.ControlPlane
    token_secrets: set[str] = field(default_factory=set)

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.lab.state["nodes"]

    @property
    def stack_nodes(self) -> list[str]:
        return [record["name"] for record in self.records[:STACK_NODES]]

    @property
    def spare_node(self) -> str:
        return self.records[STACK_NODES]["name"]

    def record(self, name: str) -> dict[str, Any]:
        return next(r for r in self.records if r["name"] == name)

    def root(self, name: str) -> Path:
        return Path(self.record(name)["root"])

    def address(self, name: str) -> str:
        return self.record(name)["address"]

    @property
    def admin_cert(self) -> tuple[Path, Path]:
        pki = self.plane.directory / "pki"
        return pki / "admin.pem", pki / "admin-key.pem"

    def reimage(self, machine: str) -> None:
        """Forget the kubelet identity a machine kept from an earlier stack, as a re-imaged
        machine would: removing a node from a stack leaves its client certificate behind."""
        root = self.root(machine)
        for path in ("etc/kubernetes", "var/lib/kubelet", "data/k8s/k8s/kubelet"):
            shutil.rmtree(root / path, ignore_errors=True)

    def restarts(self, name: str) -> int:
        """How often the node's kubelet was started or restarted, as its systemctl log says."""
        return sum(
            1
            for call in nodes.calls(name, self.lab.state_dir)
            if call["argv"][:2] in (["systemctl", "restart"], ["systemctl", "start"])
        )

    def kubelet_process(self, name: str) -> tuple[str, str]:
        """The node's kubelet: its MainPID and that process's start time (in clock ticks), so
        "restarted nothing" is the process itself, not a command's word."""
        pid = self.lab.ssh_ok(name, "systemctl show -p MainPID --value kubelet.service").strip()
        stat = proc_stat(int(pid))
        assert stat is not None, f"the kubelet of {name} (pid {pid}) does not run"
        return pid, stat[19]  # starttime, field 22 of stat

    def stops(self, name: str) -> int:
        return sum(1 for call in nodes.calls(name, self.lab.state_dir) if "--now" in call["argv"])

    def client_certificate(self, name: str, cert_dir: str = CERT_DIR) -> Path:
        """Where the kubelet of machine `name` keeps its client certificate and key, seen from
        the host (the kubelet links the file to an absolute path in the node)."""
        path = self.root(name) / cert_dir.lstrip("/") / "kubelet-client-current.pem"
        if path.is_symlink():
            path = self.root(name) / str(path.readlink()).lstrip("/")
        return path

    def client_certificate_holder(self, name: str, cert_dir: str = CERT_DIR) -> str | None:
        """Whom the kubelet of machine `name` is, by its client certificate: the subject's CN if
        the certificate is valid now and issued by the cluster CA, else None."""
        path = self.client_certificate(name, cert_dir)
        if not path.exists():
            return None
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        ca = x509.load_pem_x509_certificate(self.plane.ca_cert.read_bytes())
        try:
            certificate.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            return None
        now = datetime.datetime.now(datetime.timezone.utc)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            return None
        [common_name] = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(common_name.value)

    def joined(
        self, nodes: Iterable[str] | Mapping[str, str], timeout: float = 45.0
    ) -> dict[str, str]:
        """Why each node has not joined; empty when all have. `nodes` are machines, named as
        their Kubernetes nodes or mapped to those names. Joined is a client certificate of the
        node from the cluster's CA, a registered Node, and a Lease its kubelet renewed after
        this call (every 10 s, so it is waited for)."""
        names = dict(nodes) if isinstance(nodes, Mapping) else {name: name for name in nodes}
        asked = datetime.datetime.now(datetime.timezone.utc)
        deadline = time.monotonic() + timeout
        while True:
            problems = {}
            registered = cluster.node_names(self.plane)
            renewals = cluster.lease_renewals(self.plane)
            for machine, name in names.items():
                holder = self.client_certificate_holder(machine)
                if holder != f"system:node:{name}":
                    problems[name] = f"its client certificate names {holder}"
                elif name not in registered:
                    problems[name] = "no Node is registered"
                elif name not in renewals or renewals[name] <= asked:
                    problems[name] = f"its Lease was last renewed {renewals.get(name)}"
            if not problems or time.monotonic() > deadline:
                return problems
            time.sleep(1)

    def reboot(self, name: str, *, network_ready: bool = True) -> list[str]:
        """Restart machine `name` as its host would (lab/nodes.py `reboot`): its container
        runtime is started again at boot, before its enabled units, since the boot emptied
        the /run that held its socket (`workers.equip` again, which also copies the lab's
        kubelet binary and, on the first node, the CA anew). Returns the units started."""
        ca = self.plane.ca_cert if name == self.records[0]["name"] else None

        def runtime() -> None:
            workers.equip(name, self.root(name), ca_cert=ca, network_ready=network_ready)

        return nodes.reboot(name, self.lab.state_dir, at_boot=runtime)

    def holds(self, name: str, path: str) -> bool:
        """Whether the node's root has `path`."""
        return (self.root(name) / path.lstrip("/")).exists()

    def measure(self, what: str, seconds: float) -> None:
        MEASUREMENTS[what] = seconds

    def configure(self, stack: LabStack, machines: list[str] | None = None) -> None:
        """The README's `pulumi config set` sequence, with the lab's kubelet needs, for
        `machines` (by default the scenarios' three nodes)."""
        stack.set("apiServer", self.plane.api_server)
        stack.set("caCertFile", str(self.plane.ca_cert))
        stack.set("kubeconfig", self.plane.admin_kubeconfig.read_text(), secret=True)
        stack.set("ssh.privateKey", self._client_key(), secret=True, path=True)
        stack.set("cluster.dnsServiceIP", control_plane.DNS_SERVICE_IP, path=True)
        # A kubelet in a network namespace on a shared host: no QoS cgroups of its own.
        stack.set("kubelet.cgroupDriver", "cgroupfs", path=True)
        stack.set("kubelet.failSwapOn", "false", path=True)
        stack.set("kubelet.extraConfig.cgroupsPerQOS", "false", path=True)
        stack.set("kubelet.extraConfig.enforceNodeAllocatable[0]", "none", path=True)
        # The nodes share the host's cgroups, which are v1 (hybrid) here: the kubelet 1.34 runs
        # on them, and every other preflight check holds in the lab (its fake CRI answers on
        # the socket; with no crictl, the socket is what is checked).
        stack.set("preflight.skip[0]", "cgroupV2", path=True)
        for index, name in enumerate(machines or self.stack_nodes):
            self._set_node(stack, index, name)

    def add_to_stack(self, stack: LabStack, machine: str, node_name: str) -> None:
        """Add lab node `machine` to the stack as Kubernetes node `node_name`."""
        self._set_node(stack, len(self.stack_nodes), machine, node_name)

    def remove_from_stack(self, stack: LabStack, name: str) -> None:
        index = len(self.stack_nodes)
        assert self.record(name) is self.records[index]
        stack.pulumi("config", "rm", "--path", f"kubelet-bootstrap:nodes[{index}]")

    def _set_node(
        self, stack: LabStack, index: int, machine: str, node_name: str | None = None
    ) -> None:
        record = self.record(machine)
        stack.set(f"nodes[{index}].name", node_name or machine, path=True)
        stack.set(f"nodes[{index}].address", record["address"], path=True)
        stack.set(f"nodes[{index}].hostKey", record["hostKey"], path=True)

    def _client_key(self) -> str:
        return Path(self.lab.state["clientKey"]).read_text()

    def remember_token_secrets(self) -> None:
        for secret in cluster.bootstrap_token_secrets(self.plane):
            self.token_secrets.add(base64.b64decode(secret.data["token-secret"]).decode())

    def secret_values(self) -> dict[str, str]:
        """Every secret the stack handled, by what it is, as it would appear if leaked."""
        values = {f"token secret {n}": s for n, s in enumerate(sorted(self.token_secrets))}
        key_body = "".join(self._client_key().strip().splitlines()[1:-1])
        values["SSH private key"] = key_body[:64]
        admin_key = self.admin_cert[1].read_text()
        values["admin client key"] = "".join(admin_key.strip().splitlines()[1:-1])[:64]
        values["admin client key (base64 in kubeconfig)"] = base64.b64encode(
            admin_key.encode()
        ).decode()[:64]
        return values


@pytest.fixture(scope="module")
def world(lab: Lab) -> Iterator[World]:
    """Fresh nodes (whatever ran on them before) and a fresh control plane."""
    lab = Lab(lab.state_dir, nodes.up(NODE_COUNT, lab.state_dir))
    plane = control_plane.control_plane()
    control_plane.down(plane, wipe=True)
    control_plane.up(plane)
    world = World(lab, plane)
    for index, record in enumerate(world.records):
        ca = plane.ca_cert if index == 0 else None
        workers.equip(record["name"], Path(record["root"]), ca_cert=ca)
    yield world
    for record in world.records:
        workers.unequip(record["name"])
    control_plane.down(plane, wipe=True)


@contextmanager
def new_stack(world: World, name: str, machines: list[str] | None = None) -> Iterator[LabStack]:
    """A new stack of the program on `machines`, destroyed and forgotten afterwards."""
    stack = LabStack(name)
    stack.remove()
    stack.init()
    world.configure(stack, machines)
    try:
        yield stack
    finally:
        stack.pulumi("destroy", "--yes", "--skip-preview", check=False)
        stack.remove()


@pytest.fixture(scope="module")
def stack(world: World) -> Iterator[LabStack]:
    with new_stack(world, STACK_NAME) as stack:
        yield stack
