"""A removed node's kubelet identity: the stop script run against a node root (`NodeRoot`).

The kubelet writes its `--kubeconfig` and, in its cert dir, `kubelet-client-<time>.pem` with a
`kubelet-client-current.pem` link (and the same for `kubelet-server-`) once its certificates
are issued. A machine that keeps them authenticates as the old node when it joins again under
another name, so the stop removes them; never the CA in the same directory, nor anything the
node held before the stack first started its kubelet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from components.node import rendering
from components.settings.loading import load_settings
from components.settings.model import Settings
from tests.factories import CLUSTER_CA, HOST_KEY, admin_kubeconfig
from tests.node_root import NodeRoot, kubelet_scripts, path_without

IDENTITY = (
    "etc/kubernetes/kubelet.kubeconfig",
    "etc/kubernetes/cert/kubelet-client-2026-11-25-12-00-00.pem",
    "etc/kubernetes/cert/kubelet-client-current.pem",
    "etc/kubernetes/cert/kubelet-server-2026-11-25-12-00-05.pem",
    "etc/kubernetes/cert/kubelet-server-current.pem",
)


ISSUED = "issued-client.pem"
CLIENT = "etc/kubernetes/cert/kubelet-client-current.pem"


def issue(node: NodeRoot, node_name: str) -> None:
    """The client certificate the kubelet gets on its next bootstrap: `system:node:<name>`."""
    (node.root / ISSUED).write_text(CLUSTER_CA.kubelet_client_pem(node_name))


def holder(node: NodeRoot) -> str:
    """The common name of the client certificate the kubelet holds."""
    pem = (node.root / CLIENT).read_bytes()
    [name] = x509.load_pem_x509_certificate(pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(name.value)


@pytest.fixture
def settings_for(tmp_path: Path, ssh_key: str) -> Any:
    """`settings_for(kubelet={...}, name=...)`: validated Settings of one node."""
    ca_pem = CLUSTER_CA.pem
    ca_path = tmp_path / "ca.pem"
    ca_path.write_text(ca_pem)

    def make(kubelet: dict[str, Any] | None = None, name: str = "node-0", **extra: Any) -> Settings:
        raw: dict[str, Any] = {
            "apiServer": "https://10.0.0.10:6443",
            "caCertFile": str(ca_path),
            "kubeconfig": admin_kubeconfig(ca_pem),
            "ssh": {"privateKey": ssh_key, "hostKey": HOST_KEY},
            "cluster": {"dnsServiceIP": "10.254.0.2"},
            "nodes": [{"name": name, "address": "10.0.0.1"}],
            **({"kubelet": kubelet} if kubelet else {}),
            **extra,
        }
        return load_settings(raw, environ={})

    return make


def node_with_a_kubelet(root: Path) -> NodeRoot:
    """A node root whose kubelet, on `systemctl restart`, bootstraps as a real one does: it
    writes its `--kubeconfig`, and in its cert dir each certificate with its `-current` link."""
    cert_dir = root / "etc/kubernetes/cert"
    kubelet = root / "kubelet.sh"
    root.mkdir(parents=True)
    lines = [
        f"mkdir -p {cert_dir}",
        f"echo 'kind: Config' > {root}/etc/kubernetes/kubelet.kubeconfig",
    ]
    for kind, stamp in (("client", "2026-11-25-12-00-00"), ("server", "2026-11-25-12-00-05")):
        pem = cert_dir / f"kubelet-{kind}-{stamp}.pem"
        # The client certificate the CA issues (`issue`), and a serving one.
        issued = f"cat {root / ISSUED}" if kind == "client" else f"echo '{kind} cert and key'"
        lines += [
            f"{issued} > {pem}",
            f"ln -sf {pem} {cert_dir}/kubelet-{kind}-current.pem",
        ]
    kubelet.write_text("\n".join(lines) + "\n")
    node = NodeRoot(root)
    issue(node, "node-0")
    node.stub(systemctl=node.systemctl(f'[ "$1" != restart ] || sh {kubelet}'))
    return node


def start(node: NodeRoot, settings: Settings, owner: str = "node-0-start-kubelet") -> None:
    """The node's files written and its start run, as its commands do."""
    node.write(rendering.node_files(settings, settings.nodes[0]))
    result = node.sh(kubelet_scripts(settings, owner).create)
    assert result.returncode == 0, result.stderr


def present(node: NodeRoot, paths: tuple[str, ...]) -> list[str]:
    return [
        path for path in paths if (node.root / path).is_symlink() or (node.root / path).exists()
    ]


def test_stop_removes_the_identity_the_kubelet_made_and_keeps_the_ca_and_the_masters_files(
    tmp_path: Path, settings_for: Any
) -> None:
    settings = settings_for()
    node = node_with_a_kubelet(tmp_path / "node")
    master_file = node.root / "etc/kubernetes/cert/kubernetes.pem"  # the API server's, say
    master_file.parent.mkdir(parents=True, exist_ok=True)
    master_file.write_text("not the kubelet's\n")
    start(node, settings)

    stopped = node.sh(kubelet_scripts(settings).delete)

    assert stopped.returncode == 0, stopped.stderr
    assert "systemctl disable --now kubelet.service" in node.calls()
    assert present(node, IDENTITY) == []
    stack_files = [f.path.lstrip("/") for f in rendering.node_files(settings, settings.nodes[0])]
    assert present(node, tuple(stack_files)) == stack_files  # their own commands remove them
    assert master_file.exists()
    assert not (node.root / "var/lib/kubelet-bootstrap/claims/identity/kubelet.service").exists()


def test_an_identity_on_the_node_before_the_stack_first_started_the_kubelet_stays(
    tmp_path: Path, settings_for: Any
) -> None:
    settings = settings_for()
    node = node_with_a_kubelet(tmp_path / "node")
    node.sh(f"sh {node.root}/kubelet.sh")  # a kubelet set up by hand, before the stack
    start(node, settings)

    stopped = node.sh(kubelet_scripts(settings).delete)

    assert stopped.returncode == 0, stopped.stderr
    assert present(node, IDENTITY) == list(IDENTITY)
    assert "the kubelet identity on node-0 stays" in stopped.stderr


def test_a_ca_file_in_the_cert_dir_named_like_an_identity_file_stays(
    tmp_path: Path, settings_for: Any
) -> None:
    ca_file = "/etc/kubernetes/cert/kubelet-client-ca.pem"
    settings = settings_for(kubelet={"caFile": ca_file})
    node = node_with_a_kubelet(tmp_path / "node")
    start(node, settings)

    assert node.sh(kubelet_scripts(settings).delete).returncode == 0

    assert present(node, IDENTITY) == []
    assert (node.root / ca_file.lstrip("/")).exists()


def test_a_machine_renamed_in_place_bootstraps_as_its_new_name_and_keeps_that_identity(
    tmp_path: Path, settings_for: Any
) -> None:
    """The new start runs before the old stop: it finds the old node's client certificate,
    which its kubelet would authenticate with and be refused as the new node; it drops it, the
    kubelet bootstraps anew, and the old stop, which stops nothing, leaves the new identity."""
    old, new = settings_for(name="kube-node1"), settings_for(name="worker-1")
    node = node_with_a_kubelet(tmp_path / "node")
    issue(node, "kube-node1")
    start(node, old, "kube-node1-start-kubelet")
    assert holder(node) == "system:node:kube-node1"
    issue(node, "worker-1")
    node.write(rendering.node_files(new, new.nodes[0]))

    renamed = node.sh(kubelet_scripts(new, "worker-1-start-kubelet").create)
    stopped = node.sh(kubelet_scripts(old, "kube-node1-start-kubelet").delete)

    assert renamed.returncode == 0, renamed.stderr
    assert "holds the identity of system:node:kube-node1: it goes" in renamed.stdout
    assert stopped.returncode == 0, stopped.stderr
    assert present(node, IDENTITY) == list(IDENTITY)
    assert holder(node) == "system:node:worker-1"


def test_a_certificate_of_another_node_found_before_the_stack_stops_the_start(
    tmp_path: Path, settings_for: Any
) -> None:
    node = node_with_a_kubelet(tmp_path / "node")
    issue(node, "somebody-else")
    node.sh(f"sh {node.root}/kubelet.sh")  # a kubelet set up by hand, before the stack
    settings = settings_for()
    node.write(rendering.node_files(settings, settings.nodes[0]))

    result = node.sh(kubelet_scripts(settings).create)

    assert result.returncode == 1
    assert "node-0 holds a client certificate of system:node:somebody-else" in result.stderr
    assert present(node, IDENTITY) == list(IDENTITY)
    assert "systemctl restart kubelet.service" not in node.calls()


def test_the_kubelets_own_certificate_is_kept_on_a_later_start(
    tmp_path: Path, settings_for: Any
) -> None:
    settings = settings_for()
    node = node_with_a_kubelet(tmp_path / "node")
    issue(node, "node-0")
    start(node, settings)

    again = node.sh(kubelet_scripts(settings).update)

    assert again.returncode == 0, again.stderr
    assert "holds the identity" not in again.stdout
    assert present(node, IDENTITY) == list(IDENTITY)


def test_the_identity_of_a_kubelet_an_earlier_version_started_is_the_stacks(
    tmp_path: Path, settings_for: Any
) -> None:
    """A version without the identity record claimed the kubelet; the update of its start
    (its script changed) finds the kubeconfig, and the claim says the stack made it."""
    settings = settings_for()
    node = node_with_a_kubelet(tmp_path / "node")
    start(node, settings)
    (node.root / "var/lib/kubelet-bootstrap/claims/identity/kubelet.service").unlink()
    assert node.sh(kubelet_scripts(settings).update).returncode == 0

    assert node.sh(kubelet_scripts(settings).delete).returncode == 0

    assert present(node, IDENTITY) == []


def test_the_machine_added_again_under_another_name_bootstraps_anew(
    tmp_path: Path, settings_for: Any
) -> None:
    """Removed as node-0, nothing of node-0's identity is left for its kubelet to authenticate
    with; started again as node-9, the identity it makes is the stack's, and goes with it."""
    node = node_with_a_kubelet(tmp_path / "node")
    first, again = settings_for(), settings_for(name="node-9")
    start(node, first)
    assert node.sh(kubelet_scripts(first).delete).returncode == 0
    assert present(node, IDENTITY) == []
    issue(node, "node-9")

    start(node, again, "node-9-start-kubelet")
    record = node.root / "var/lib/kubelet-bootstrap/claims/identity/kubelet.service"
    assert record.read_text() == "made\n"
    assert node.sh(kubelet_scripts(again, "node-9-start-kubelet").delete).returncode == 0

    assert present(node, IDENTITY) == []


@pytest.mark.parametrize("remove", [True, False], ids=["remove-containers", "default"])
def test_remove_containers_removes_what_the_stopped_kubelet_left(
    tmp_path: Path, settings_for: Any, remove: bool
) -> None:
    settings = settings_for(removal={"removeContainers": remove})
    node = node_with_a_kubelet(tmp_path / "node")
    crictl = tmp_path / "crictl.calls"
    node.stub(crictl=f'echo "crictl $*" >> {crictl}')
    start(node, settings)

    stopped = node.sh(kubelet_scripts(settings).delete)

    assert stopped.returncode == 0, stopped.stderr
    calls = crictl.read_text().splitlines() if crictl.exists() else []
    endpoint = settings.kubelet.container_runtime_endpoint
    wanted = f"crictl --runtime-endpoint {node.moved(endpoint)} rmp -af"
    assert calls == ([wanted] if remove else [])
    # After the kubelet's stop, which would start the containers again.
    assert node.calls()[-1] == "systemctl disable --now kubelet.service"


def test_remove_containers_without_crictl_says_what_is_left(
    tmp_path: Path, settings_for: Any
) -> None:
    settings = settings_for(removal={"removeContainers": True})
    node = node_with_a_kubelet(tmp_path / "node")
    start(node, settings)
    node.env["PATH"] = f"{node.root / 'stubs'}:{path_without('crictl', tmp_path / 'bin')}"

    stopped = node.sh(kubelet_scripts(settings).delete)

    assert stopped.returncode == 0, stopped.stderr
    assert "crictl is not installed on node-0: the pods and containers" in stopped.stderr
