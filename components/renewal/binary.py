"""The renewal approver's binary: built from `approver/` with the operator's Go toolchain.

The hosts it runs on may reach no package registry, and have no Python of a known version,
so the approver is one static Go binary (stdlib only, CGO off) for the hosts' architecture,
copied to them. Go builds are reproducible (`-trimpath`, no VCS stamp): the same sources and
Go version give the same bytes, so a re-run copies nothing and restarts nothing; a new Go
version or a change of `approver/` gives a new sha256, which `pulumi preview` shows.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
SOURCE_DIR = PROJECT_DIR / "approver"
BUILD_DIR = PROJECT_DIR / "build" / "approver"
BINARY_NAME = "kubelet-bootstrap-approver"
PACKAGE = "./cmd/kubelet-bootstrap-approver"
BUILD_TIMEOUT_SECONDS = 600


class ApproverBuildError(Exception):
    """The binary could not be built; the message says what to install or fix."""


@dataclass(frozen=True)
class ApproverBinary:
    path: Path
    sha256: str


def build(arch: str, build_dir: Path = BUILD_DIR) -> ApproverBinary:
    """The approver for linux/`arch`, built (or found up to date) under `build_dir`.

    Built into a temporary file and moved in place, so two programs building at once (two
    stacks of one fleet) never read a half-written binary.
    """
    go = shutil.which("go")
    if go is None:
        raise ApproverBuildError(
            "renewalApprover.hosts is set, and the approver is built here from approver/ with "
            "Go (1.22 or newer), which this machine lacks: install Go (https://go.dev/dl/), or "
            "remove renewalApprover.hosts"
        )
    target = build_dir / f"linux-{arch}" / BINARY_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / BINARY_NAME
        environment = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOOS": "linux",
            "GOARCH": arch,
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-buildvcs=false -trimpath",
        }
        command = [go, "build", "-ldflags=-s -w", "-o", str(built), PACKAGE]
        try:
            subprocess.run(
                command,
                cwd=SOURCE_DIR,
                env=environment,
                check=True,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_SECONDS,
            )
        except subprocess.CalledProcessError as error:
            raise ApproverBuildError(
                f"building the approver for linux/{arch} failed: {error.stderr.strip()}"
            ) from None
        digest = _sha256(built)
        if not target.exists() or _sha256(target) != digest:
            built.chmod(0o755)
            os.replace(built, target)
    return ApproverBinary(target, digest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
