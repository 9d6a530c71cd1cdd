"""Lab nodes made into the machines the program expects to find: worker nodes before day one.

A real worker has the kubelet binary installed and a container runtime listening; the program
installs neither. Here the binary is the kubelet built from source, and the runtime is
k8s.io/cri-client's fake, served on the node's containerd socket. The first node also holds the
control plane's CA at the kubelet's CA path, as the tutorial's kube-master does: the program
must not treat that file as its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lab import paths, processes

KUBELET_BINARY = "/opt/k8s/bin/kubelet"
CRI_SOCKET = "/run/containerd/containerd.sock"
CA_PATH = "/etc/kubernetes/cert/ca.pem"


def _in_root(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def _run_dir(name: str) -> Path:
    return paths.lab_dir() / "workers" / name


def equip(
    name: str, root: Path, *, ca_cert: Path | None = None, network_ready: bool = True
) -> None:
    """Install the kubelet, start the node's container runtime, and place `ca_cert` if given.

    `network_ready=False` plays a cluster whose CNI plugin is not installed yet.
    """
    kubelet = _in_root(root, KUBELET_BINARY)
    kubelet.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths.bin_dir() / "kubelet", kubelet)
    kubelet.chmod(0o755)
    if ca_cert is not None:
        target = _in_root(root, CA_PATH)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca_cert, target)
        target.chmod(0o644)
    socket = _in_root(root, CRI_SOCKET)
    socket.parent.mkdir(parents=True, exist_ok=True)
    # A runtime left from an earlier lab serves a socket in a /run that is gone: start anew.
    processes.stop("fake-cri", _run_dir(name))
    socket.unlink(missing_ok=True)
    argv = [
        str(paths.bin_dir() / "fake-cri"),
        f"--endpoint=unix://{socket}",
        f"--network-ready={str(network_ready).lower()}",
    ]
    processes.start("fake-cri", argv, _run_dir(name))
    processes.wait_until(
        f"the container runtime of {name}",
        socket.exists,
        30,
        _run_dir(name) / "fake-cri.log",
    )


def unequip(name: str) -> None:
    """Stop the node's container runtime; the node's root goes with the node."""
    processes.stop("fake-cri", _run_dir(name))
