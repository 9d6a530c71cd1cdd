"""Adopting a cluster built by hand through the real CLI (issue 13, item 2).

The three nodes are first built the tutorial's way: its five RBAC objects and one bootstrap
token per node (`kubeadm token create --groups system:bootstrappers:<node>`) made with the
admin's client, its kubelet-config.yaml and unit (the 2018 flags the kubelet 1.34 refuses
dropped, the lab's runtime needs added), its bootstrap kubeconfig and the CA copied to every
node, and `systemctl start kubelet`: all joined. The third node's config and unit already hold
the bytes the stack writes (an operator who matched them by hand). Then a stack adopts them
with `rollout.batchSize: 1` and `rbac.adoptExisting`.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
from collections.abc import Iterator

import pytest
from kubernetes import client

from lab import cluster, control_plane, nodes
from lab.stack import LabStack
from lab.unit_processes import proc_stat
from tests.e2e.world import World, new_stack

pytestmark = pytest.mark.e2e

KUBELET_CONFIG = """\
kind: KubeletConfiguration
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: "/etc/kubernetes/cert/ca.pem"
authorization:
  mode: Webhook
clusterDomain: "cluster.local"
clusterDNS:
  - "{dns}"
maxPods: 220
serializeImagePulls: false
hairpinMode: promiscuous-bridge
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: ["none"]
failSwapOn: false
containerRuntimeEndpoint: "unix:///run/containerd/containerd.sock"
runtimeRequestTimeout: "15m"
rotateCertificates: true
serverTLSBootstrap: true
readOnlyPort: 0
port: 10250
address: "{address}"
"""

KUBELET_UNIT = """\
[Unit]
Description=Kubernetes Kubelet
After=containerd.service

[Service]
WorkingDirectory=/data/k8s/k8s/kubelet
ExecStart=/opt/k8s/bin/kubelet \\
  --root-dir=/data/k8s/k8s/kubelet \\
  --bootstrap-kubeconfig=/etc/kubernetes/kubelet-bootstrap.kubeconfig \\
  --cert-dir=/etc/kubernetes/cert \\
  --kubeconfig=/etc/kubernetes/kubelet.kubeconfig \\
  --config=/etc/kubernetes/kubelet-config.yaml \\
  --hostname-override={name} \\
  --node-ip={address} \\
  --event-qps=0 \\
  --kube-api-qps=1000 \\
  --kube-api-burst=2000 \\
  --registry-qps=0 \\
  --v=2
Restart=always
RestartSec=5
StartLimitInterval=0

[Install]
WantedBy=multi-user.target
"""

BOOTSTRAP_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: kubelet-bootstrap
  name: default
current-context: default
users:
- name: kubelet-bootstrap
  user:
    token: {token}
"""

STACK_FILES = {
    "kubelet-config": "/etc/kubernetes/kubelet-config.yaml",
    "kubelet-unit": "/etc/systemd/system/kubelet.service",
}


def _binding(name: str, role: str, group: str) -> client.V1ClusterRoleBinding:
    return client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=name),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role
        ),
        subjects=[
            client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="Group", name=group)
        ],
    )


def _tutorial_rbac(world: World) -> None:
    """The tutorial's `kubectl create clusterrolebinding` and its csr-crb.yaml."""
    rbac = client.RbacAuthorizationV1Api(cluster.api(world.plane))
    rbac.create_cluster_role(
        client.V1ClusterRole(
            metadata=client.V1ObjectMeta(name="approve-node-server-renewal-csr"),
            rules=[
                client.V1PolicyRule(
                    api_groups=["certificates.k8s.io"],
                    resources=["certificatesigningrequests/selfnodeserver"],
                    verbs=["create"],
                )
            ],
        )
    )
    csrs = "system:certificates.k8s.io:certificatesigningrequests"
    for name, role, group in [
        ("kubelet-bootstrap", "system:node-bootstrapper", "system:bootstrappers"),
        ("auto-approve-csrs-for-group", f"{csrs}:nodeclient", "system:bootstrappers"),
        ("node-client-cert-renewal", f"{csrs}:selfnodeclient", "system:nodes"),
        ("node-server-cert-renewal", "approve-node-server-renewal-csr", "system:nodes"),
    ]:
        rbac.create_cluster_role_binding(_binding(name, role, group))


def _tutorial_token(world: World, node: str) -> str:
    """`kubeadm token create --groups system:bootstrappers:<node>`: a day-long token."""
    token_id, token_secret = secrets.token_hex(3), secrets.token_hex(8)
    expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    client.CoreV1Api(cluster.api(world.plane)).create_namespaced_secret(
        "kube-system",
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=f"bootstrap-token-{token_id}"),
            type="bootstrap.kubernetes.io/token",
            string_data={
                "token-id": token_id,
                "token-secret": token_secret,
                "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "usage-bootstrap-authentication": "true",
                "usage-bootstrap-signing": "true",
                "auth-extra-groups": f"system:bootstrappers:{node}",
            },
        ),
    )
    return f"{token_id}.{token_secret}"


def _write(world: World, node: str, path: str, content: str) -> None:
    target = world.root(node) / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)


def _kubelet_process(world: World, node: str) -> tuple[str, str]:
    """The node's kubelet: its MainPID and that process's start time (in clock ticks)."""
    pid = world.lab.ssh_ok(node, "systemctl show -p MainPID --value kubelet.service").strip()
    stat = proc_stat(int(pid))
    assert stat is not None, f"the kubelet of {node} (pid {pid}) does not run"
    return pid, stat[19]  # starttime, field 22 of stat


def _restart_times(world: World, name: str) -> list[datetime.datetime]:
    return [
        datetime.datetime.fromisoformat(str(call["time"]).replace("Z", "+00:00"))
        for call in nodes.calls(name, world.lab.state_dir)
        if call["argv"][:2] == ["systemctl", "restart"]  # type: ignore[index]
    ]


def _token_works(world: World, token: str) -> bool:
    """The tutorial's token still authenticates, and its RBAC still lets it list CSRs."""
    configuration = client.Configuration()
    configuration.host = world.plane.api_server
    configuration.ssl_ca_cert = str(world.plane.ca_cert)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    certificates = client.CertificatesV1Api(client.ApiClient(configuration))
    try:
        certificates.list_certificate_signing_request()
    except client.ApiException as error:
        assert error.status in (401, 403), error
        return False
    return True


@pytest.fixture(scope="module")
def stack(world: World) -> Iterator[LabStack]:
    with new_stack(world, "adopt") as stack:
        stack.set("rollout.batchSize", "1", path=True)
        stack.set("rbac.adoptExisting", "true", path=True)
        yield stack


@pytest.fixture(scope="module")
def tokens(world: World, stack: LabStack) -> dict[str, str]:
    """The cluster built by hand; the tutorial's token of each node."""
    _tutorial_rbac(world)
    preview = json.loads(stack.pulumi("preview", "--json").stdout)
    planned = {step["urn"].rsplit("::", 1)[-1]: step for step in preview["steps"]}
    ca = world.plane.ca_cert.read_text()
    made: dict[str, str] = {}
    for index, node in enumerate(world.stack_nodes):
        address = world.address(node)
        made[node] = _tutorial_token(world, node)
        kubeconfig = BOOTSTRAP_KUBECONFIG.format(
            ca=base64.b64encode(ca.encode()).decode(),
            server=world.plane.api_server,
            token=made[node],
        )
        _write(world, node, "/etc/kubernetes/kubelet-bootstrap.kubeconfig", kubeconfig)
        _write(world, node, "/etc/kubernetes/cert/ca.pem", ca)
        dns = control_plane.DNS_SERVICE_IP
        files = {
            STACK_FILES["kubelet-config"]: KUBELET_CONFIG.format(dns=dns, address=address),
            STACK_FILES["kubelet-unit"]: KUBELET_UNIT.format(name=node, address=address),
        }
        if index == 2:  # the stack's own bytes, matched by hand
            for key, path in STACK_FILES.items():
                files[path] = planned[f"{node}-{key}"]["newState"]["inputs"]["stdin"]
        for path, content in files.items():
            _write(world, node, path, content)
        world.lab.ssh_ok(node, "systemctl daemon-reload && systemctl enable --now kubelet.service")
    assert world.joined(world.stack_nodes) == {}
    return made


def test_adoption_restarts_one_batch_after_the_other_and_spares_a_matching_node(
    world: World, stack: LabStack, tokens: dict[str, str]
) -> None:
    first, second, matching = world.stack_nodes
    before = {name: _kubelet_process(world, name) for name in world.stack_nodes}

    stack.pulumi("up", "--yes", "--skip-preview")

    assert world.joined(world.stack_nodes) == {}
    after = {name: _kubelet_process(world, name) for name in world.stack_nodes}
    assert after[matching] == before[matching], "the node whose files matched was restarted"
    for name in (first, second):
        assert after[name] != before[name], f"{name} still runs its hand-made files"
        assert (
            "maxPods: 220" in (world.root(name) / "etc/kubernetes/kubelet-config.yaml").read_text()
        )
        assert (
            "podPidsLimit" in (world.root(name) / "etc/kubernetes/kubelet-config.yaml").read_text()
        )
    restarts = [_restart_times(world, name) for name in (first, second)]
    assert [len(times) for times in restarts] == [1, 1], restarts
    gap = (restarts[1][0] - restarts[0][0]).total_seconds()
    world.measure("adoption: restart of batch 2 after batch 1 (s)", gap)
    # The second waited for the first to pass its gate, settleSeconds (10) included: never
    # two kubelets down at once.
    assert gap > 10.0, gap
    assert all(_token_works(world, token) for token in tokens.values())


def test_adoption_a_second_update_changes_nothing(
    world: World, stack: LabStack, tokens: dict[str, str]
) -> None:
    before = {name: _kubelet_process(world, name) for name in world.stack_nodes}
    preview = json.loads(stack.pulumi("preview", "--json").stdout)
    changed = [s["urn"] for s in preview["steps"] if s["op"] != "same"]
    assert changed == [], changed

    stack.pulumi("up", "--yes", "--skip-preview")

    assert {name: _kubelet_process(world, name) for name in world.stack_nodes} == before
    assert all(_token_works(world, token) for token in tokens.values())


def test_adoption_the_tutorials_tokens_work_until_removed(
    world: World, tokens: dict[str, str]
) -> None:
    """The README's step: delete the tutorial's tokens once the nodes are adopted."""
    core = client.CoreV1Api(cluster.api(world.plane))
    for token in tokens.values():
        core.delete_namespaced_secret(f"bootstrap-token-{token.split('.')[0]}", "kube-system")
    assert not any(_token_works(world, token) for token in tokens.values())
    assert world.joined(world.stack_nodes) == {}
