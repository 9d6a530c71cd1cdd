"""`make plan` of a stack set up with the real CLI's `--secret` (issue 13, item 3).

A stack made as the README says, in a project directory of its own: `pulumi stack init`, the
admin kubeconfig and SSH key set with `--secret`, a nested secret among plain keys. Its
secrets open the same through the passphrase here as through `pulumi config --show-secrets`,
and the plan of it prints neither. Needs the lab's CLI only, not its cluster.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lab import paths
from lab.pulumi_home import environment
from offline import plan, stack_secrets
from tests.factories import ADMIN_TOKEN, HOST_KEY, ClusterCa, admin_kubeconfig, make_ssh_key

pytestmark = pytest.mark.e2e

STACK = "planned"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """A project with the stack, its config set by the real CLI; and the CLI's environment."""
    shutil.copy(paths.REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    env = environment(tmp_path / "backend")
    (tmp_path / "backend").mkdir()
    ca = ClusterCa("plan-secrets-ca")
    (tmp_path / "ca.pem").write_text(ca.pem)

    def pulumi(*args: str, stdin: str | None = None) -> None:
        argv = [str(paths.bin_dir() / "pulumi"), *args, "--stack", STACK, "--non-interactive"]
        result = subprocess.run(
            argv, input=stdin, cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr

    pulumi("stack", "init")
    pulumi(
        "config", "set", "--secret", "kubelet-bootstrap:kubeconfig", stdin=admin_kubeconfig(ca.pem)
    )
    pulumi(
        "config",
        "set",
        "--secret",
        "--path",
        "kubelet-bootstrap:ssh.privateKey",
        stdin=make_ssh_key(),
    )
    for key, value in (
        ("apiServer", "https://10.0.0.10:6443"),
        ("caCertFile", str(tmp_path / "ca.pem")),
        ("cluster.dnsServiceIP", "10.254.0.2"),
        ("nodes[0].name", "node-0"),
        ("nodes[0].address", "10.0.0.1"),
        ("nodes[0].hostKey", HOST_KEY),
        ("ssh.user", "root"),
    ):
        pulumi("config", "set", "--path", f"kubelet-bootstrap:{key}", stdin=value)
    monkeypatch.setattr(plan, "PROJECT_ROOT", tmp_path)
    return tmp_path, env


def test_the_passphrase_opens_what_the_cli_shows(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    document = yaml.safe_load((root / f"Pulumi.{STACK}.yaml").read_text())

    local = stack_secrets.open_secrets(STACK, document, root, env)
    without_passphrase = {k: v for k, v in env.items() if k != "PULUMI_CONFIG_PASSPHRASE"}
    assert shutil.which("pulumi", path=env["PATH"])
    with pytest.raises(stack_secrets.StackSecretsError):  # the CLI needs the passphrase too
        stack_secrets.open_secrets(
            STACK, {**document, "encryptionsalt": None}, root, without_passphrase
        )
    through_cli = stack_secrets.open_secrets(STACK, {**document, "encryptionsalt": None}, root, env)

    assert local.config == through_cli.config
    assert local.secrets == through_cli.secrets
    assert local.config["kubelet-bootstrap:ssh"]["user"] == "root"
    assert ADMIN_TOKEN in local.config["kubelet-bootstrap:kubeconfig"]


def test_the_plan_of_the_real_stack_prints_no_secret(
    project: tuple[Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, env = project
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", env["PULUMI_CONFIG_PASSPHRASE"])

    status = plan.main(["--stack", STACK, "--out", str(root / "build")])

    output = capsys.readouterr().out
    assert status == 0
    assert "node-0  1      start    new node: CA, config, unit" in output
    written = "".join(p.read_text() for p in (root / "build").rglob("*") if p.is_file())
    assert ADMIN_TOKEN not in output + written
    assert "PRIVATE KEY" not in output + written
