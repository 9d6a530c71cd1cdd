"""The lab's control plane: etcd, kube-apiserver and kube-controller-manager, built from source.

It is set up the way the tutorial's cluster is, so the program meets what it meets there:
bootstrap-token authentication, `Node,RBAC` authorization, NodeRestriction, and a
kube-controller-manager that signs with the cluster CA and runs csrapproving, csrcleaner,
tokencleaner and bootstrapsigner. It creates no bootstrap RBAC of its own: the program's
`BootstrapRbac` is what must make client-certificate auto-approval work.

    python -m lab.control_plane up [--address 10.77.0.1]
    python -m lab.control_plane down
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from lab import paths, processes
from lab.pki import Identity, Pki

SERVICE_CIDR = "10.254.0.0/16"
SERVICE_IP = "10.254.0.1"
DNS_SERVICE_IP = "10.254.0.2"
API_PORT = 6443
ETCD_CLIENT_URL = "http://127.0.0.1:23790"
ETCD_PEER_URL = "http://127.0.0.1:23800"
CONTROLLERS = "*,bootstrapsigner,tokencleaner"
DAEMONS = ("etcd", "kube-apiserver", "kube-controller-manager")


@dataclass(frozen=True)
class ControlPlane:
    """Where a running lab control plane is reached, and the files a stack needs."""

    directory: Path
    address: str

    @property
    def api_server(self) -> str:
        return f"https://{self.address}:{API_PORT}"

    @property
    def ca_cert(self) -> Path:
        return self.directory / "pki" / "ca.pem"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    @property
    def run_dir(self) -> Path:
        return self.directory / "run"


def control_plane(address: str = paths.HOST_ADDRESS) -> ControlPlane:
    return ControlPlane(paths.lab_dir() / "control-plane", address)


def kubeconfig(plane: ControlPlane, user: str, identity: Identity) -> str:
    """A kubeconfig with the CA and the client certificate embedded, as kubectl writes one."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "lab",
                    "cluster": {
                        "server": plane.api_server,
                        "certificate-authority-data": b64(plane.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(identity.cert),
                        "client-key-data": b64(identity.key),
                    },
                }
            ],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": user}}],
            "current-context": "lab",
        },
        sort_keys=False,
    )


def _write_private(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def _prepare(plane: ControlPlane) -> dict[str, Path]:
    """Certificates and kubeconfigs, made once and reused by later runs."""
    pki = Pki(plane.directory / "pki")
    serving = pki.issue(
        "kube-apiserver",
        "kube-apiserver",
        server_names=(
            plane.address,
            "127.0.0.1",
            SERVICE_IP,
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        client=False,
    )
    kubelet_client = pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client")
    admin = pki.issue("admin", "lab-admin", "system:masters")
    controller_manager = pki.issue("kube-controller-manager", "system:kube-controller-manager")
    service_accounts = pki.service_account_keys()
    _write_private(plane.admin_kubeconfig, kubeconfig(plane, "lab-admin", admin))
    kcm_kubeconfig = plane.directory / "kube-controller-manager.kubeconfig"
    _write_private(
        kcm_kubeconfig,
        kubeconfig(plane, "system:kube-controller-manager", controller_manager),
    )
    return {
        "ca": pki.ca.cert,
        "ca_key": pki.ca.key,
        "serving_cert": serving.cert,
        "serving_key": serving.key,
        "kubelet_client_cert": kubelet_client.cert,
        "kubelet_client_key": kubelet_client.key,
        "sa_pub": service_accounts.cert,
        "sa_key": service_accounts.key,
        "kcm_kubeconfig": kcm_kubeconfig,
    }


def _argv(plane: ControlPlane, files: dict[str, Path]) -> dict[str, list[str]]:
    binaries = paths.bin_dir()
    data = plane.directory / "etcd-data"
    return {
        "etcd": [
            str(binaries / "etcd"),
            "--name=lab",
            f"--data-dir={data}",
            f"--listen-client-urls={ETCD_CLIENT_URL}",
            f"--advertise-client-urls={ETCD_CLIENT_URL}",
            f"--listen-peer-urls={ETCD_PEER_URL}",
            f"--initial-advertise-peer-urls={ETCD_PEER_URL}",
            f"--initial-cluster=lab={ETCD_PEER_URL}",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            str(binaries / "kube-apiserver"),
            f"--advertise-address={plane.address}",
            f"--bind-address={plane.address}",
            f"--secure-port={API_PORT}",
            f"--etcd-servers={ETCD_CLIENT_URL}",
            f"--cert-dir={plane.directory / 'apiserver-certs'}",
            f"--tls-cert-file={files['serving_cert']}",
            f"--tls-private-key-file={files['serving_key']}",
            f"--client-ca-file={files['ca']}",
            f"--kubelet-client-certificate={files['kubelet_client_cert']}",
            f"--kubelet-client-key={files['kubelet_client_key']}",
            "--enable-bootstrap-token-auth=true",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={files['sa_pub']}",
            f"--service-account-signing-key-file={files['sa_key']}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--profiling=false",
            "--v=1",
        ],
        "kube-controller-manager": [
            str(binaries / "kube-controller-manager"),
            f"--kubeconfig={files['kcm_kubeconfig']}",
            f"--authentication-kubeconfig={files['kcm_kubeconfig']}",
            f"--authorization-kubeconfig={files['kcm_kubeconfig']}",
            "--bind-address=127.0.0.1",
            f"--controllers={CONTROLLERS}",
            f"--cluster-signing-cert-file={files['ca']}",
            f"--cluster-signing-key-file={files['ca_key']}",
            f"--root-ca-file={files['ca']}",
            f"--service-account-private-key-file={files['sa_key']}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ],
    }


def _get(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _admin_context(plane: ControlPlane) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(plane.ca_cert))
    pki = plane.directory / "pki"
    context.load_cert_chain(pki / "admin.pem", pki / "admin-key.pem")
    return context


def _loopback_health_context() -> ssl.SSLContext:
    # kube-controller-manager serves /healthz on loopback with a self-signed certificate it
    # made itself; there is nothing to verify it against, and nothing secret is sent.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def up(plane: ControlPlane) -> ControlPlane:
    """Start whatever of etcd, kube-apiserver and kube-controller-manager is not running."""
    for binary in DAEMONS:
        if not (paths.bin_dir() / binary).exists():
            raise processes.LabError(f"{binary} is not built: run `make lab` first")
    files = _prepare(plane)
    argv = _argv(plane, files)
    checks = {
        "etcd": lambda: _get(f"{ETCD_CLIENT_URL}/health"),
        "kube-apiserver": lambda: _get(f"{plane.api_server}/readyz", _admin_context(plane)),
        "kube-controller-manager": lambda: _get(
            "https://127.0.0.1:10257/healthz", _loopback_health_context()
        ),
    }
    for daemon in DAEMONS:
        if processes.running(daemon, plane.run_dir) is None:
            processes.start(daemon, argv[daemon], plane.run_dir)
        processes.wait_until(daemon, checks[daemon], 120, plane.run_dir / f"{daemon}.log")
    return plane


def down(plane: ControlPlane, *, wipe: bool = False) -> None:
    """Stop the daemons in reverse order; `wipe` also forgets etcd's data."""
    for daemon in reversed(DAEMONS):
        processes.stop(daemon, plane.run_dir)
    if wipe:
        shutil.rmtree(plane.directory / "etcd-data", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.control_plane", description=__doc__)
    parser.add_argument("action", choices=("up", "down", "wipe"))
    parser.add_argument("--address", default=paths.HOST_ADDRESS)
    args = parser.parse_args(argv)
    plane = control_plane(args.address)
    try:
        if args.action == "up":
            up(plane)
            print(
                json.dumps(
                    {
                        "apiServer": plane.api_server,
                        "caCertFile": str(plane.ca_cert),
                        "kubeconfig": str(plane.admin_kubeconfig),
                    },
                    indent=2,
                )
            )
        else:
            down(plane, wipe=args.action == "wipe")
    except processes.LabError as error:
        print(f"lab: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
