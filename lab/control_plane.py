"""The lab's control plane: etcd, kube-apiserver and kube-controller-manager, built from source.

It is set up the way the tutorial's cluster is, so the program meets what it meets there:
bootstrap-token authentication, `Node,RBAC` authorization, NodeRestriction, and a
kube-controller-manager that signs with the cluster CA and runs csrapproving, csrcleaner,
tokencleaner and bootstrapsigner. It creates no bootstrap RBAC of its own: the program's
`BootstrapRbac` is what must make client-certificate auto-approval work.

    python -m lab.control_plane up [--address 10.77.0.1]
    python -m lab.control_plane restart kube-controller-manager [--signing-duration 4m]
    python -m lab.control_plane down
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import re
import shutil
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
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
READY_TIMEOUT_SECONDS = 120
# Go's time.ParseDuration syntax, which --cluster-signing-duration takes ("4m", "1h30m").
GO_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")


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


def _get_text(url: str, context: ssl.SSLContext | None = None) -> str | None:
    """The body of a 200 answer; None for any other answer or none."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:
            return response.read().decode() if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def _get(url: str, context: ssl.SSLContext | None = None) -> bool:
    return _get_text(url, context) is not None


def _controllers_started() -> bool:
    """Whether kube-controller-manager has started all its controllers: it adds their checks
    to /healthz only then, and answers a bare `ping` before. Until then it dies (klog.Fatal
    in its client builder) if the API server cannot be reached, so a restart of the API
    server must not come sooner."""
    body = _get_text("https://127.0.0.1:10257/healthz?verbose", _loopback_health_context())
    checks = [line for line in (body or "").splitlines() if line.startswith("[+]")]
    return any(line != "[+]ping ok" for line in checks)


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


def _readiness_checks(plane: ControlPlane) -> dict[str, Callable[[], bool]]:
    """What says each daemon serves: etcd's /health, the API server's /readyz (as the admin),
    kube-controller-manager's /healthz on loopback, listing its controllers."""
    return {
        "etcd": lambda: _get(f"{ETCD_CLIENT_URL}/health"),
        "kube-apiserver": lambda: _get(f"{plane.api_server}/readyz", _admin_context(plane)),
        "kube-controller-manager": _controllers_started,
    }


def _wait_ready(plane: ControlPlane, daemon: str) -> None:
    check = _readiness_checks(plane)[daemon]
    log = plane.run_dir / f"{daemon}.log"
    processes.wait_until(daemon, check, READY_TIMEOUT_SECONDS, log)


def up(plane: ControlPlane) -> ControlPlane:
    """Start whatever of etcd, kube-apiserver and kube-controller-manager is not running."""
    for binary in DAEMONS:
        if not (paths.bin_dir() / binary).exists():
            raise processes.LabError(f"{binary} is not built: run `make lab` first")
    argv = _argv(plane, _prepare(plane))
    for daemon in DAEMONS:
        if processes.running(daemon, plane.run_dir) is None:
            processes.start(daemon, argv[daemon], plane.run_dir)
        _wait_ready(plane, daemon)
    return plane


@dataclass(frozen=True)
class Outage:
    """A daemon's restart as its clients saw it: from the moment its stop began to the moment
    it answered its readiness check again. Wall-clock UTC times, so that a scenario can set
    them beside what a watcher logged while the daemon was away."""

    daemon: str
    stopped_at: datetime.datetime
    ready_at: datetime.datetime

    @property
    def seconds(self) -> float:
        return (self.ready_at - self.stopped_at).total_seconds()


def restart_daemon(plane: ControlPlane, daemon: str, extra_args: Sequence[str] = ()) -> Outage:
    """Stop one daemon of a running control plane, start it again with its usual arguments
    and `extra_args`, and wait until it is ready. The extra arguments are not recorded
    anywhere: they hold for this process only, and the next restart without them (or `up`
    after `down`) brings the daemon back as `up` makes it."""
    if daemon not in DAEMONS:
        raise processes.LabError(f"{daemon!r} is not a daemon of the lab: {', '.join(DAEMONS)}")
    if processes.running(daemon, plane.run_dir) is None:
        raise processes.LabError(f"{daemon} is not running: run `python -m lab.control_plane up`")
    argv = [*_argv(plane, _prepare(plane))[daemon], *extra_args]
    stopped_at = datetime.datetime.now(datetime.timezone.utc)
    processes.stop(daemon, plane.run_dir)
    processes.start(daemon, argv, plane.run_dir)
    _wait_ready(plane, daemon)
    ready_at = datetime.datetime.now(datetime.timezone.utc)
    _check_running(plane)
    return Outage(daemon, stopped_at, ready_at)


def _check_running(plane: ControlPlane) -> None:
    """Raises, with its log's tail, if a daemon died while another restarted (nothing here
    starts a crashed daemon again, as systemd or the kubelet would)."""
    for daemon in DAEMONS:
        if processes.running(daemon, plane.run_dir) is None:
            log = plane.run_dir / f"{daemon}.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
            raise processes.LabError(f"{daemon} died; last lines of {log}:\n{tail}")


def set_signing_duration(plane: ControlPlane, duration: str | None) -> Outage:
    """Restart kube-controller-manager so that it signs certificates for `duration` (Go's
    syntax, "4m") instead of its default year, which lets a scenario watch kubelets rotate
    within minutes; None restarts it with the default again. kube-controller-manager enforces
    no minimum; see docs/lab.md for what a short duration means for a kubelet's rotation."""
    if duration is not None and not GO_DURATION.fullmatch(duration):
        raise processes.LabError(f"{duration!r} is not a Go duration such as 4m or 1h30m")
    extra = [] if duration is None else [f"--cluster-signing-duration={duration}"]
    return restart_daemon(plane, "kube-controller-manager", extra)


def down(plane: ControlPlane, *, wipe: bool = False) -> None:
    """Stop the daemons in reverse order; `wipe` also forgets etcd's data."""
    for daemon in reversed(DAEMONS):
        processes.stop(daemon, plane.run_dir)
    if wipe:
        shutil.rmtree(plane.directory / "etcd-data", ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.control_plane",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("up", "restart", "down", "wipe"))
    parser.add_argument("daemon", nargs="?", choices=DAEMONS, help="the daemon to restart")
    parser.add_argument("--address", default=paths.HOST_ADDRESS)
    parser.add_argument(
        "--signing-duration",
        help="restart kube-controller-manager with --cluster-signing-duration (e.g. 4m)",
    )
    args = parser.parse_args(argv)
    if args.action == "restart" and args.daemon is None:
        parser.error("restart needs the daemon to restart")
    if args.signing_duration and args.daemon != "kube-controller-manager":
        parser.error("--signing-duration is kube-controller-manager's")
    plane = control_plane(args.address)
    try:
        if args.action == "restart":
            if args.daemon == "kube-controller-manager":
                outage = set_signing_duration(plane, args.signing_duration)
            else:
                outage = restart_daemon(plane, args.daemon)
            print(f"{outage.daemon} was down {outage.seconds:.1f}s")
        elif args.action == "up":
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
