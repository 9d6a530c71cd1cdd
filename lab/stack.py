"""A stack of the real program, driven through the real Pulumi CLI the way the README tells users.

The program runs unmodified from the repository; only the stack's settings file lives in the
lab (`--config-file`), so the work tree stays clean. Every CLI call is recorded with its
output, so a test can check that nothing secret was ever printed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lab import paths
from lab.processes import LabError
from lab.pulumi_home import environment


@dataclass
class Call:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class LabStack:
    """One lab stack: its name, its settings file and its local backend."""

    name: str
    directory: Path = field(default_factory=lambda: paths.lab_dir() / "stacks")
    calls: list[Call] = field(default_factory=list)
    program: Path = paths.REPO
    """The program's directory: this repository, or an earlier release checked out beside it."""

    @property
    def config_file(self) -> Path:
        return self.directory / f"Pulumi.{self.name}.yaml"

    @property
    def backend(self) -> Path:
        return self.directory / "backend"

    def pulumi(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> Call:
        """Run `pulumi <args>` on this stack from the repository, non-interactively (with
        `extra_env` added to the lab's environment)."""
        self.backend.mkdir(parents=True, exist_ok=True)
        argv = [
            str(paths.bin_dir() / "pulumi"),
            *args,
            "--cwd",
            str(self.program),
            "--stack",
            self.name,
            "--non-interactive",
        ]
        if args[0] in {"config", "preview", "up", "refresh", "destroy"}:
            argv += ["--config-file", str(self.config_file)]
        result = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            env={**environment(self.backend), **(extra_env or {})},
            check=False,
        )
        call = Call(argv, result.returncode, result.stdout, result.stderr)
        self.calls.append(call)
        if check and call.returncode != 0:
            tail = "\n".join(call.output.strip().splitlines()[-40:])
            raise LabError(f"pulumi {' '.join(args)} exited {call.returncode}:\n{tail}")
        return call

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.backend.mkdir(parents=True, exist_ok=True)
        self.pulumi("stack", "init")
        # `stack init` writes the stack's secrets salt beside Pulumi.yaml; the lab keeps it,
        # with the rest of the stack's settings, in its own file.
        (self.program / self.config_file.name).replace(self.config_file)

    def set(self, key: str, value: str, *, secret: bool = False, path: bool = False) -> None:
        """`pulumi config set [--secret] [--path] kubelet-bootstrap:<key>`, value on stdin."""
        flags = [*(["--secret"] if secret else []), *(["--path"] if path else [])]
        self.pulumi("config", "set", *flags, f"kubelet-bootstrap:{key}", stdin=value)

    def planned(self, *, refresh: bool = False) -> dict[str, str]:
        """`pulumi preview --json` (`--refresh`: after reading the cluster and nodes, as
        `pulumi up --refresh` would): each resource's planned operation, by resource name."""
        flags = ["--refresh"] if refresh else []
        plan = json.loads(self.pulumi("preview", "--json", *flags).stdout)
        return {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in plan.get("steps", [])}

    def history(self) -> list[dict]:
        """`pulumi stack history --json`: the updates, newest first, with change counts."""
        return json.loads(self.pulumi("stack", "history", "--json", "--show-secrets=false").stdout)

    def export(self) -> str:
        return self.pulumi("stack", "export").stdout

    def outputs(self) -> dict:
        return json.loads(self.pulumi("stack", "output", "--json").stdout)

    def remove(self) -> None:
        """Forget the stack and its state (after destroy); a missing stack is fine."""
        # A CLI killed mid-update (a lab run interrupted) leaves its lock behind.
        for lock_dir in (self.backend / ".pulumi" / "locks").glob(f"*/*/{self.name}"):
            shutil.rmtree(lock_dir)
        self.pulumi("stack", "rm", "--yes", "--force", check=False)
        self.config_file.unlink(missing_ok=True)
