"""Builds every lab binary with the ordinary `go` command, at the versions in `lab/pins.py`.

Nothing is downloaded prebuilt: each binary comes from modules the Go module proxy serves.
A binary is rebuilt only when what it is built from changed (its pins, or our own source
under `lab/go/`), which a stamp file beside the binaries records.

    python -m lab.build            # build what is missing or stale, print a line per binary
    python -m lab.build --force    # rebuild everything
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab import paths
from lab.pins import PINS
from lab.processes import LabError

LAB_GO = paths.REPO / "lab" / "go"


def load_pins() -> dict:
    return PINS


@dataclass(frozen=True)
class Target:
    """One `go build`: what it makes, what it is made from, and how."""

    name: str
    outputs: tuple[Path, ...]
    pins: dict
    sources: tuple[Path, ...]
    build: Callable[[dict], None]

    def fingerprint(self) -> str:
        digest = hashlib.sha256(json.dumps(self.pins, sort_keys=True).encode())
        for directory in self.sources:
            for file in sorted(directory.rglob("*")):
                if file.is_file() and file.suffix in {".go", ".mod", ".sum"}:
                    digest.update(str(file.relative_to(directory)).encode())
                    digest.update(file.read_bytes())
        return digest.hexdigest()


def go(args: list[str], cwd: Path, **env: str) -> str:
    """Run the go command; on failure raise with the tail of what it printed."""
    environment = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", **env}
    result = subprocess.run(
        ["go", *args], cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise LabError(f"go {' '.join(args)} (in {cwd}) failed:\n{tail}")
    return result.stdout


def module_dir(module: str, version: str) -> Path:
    """Download `module@version` through the proxy and return its read-only directory."""
    info = json.loads(go(["mod", "download", "-json", f"{module}@{version}"], cwd=paths.REPO))
    if "Error" in info:
        raise LabError(f"{module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def writable_copy(source: Path, name: str) -> Path:
    """A fresh writable copy of a module under .lab/src, for the edits its build needs."""
    destination = paths.lab_dir() / "src" / name
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(source, destination)
    for path in [destination, *destination.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return destination


def _ldflags(*pairs: tuple[str, str]) -> str:
    return " ".join(["-s", "-w", *(f"-X {name}={value}" for name, value in pairs)])


# --- our own modules under lab/go ----------------------------------------------------------


def _sync_kube_module(pins: dict) -> Path:
    """Point lab/go/kube at the pinned k8s.io/kubernetes and its published staging modules."""
    module = LAB_GO / "kube"
    upstream_mod = module_dir(pins["module"], pins["version"]) / "go.mod"
    staging = re.findall(r"^\s*(k8s\.io/[\w.-]+) => \./staging", upstream_mod.read_text(), re.M)
    edits = [f"-require={pins['module']}@{pins['version']}"]
    edits += [f"-replace={name}={name}@{pins['staging_version']}" for name in staging]
    go(["mod", "edit", *edits], cwd=module)
    go(["mod", "tidy"], cwd=module)
    return module


def build_kube(pins: dict) -> None:
    module = _sync_kube_module(pins)
    major, minor = pins["version"].lstrip("v").split(".")[:2]
    flags = _ldflags(
        ("k8s.io/component-base/version.gitVersion", pins["version"]),
        ("k8s.io/component-base/version.gitMajor", major),
        ("k8s.io/component-base/version.gitMinor", minor),
    )
    go(["build", "-ldflags", flags, "-o", f"{paths.bin_dir()}/", "./cmd/..."], cwd=module)


def build_etcd(pins: dict) -> None:
    module = LAB_GO / "etcd"
    go(["mod", "edit", f"-require={pins['module']}@{pins['version']}"], cwd=module)
    go(["mod", "tidy"], cwd=module)
    go(["build", "-ldflags", _ldflags(), "-o", str(paths.bin_dir() / "etcd"), "."], cwd=module)


def _build_own(module_name: str, sdk_version: str, package: str, out: Path) -> None:
    """Build our module against the pinned Pulumi SDK (its version stamped in)."""
    module = LAB_GO / module_name
    go(["mod", "edit", f"-require=github.com/pulumi/pulumi/sdk/v3@{sdk_version}"], cwd=module)
    go(["mod", "tidy"], cwd=module)
    flags = _ldflags(("github.com/pulumi/pulumi/sdk/v3/go/common/version.Version", sdk_version))
    go(["build", "-ldflags", flags, "-o", str(out), package], cwd=module)


# --- upstream modules built in a writable copy ----------------------------------------------


def _copy_with_published_sdk(pins: dict, name: str, sdk_version: str) -> Path:
    """A writable copy of the pinned module whose go.mod replaces its SDK with a sibling
    directory (`=> ../sdk`, absent from module zips): it requires the published SDK instead."""
    source = writable_copy(module_dir(pins["module"], pins["version"]), name)
    sdk = pins["sdk_module"]
    go(["mod", "edit", f"-dropreplace={sdk}", f"-require={sdk}@{sdk_version}"], cwd=source)
    return source


def build_pulumi(pins: dict) -> None:
    """The CLI lives in package main of pkg/v3."""
    source = _copy_with_published_sdk(pins, "pulumi-pkg", pins["version"])
    flags = _ldflags(("github.com/pulumi/pulumi/sdk/v3/go/common/version.Version", pins["version"]))
    tags = "osusergo,grpcnotrace"
    out = str(paths.bin_dir() / "pulumi")
    go(["build", "-tags", tags, "-ldflags", flags, "-o", out, "./cmd/pulumi"], cwd=source)
    # Beside the CLI, the scripts the Python language host and dynamic providers run.
    sdk = module_dir(pins["sdk_module"], pins["version"])
    for script in ("cmd/pulumi-language-python-exec", "dist/pulumi-resource-pulumi-python"):
        target = paths.bin_dir() / Path(script).name
        shutil.copyfile(sdk / "python" / script, target)
        target.chmod(0o755)


def build_kubernetes_provider(pins: dict) -> None:
    """Its schema files are generated by generate.go, which the module zip does not run."""
    source = _copy_with_published_sdk(pins, "pulumi-kubernetes", pins["sdk_version"])
    main = source / "cmd" / "pulumi-resource-kubernetes"
    go(["run", "generate.go"], cwd=main, VERSION=pins["reports"])
    flags = _ldflags(
        ("github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version", pins["reports"])
    )
    out = str(paths.plugins_dir() / "pulumi-resource-kubernetes")
    go(["build", "-ldflags", flags, "-o", out, "."], cwd=main)


def targets(pins: dict) -> list[Target]:
    sdk = pins["pulumi"]["version"]
    kubernetes = pins["kubernetes"]
    return [
        Target(
            "kubernetes",
            tuple(
                paths.bin_dir() / name
                for name in ("kube-apiserver", "kube-controller-manager", "kubelet", "fake-cri")
            ),
            kubernetes,
            (LAB_GO / "kube",),
            build_kube,
        ),
        Target("etcd", (paths.bin_dir() / "etcd",), pins["etcd"], (LAB_GO / "etcd",), build_etcd),
        Target(
            "pulumi",
            tuple(
                paths.bin_dir() / name
                for name in (
                    "pulumi",
                    "pulumi-language-python-exec",
                    "pulumi-resource-pulumi-python",
                )
            ),
            pins["pulumi"],
            (),
            build_pulumi,
        ),
        Target(
            "language host",
            (paths.bin_dir() / "pulumi-language-python",),
            {"sdk": sdk},
            (LAB_GO / "langhost",),
            lambda _: _build_own("langhost", sdk, ".", paths.bin_dir() / "pulumi-language-python"),
        ),
        Target(
            "stand-in providers",
            (
                paths.plugins_dir() / "pulumi-resource-command",
                paths.plugins_dir() / "pulumi-resource-random",
            ),
            {"sdk": sdk},
            (LAB_GO / "providers",),
            lambda _: _build_own("providers", sdk, "./cmd/...", Path(f"{paths.plugins_dir()}/")),
        ),
        Target(
            "pulumi-kubernetes provider",
            (paths.plugins_dir() / "pulumi-resource-kubernetes",),
            pins["plugins"]["kubernetes"],
            (),
            build_kubernetes_provider,
        ),
    ]


def build(force: bool = False, chosen: list[Target] | None = None) -> list[tuple[str, str, float]]:
    """Build what is stale of `chosen` (every target by default); return (target, outcome,
    seconds) per target."""
    paths.bin_dir().mkdir(parents=True, exist_ok=True)
    paths.plugins_dir().mkdir(parents=True, exist_ok=True)
    stamps_dir = paths.lab_dir() / "stamps"
    stamps_dir.mkdir(exist_ok=True)
    report = []
    for target in targets(load_pins()) if chosen is None else chosen:
        stamp = stamps_dir / f"{target.name.replace(' ', '-')}.sha256"
        fingerprint = target.fingerprint()
        present = all(output.exists() for output in target.outputs)
        if not force and present and stamp.exists() and stamp.read_text() == fingerprint:
            report.append((target.name, "up to date", 0.0))
            continue
        print(f"lab: building {target.name} ...", flush=True)
        started = time.monotonic()
        target.build(target.pins)
        stamp.write_text(target.fingerprint())
        report.append((target.name, "built", time.monotonic() - started))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.build", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild everything")
    args = parser.parse_args(argv)
    try:
        report = build(args.force)
    except LabError as error:
        print(f"lab: {error}", file=sys.stderr)
        return 1
    print(f"{'target':<28} {'outcome':<11} seconds")
    for name, outcome, seconds in report:
        print(f"{name:<28} {outcome:<11} {seconds:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
