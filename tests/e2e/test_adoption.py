"""Adopting a cluster built by hand through the real CLI (issue 13, items 1 and 2).

The three nodes are first built the tutorial's way: its five RBAC objects and one bootstrap
token per node (`kubeadm token create --groups system:bootstrappers:<node>`) made with the
admin's client; its kubelet-config.yaml and unit (the 2018 flags the kubelet 1.34 refuses
dropped, the lab's runtime needs added), its bootstrap kubeconfig and the CA copied to every
node; its kubelet directory made. The stack comes from the importer, as
docs/migrating-from-the-tutorial.md says: environment.sh in its published form and the first
node's files (which carry the lab's kubelet needs: a restarted kubelet without them would not
run here). The third node's config and unit hold the bytes the stack writes (an operator who
matched them by hand). Then `systemctl start kubelet` on each, all joined, and the stack adopts
them with `rollout.batchSize: 1` and `rbac.adoptExisting`.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from lab import cluster, control_plane, nodes, paths
from lab.stack import LabStack
from tests.e2e.world import World

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

ENVIRONMENT_SH = """\
# The tutorial's environment.sh in its published form, for the lab's cluster.
export ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
export NODE_NAMES=({names})
export NODE_IPS=({ips})
export KUBE_APISERVER="{api_server}"
export K8S_DIR="/data/k8s/k8s"
SERVICE_CIDR="10.254.0.0/16"
CLUSTER_CIDR="172.30.0.0/16"
export CLUSTER_DNS_SVC_IP="{dns}"
export CLUSTER_DNS_DOMAIN="cluster.local."
export PATH=/opt/k8s/bin:$PATH
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


def _by_hand(world: World, node: str, token: str, files: dict[str, str]) -> None:
    """The tutorial's files on `node`, with its token, and its kubelet directory."""
    ca = world.plane.ca_cert.read_text()
    kubeconfig = BOOTSTRAP_KUBECONFIG.format(
        ca=base64.b64encode(ca.encode()).decode(), server=world.plane.api_server, token=token
    )
    _write(world, node, "/etc/kubernetes/kubelet-bootstrap.kubeconfig", kubeconfig)
    _write(world, node, "/etc/kubernetes/cert/ca.pem", ca)
    for path, content in files.items():
        _write(world, node, path, content)
    (world.root(node) / "data/k8s/k8s/kubelet").mkdir(parents=True, exist_ok=True)


def _tutorial_files(world: World, node: str) -> dict[str, str]:
    address = world.address(node)
    return {
        STACK_FILES["kubelet-config"]: KUBELET_CONFIG.format(
            dns=control_plane.DNS_SERVICE_IP, address=address
        ),
        STACK_FILES["kubelet-unit"]: KUBELET_UNIT.format(name=node, address=address),
    }


@pytest.fixture(scope="module")
def tokens(world: World) -> dict[str, str]:
    """The tutorial's RBAC and a token per node; the first two nodes' files written."""
    _tutorial_rbac(world)
    made = {node: _tutorial_token(world, node) for node in world.stack_nodes}
    for node in world.stack_nodes[:2]:
        _by_hand(world, node, made[node], _tutorial_files(world, node))
    return made


@pytest.fixture(scope="module")
def stack(
    world: World, tokens: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabStack]:
    """The migration of docs/migrating-from-the-tutorial.md: the importer on environment.sh
    and the first node's files, the secrets and host keys; then the third node written with the
    stack's own bytes (from the preview) and every kubelet started by hand, all joined before
    the first `pulumi up`."""
    stack = LabStack("adopt")
    stack.remove()
    source = tmp_path_factory.mktemp("tutorial") / "environment.sh"
    source.write_text(
        ENVIRONMENT_SH.format(
            names=" ".join(world.stack_nodes),
            ips=" ".join(world.address(node) for node in world.stack_nodes),
            api_server=world.plane.api_server,
            dns=control_plane.DNS_SERVICE_IP,
        )
    )
    first = world.stack_nodes[0]
    importer = [sys.executable, "-m", "tools.from_tutorial", str(source), "--stack", stack.name]
    imported = subprocess.run(
        [
            *importer,
            *("--node-files", str(world.root(first)), "--ca-cert", str(world.plane.ca_cert)),
            *("--dir", str(paths.REPO)),
        ],
        cwd=paths.REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert "the node's kubelet: cgroupDriver -> kubelet.cgroupDriver" in imported.stdout
    stack.init()  # takes the Pulumi.adopt.yaml just written, as the migration page says
    stack.set("kubeconfig", world.plane.admin_kubeconfig.read_text(), secret=True)
    stack.set(
        "ssh.privateKey", Path(world.lab.state["clientKey"]).read_text(), secret=True, path=True
    )
    for index, node in enumerate(world.stack_nodes):
        stack.set(f"nodes[{index}].hostKey", world.record(node)["hostKey"], path=True)
    stack.set("rollout.batchSize", "1", path=True)
    stack.set("rbac.adoptExisting", "true", path=True)
    # The lab's nodes share the host's cgroups, which are v1 (hybrid) here.
    stack.set("preflight.skip[0]", "cgroupV2", path=True)
    preview = json.loads(stack.pulumi("preview", "--json").stdout)
    planned = {step["urn"].rsplit("::", 1)[-1]: step for step in preview["steps"]}
    matching = world.stack_nodes[2]  # the stack's own bytes, matched by hand
    stack_bytes = {
        path: planned[f"{matching}-{key}"]["newState"]["inputs"]["stdin"]
        for key, path in STACK_FILES.items()
    }
    _by_hand(world, matching, tokens[matching], stack_bytes)
    for node in world.stack_nodes:
        world.lab.ssh_ok(node, "systemctl daemon-reload && systemctl enable --now kubelet.service")
    problems = world.joined(world.stack_nodes)
    for name in problems:
        journal = world.lab.ssh(name, "journalctl -u kubelet.service -n 15 --no-pager").stdout
        pytest.fail(f"{name} built by hand did not join: {problems[name]}; its journal:\n{journal}")
    try:
        yield stack
    finally:
        stack.pulumi("destroy", "--yes", "--skip-preview", check=False)
        stack.remove()


def test_adoption_restarts_one_batch_after_the_other_and_spares_a_matching_node(
    world: World, stack: LabStack, tokens: dict[str, str]
) -> None:
    first, second, matching = world.stack_nodes
    before = {name: world.kubelet_process(name) for name in world.stack_nodes}

    stack.pulumi("up", "--yes", "--skip-preview")

    assert world.joined(world.stack_nodes) == {}
    after = {name: world.kubelet_process(name) for name in world.stack_nodes}
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
    before = {name: world.kubelet_process(name) for name in world.stack_nodes}
    preview = json.loads(stack.pulumi("preview", "--json").stdout)
    changed = [s["urn"] for s in preview["steps"] if s["op"] != "same"]
    assert changed == [], changed

    stack.pulumi("up", "--yes", "--skip-preview")

    assert {name: world.kubelet_process(name) for name in world.stack_nodes} == before
    assert all(_token_works(world, token) for token in tokens.values())


def test_adoption_the_tutorials_tokens_work_until_removed(
    world: World, tokens: dict[str, str]
) -> None:
    """The migration page's step 4: delete the tutorial's tokens once the nodes are adopted."""
    core = client.CoreV1Api(cluster.api(world.plane))
    for token in tokens.values():
        core.delete_namespaced_secret(f"bootstrap-token-{token.split('.')[0]}", "kube-system")
    # The API server's informer sees the deletion, and its authentication cache forgets the
    # token, within seconds.
    deadline = time.monotonic() + 30
    while any(_token_works(world, token) for token in tokens.values()):
        assert time.monotonic() < deadline, "a deleted tutorial token still authenticates"
        time.sleep(1)
    assert world.joined(world.stack_nodes) == {}
