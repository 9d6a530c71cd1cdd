"""Where the lab keeps what it builds and runs: one git-ignored directory, `.lab/` by default.

`LAB_DIR` moves it (for example to a disk with more room). Go's own module and build caches
stay where `go env` says, so a new clone of the repository rebuilds from a warm cache.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The host's side of the lab bridge: kube-apiserver listens here and every node reaches it.
HOST_ADDRESS = "10.77.0.1"


def lab_dir() -> Path:
    return Path(os.environ.get("LAB_DIR", REPO / ".lab")).resolve()


def bin_dir() -> Path:
    """The CLI, its language host, and the cluster's binaries."""
    return lab_dir() / "bin"


def plugins_dir() -> Path:
    """Provider plugins: off PATH, registered into the lab's PULUMI_HOME by version."""
    return lab_dir() / "plugins"
