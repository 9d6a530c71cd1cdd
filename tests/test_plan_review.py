"""`make plan` as a reviewer reads it: the rollout table first, the real stack's secrets opened,
a stack file the CLI would refuse refused, and lines that fit a screen.

`tests/data/Pulumi.secret.yaml` was written by the real Pulumi CLI (`pulumi stack init` with
the passphrase below, then `pulumi config set --secret kubelet-bootstrap:kubeconfig` and
`pulumi config set --secret --path kubelet-bootstrap:ssh.privateKey`), for a test cluster whose
CA is `tests/data/secret-stack-ca.pem`; the key and the token in it are made up for the tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import plan
from offline.stack_secrets import StackSecretsError, open_secrets
from tests.factories import ADMIN_TOKEN, HOST_KEY, PLAN_STACK, MakePlan

DATA = Path(__file__).resolve().parent / "data"
PASSPHRASE = "correct horse battery staple"


def table(output: str) -> list[list[str]]:
    """The rollout table's rows under its header, each cut into node, batch, restart, what."""
    lines = output.split("\n\n", 1)[0].splitlines()
    assert lines[0].startswith("Rollout ("), lines[0]
    assert lines[1].split()[:3] == ["node", "batch", "restart"]
    return [line.split(None, 3) for line in lines[2:]]


def planned(make_plan: MakePlan, capsys: pytest.CaptureFixture[str], **overrides: Any) -> str:
    assert make_plan(**overrides) == 0
    return capsys.readouterr().out


# --- the rollout table --------------------------------------------------------------------------


def test_the_first_plan_shows_every_node_new_in_its_batch(
    make_plan: MakePlan, capsys: pytest.CaptureFixture[str]
) -> None:
    output = planned(make_plan, capsys, nodes=3, rollout={"batchSize": 2})

    assert output.startswith("Rollout (the first plan of this stack here: every node is new")
    assert table(output) == [
        ["node-0", "1", "start", "new node: CA, config, unit"],
        ["node-1", "1", "start", "new node: CA, config, unit"],
        ["node-2", "2", "start", "new node: CA, config, unit"],
    ]


def test_a_change_for_one_node_restarts_that_node_alone(
    make_plan: MakePlan, capsys: pytest.CaptureFixture[str], config: Callable[..., dict[str, Any]]
) -> None:
    nodes = config(nodes=3)["kubelet-bootstrap:nodes"]
    planned(make_plan, capsys, nodes=nodes, rollout={"batchSize": 1})
    nodes[1]["kubelet"] = {"maxPods": 110}

    output = planned(make_plan, capsys, nodes=nodes, rollout={"batchSize": 1})

    assert "against the previous plan of this stack; 1 to restart" in output
    assert table(output) == [
        ["node-0", "1", "no", "-"],
        ["node-1", "2", "yes", "config"],
        ["node-2", "3", "no", "-"],
    ]


def test_a_new_binary_and_a_node_leaving_are_in_the_table(
    make_plan: MakePlan, capsys: pytest.CaptureFixture[str]
) -> None:
    download = {"url": "https://dl.example/kubelet", "sha256": "a" * 64}
    planned(make_plan, capsys, nodes=3, kubelet={"download": download})

    output = planned(
        make_plan, capsys, nodes=2, kubelet={"download": {**download, "sha256": "b" * 64}}
    )

    assert table(output) == [
        ["node-0", "1", "yes", "binary"],
        ["node-1", "1", "yes", "binary"],
        ["node-2", "-", "-", "leaves the stack: drained, kubelet stopped, Node deleted"],
    ]


def test_the_tree_follows_with_its_lines_cut_to_a_screen(
    make_plan: MakePlan, capsys: pytest.CaptureFixture[str]
) -> None:
    output = planned(make_plan, capsys, nodes=40)

    tree = output.split("\n\n", 1)[1]
    assert tree.startswith(f"kubelet-bootstrap-{PLAN_STACK} (")
    assert max(len(line) for line in tree.splitlines()) <= plan.TREE_WIDTH
    assert any(line.endswith("…") for line in tree.splitlines())


# --- the real stack: its --secret values --------------------------------------------------------


@pytest.fixture
def secret_stack(project: Path) -> Path:
    """The CLI's stack file, with the plain settings a stack has besides its two secrets."""
    document = yaml.safe_load((DATA / "Pulumi.secret.yaml").read_text())
    shutil.copy(DATA / "secret-stack-ca.pem", project / "ca.pem")
    document["config"].update(
        {
            "kubelet-bootstrap:apiServer": "https://10.0.0.10:6443",
            "kubelet-bootstrap:caCertFile": str(project / "ca.pem"),
            "kubelet-bootstrap:cluster": {"dnsServiceIP": "10.254.0.2"},
            "kubelet-bootstrap:nodes": [
                {"name": "node-0", "address": "10.0.0.1", "hostKey": HOST_KEY}
            ],
        }
    )
    path = project / "Pulumi.secret.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_stack_as_configured_is_planned_with_its_passphrase(
    secret_stack: Path,
    plan_out: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)

    status = plan.main(["--stack", "secret", "--out", str(plan_out)])

    output = capsys.readouterr().out
    assert status == 0
    assert table(output) == [["node-0", "1", "start", "new node: CA, config, unit"]]
    written = "".join(p.read_text() for p in plan_out.rglob("*") if p.is_file())
    assert ADMIN_TOKEN not in output + written
    assert "OPENSSH PRIVATE KEY" not in output + written


def test_the_secrets_open_as_the_cli_wrote_them() -> None:
    document = yaml.safe_load((DATA / "Pulumi.secret.yaml").read_text())

    opened = open_secrets("secret", document, DATA, {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})

    kubeconfig = yaml.safe_load(opened.config["kubelet-bootstrap:kubeconfig"])
    assert kubeconfig["users"][0]["user"]["token"] == ADMIN_TOKEN
    key = opened.config["kubelet-bootstrap:ssh"]["privateKey"]
    assert key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert opened.secrets == {opened.config["kubelet-bootstrap:kubeconfig"], key}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"PULUMI_CONFIG_PASSPHRASE": "wrong"},
            "the passphrase in PULUMI_CONFIG_PASSPHRASE(_FILE) does not open stack 'secret'",
        ),
        ({"PATH": ""}, "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)"),
        (
            {"PULUMI_CONFIG_PASSPHRASE_FILE": "/nonexistent/passphrase"},
            "PULUMI_CONFIG_PASSPHRASE_FILE: ",
        ),
    ],
    ids=["wrong-passphrase", "no-passphrase-no-cli", "unreadable-passphrase-file"],
)
def test_secrets_that_cannot_be_opened_say_how_they_can(
    environ: dict[str, str], message: str
) -> None:
    document = yaml.safe_load((DATA / "Pulumi.secret.yaml").read_text())

    with pytest.raises(StackSecretsError) as error:
        open_secrets("secret", document, DATA, environ)

    assert message in str(error.value)


def test_a_passphrase_file_opens_them_too(tmp_path: Path) -> None:
    (tmp_path / "passphrase").write_text(PASSPHRASE)
    document = yaml.safe_load((DATA / "Pulumi.secret.yaml").read_text())

    opened = open_secrets(
        "secret", document, DATA, {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "passphrase")}
    )

    assert "token" in opened.config["kubelet-bootstrap:kubeconfig"]


# --- a stack file the CLI would refuse ----------------------------------------------------------


def test_a_key_given_twice_is_refused_at_its_line(
    project: Path, plan_out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.twice.yaml").write_text(
        "config:\n"
        "  kubelet-bootstrap:nodes:\n"
        "    - {name: node-0, address: 10.0.0.1}\n"
        "  kubelet-bootstrap:apiServer: https://10.0.0.10:6443\n"
        "  kubelet-bootstrap:nodes:\n"
        "    - {name: node-3, address: 10.0.0.4}\n"
    )

    status = plan.main(["--stack", "twice", "--out", str(plan_out)])

    assert status == 2
    assert (
        "Pulumi.twice.yaml:5:3: 'kubelet-bootstrap:nodes' is given twice (first at line 2); the "
        "Pulumi CLI refuses the file: keep one"
    ) in capsys.readouterr().err
