"""`kubelet.download`: its settings, and the `<node>-kubelet-binary` command in the graph.

The scripts themselves are run for real in tests/test_kubelet_binary_script.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest

from offline import engine
from offline.engine import Recording
from tests.factories import FIXED_CLOCK, node_list

SHA = "0123456789abcdef" * 4
OTHER_SHA = "fedcba9876543210" * 4
URL = "https://dl.k8s.io/v1.34.4/bin/linux/amd64/kubelet"
BINARY = "/opt/k8s/bin/kubelet"
COMMAND = "command:remote:Command"
FILE_KEYS = ("bootstrap-kubeconfig", "ca", "kubelet-config", "kubelet-unit")

Config = Callable[..., dict[str, Any]]
Run = Callable[..., Recording]


@pytest.fixture(autouse=True)
def _no_ambient_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)


def download(url: str = URL, sha256: str = SHA, **more: Any) -> dict[str, Any]:
    return {"download": {"url": url, "sha256": sha256, **more}}


def problems_of(config: dict[str, Any]) -> list[str]:
    """The settings problems of a run that must fail, having registered nothing."""
    recording = engine.Recording()
    with pytest.raises(pulumi.RunError) as failure:
        engine.run_program(config, "test", clock=FIXED_CLOCK, recording=recording)
    assert recording.resources == []
    header, *lines = str(failure.value).splitlines()
    assert header.startswith("invalid kubelet-bootstrap settings ("), header
    return [line.removeprefix("  - ") for line in lines]


# --- settings -------------------------------------------------------------------------------

NOT_A_URL = "is not an https or http URL (like https://dl.k8s.io/v1.34.4/bin/linux/amd64/kubelet)"
NOT_A_SHA = "is not a sha256 (64 hexadecimal characters, as sha256sum prints)"


@pytest.mark.parametrize(
    ("kubelet", "expected"),
    [
        pytest.param(
            download(url="ftp://mirror.example/kubelet"),
            f"kubelet.download.url: 'ftp://mirror.example/kubelet' {NOT_A_URL}",
            id="ftp",
        ),
        pytest.param(
            download(url="file:///srv/kubelet"),
            f"kubelet.download.url: 'file:///srv/kubelet' {NOT_A_URL}",
            id="file",
        ),
        pytest.param(
            download(url="mirror.example/kubelet"),
            f"kubelet.download.url: 'mirror.example/kubelet' {NOT_A_URL}",
            id="no-scheme",
        ),
        pytest.param(
            download(url="https:///kubelet"),
            f"kubelet.download.url: 'https:///kubelet' {NOT_A_URL}",
            id="no-host",
        ),
        pytest.param(
            download(url="https://mirror.example:99999/kubelet"),
            "kubelet.download.url: 'https://mirror.example:99999/kubelet' has an invalid port",
            id="bad-port",
        ),
        pytest.param(
            download(url="https://mirror.example/kube let"),
            "kubelet.download.url: 'https://mirror.example/kube let' holds whitespace or "
            "control characters; encode them (%20)",
            id="space",
        ),
        pytest.param(
            download(url="https://mirror.example/kubelet\n; rm -rf /"),
            "kubelet.download.url: 'https://mirror.example/kubelet\\n; rm -rf /' holds "
            "whitespace or control characters; encode them (%20)",
            id="newline",
        ),
        pytest.param(
            download(sha256=SHA[:63]),
            f"kubelet.download.sha256: '{SHA[:63]}' {NOT_A_SHA}",
            id="sha-too-short",
        ),
        pytest.param(
            download(sha256=SHA[:63] + "g"),
            f"kubelet.download.sha256: '{SHA[:63]}g' {NOT_A_SHA}",
            id="sha-not-hex",
        ),
        pytest.param(
            download(sha256=f"sha256:{SHA}"),
            f"kubelet.download.sha256: 'sha256:{SHA}' {NOT_A_SHA}",
            id="sha-with-prefix",
        ),
        pytest.param(
            {"download": {"url": URL}},
            "kubelet.download.sha256: is required",
            id="sha-missing",
        ),
        pytest.param(
            download(sah256=SHA),
            "kubelet.download.sah256: unknown key; did you mean 'sha256'?",
            id="typo",
        ),
        pytest.param(
            {"downloadUrl": URL},
            "kubelet.downloadUrl: unknown key; did you mean 'kubelet.download.url'?",
            id="misplaced",
        ),
        pytest.param(
            {"download": URL},
            f"kubelet.download: '{URL}' is not a mapping of keys",
            id="url-alone",
        ),
    ],
)
def test_bad_download_settings_are_refused_naming_the_key(
    kubelet: dict[str, Any], expected: str, config: Config
) -> None:
    assert problems_of(config(nodes=1, kubelet=kubelet)) == [expected]


def test_credentials_in_the_url_are_refused_and_not_shown(config: Config) -> None:
    url = "https://admin:hunter2@mirror.example/kubelet"
    [problem] = problems_of(config(nodes=1, kubelet=download(url=url)))
    assert problem.startswith("kubelet.download.url: holds credentials (user:password@)")
    assert "hunter2" not in problem


def test_a_download_problem_is_reported_with_the_others(config: Config) -> None:
    kubelet = {"maxPods": 0, **download(url="ftp://x/kubelet", sha256="abc")}
    assert sorted(problems_of(config(nodes=1, kubelet=kubelet))) == [
        f"kubelet.download.sha256: 'abc' {NOT_A_SHA}",
        f"kubelet.download.url: 'ftp://x/kubelet' {NOT_A_URL}",
        "kubelet.maxPods: 0 is less than 1, the least it may be",
    ]


@pytest.mark.parametrize("url", [URL, "http://10.77.0.1:8080/kubelet?v=1.34&arch=amd64"])
def test_an_https_or_http_url_and_an_uppercase_sha256_are_accepted(
    url: str, config: Config, run: Run
) -> None:
    """http is fine: the sha256, checked on the node before use, is the integrity check."""
    recording = run(config(nodes=1, kubelet=download(url=url, sha256=SHA.upper())))
    restart = recording.named("node-0-restart-kubelet").inputs["update"]
    assert f"\n{BINARY} sha256 {SHA}'\n" in restart


# --- the graph ------------------------------------------------------------------------------


def test_without_download_there_is_no_binary_command(config: Config, run: Run) -> None:
    recording = run(config(nodes=2))
    assert not [r for r in recording.resources if r.name.endswith("-kubelet-binary")]
    assert BINARY not in recording.named("node-0-start-kubelet").inputs["create"]
    assert BINARY not in recording.named("node-0-restart-kubelet").inputs["update"]


def test_each_node_installs_the_binary_before_its_start(config: Config, run: Run) -> None:
    recording = run(config(nodes=3, kubelet=download()))
    by_urn = recording.by_urn()
    for index in range(3):
        node = f"node-{index}"
        binary = recording.named(f"{node}-kubelet-binary")
        assert binary.type == COMMAND
        assert by_urn[binary.parent].name == node
        assert binary.urn in recording.named(f"{node}-start-kubelet").dependencies
        # It waits for the node's preflight and what refresh found there (its repairs) only (a
        # fetch runs beside the file writes), and no other node's resource waits for it.
        assert sorted(binary.dependencies) == sorted(
            recording.named(f"{node}-{key}").urn for key in ("preflight", "drift")
        )
        waiting = {r.name for r in recording.resources if binary.urn in r.dependencies}
        assert waiting == {f"{node}-start-kubelet", f"{node}-restart-kubelet"}
        # Its stdin is the cluster CA, public: the install reads the API server's version.
        assert binary.inputs["stdin"] == recording.named("node-0-preflight").inputs["stdin"]
        assert "BEGIN CERTIFICATE" in binary.inputs["stdin"]
        assert binary.inputs["addPreviousOutputInEnv"] is False


def test_the_binary_is_one_of_the_files_the_kubelet_restarts_for(config: Config, run: Run) -> None:
    recording = run(config(nodes=2, kubelet=download()))
    approval = recording.named("serving-csr-approval").inputs["nodes"]
    for index, entry in enumerate(approval):
        node = f"node-{index}"
        assert recording.stack_outputs["nodes"][node]["filesSha256"][BINARY] == SHA
        assert entry["kubelet_files"][BINARY] == SHA
        restart = recording.named(f"{node}-restart-kubelet").inputs["update"]
        assert f"\n{BINARY} sha256 {SHA}'\n" in restart
        start = recording.named(f"{node}-start-kubelet").inputs
        for field in ("create", "update"):
            assert f"sha256sum '{BINARY}'" in start[field], field


def test_a_new_sha256_changes_the_restart_the_binary_command_and_the_preflight_only(
    config: Config, run: Run
) -> None:
    """What `pulumi preview` shows for a new kubelet version: the node's binary command runs
    again, its restart names the new sha256, and its preflight checks the node again before;
    no file command changes."""
    before = run(config(nodes=2, kubelet=download()))
    after = run(config(nodes=2, kubelet=download(sha256=OTHER_SHA)))
    changed = {
        command.name
        for command in before.of_type(COMMAND)
        if command.inputs != after.named(command.name).inputs
    }
    assert changed == {
        f"node-{i}-{key}"
        for i in range(2)
        for key in ("preflight", "kubelet-binary", "restart-kubelet")
    }
    restart = after.named("node-0-restart-kubelet").inputs["update"]
    assert f"{BINARY} sha256 {OTHER_SHA}" in restart
    assert SHA not in restart


def test_a_node_of_another_architecture_downloads_its_own_binary(config: Config, run: Run) -> None:
    """`nodes[].kubelet.download` over the global one: an arm64 node in an amd64 fleet."""
    arm = "https://dl.k8s.io/v1.34.4/bin/linux/arm64/kubelet"
    nodes = node_list(2)
    nodes[1]["kubelet"] = download(url=arm, sha256=OTHER_SHA)
    recording = run(config(nodes=nodes, kubelet=download()))
    for node, url, sha in (("node-0", URL, SHA), ("node-1", arm, OTHER_SHA)):
        assert f"'{url}'" in recording.named(f"{node}-kubelet-binary").inputs["create"]
        restart = recording.named(f"{node}-restart-kubelet").inputs["update"]
        assert f"\n{BINARY} sha256 {sha}'\n" in restart


def test_a_new_url_with_the_same_sha256_restarts_nothing(config: Config, run: Run) -> None:
    """Another mirror of the same file: the binary command runs again (and fetches nothing,
    the node has that sha256), the start is the same."""
    before = run(config(nodes=1, kubelet=download()))
    after = run(config(nodes=1, kubelet=download(url="http://mirror.example/kubelet")))
    for kubelet in ("node-0-start-kubelet", "node-0-restart-kubelet"):
        assert before.named(kubelet).inputs == after.named(kubelet).inputs
    binary = "node-0-kubelet-binary"
    assert before.named(binary).inputs["create"] != after.named(binary).inputs["create"]


def test_turning_download_on_adds_the_binary_to_the_restart(config: Config, run: Run) -> None:
    """A restart: the running kubelet may be another build than the one now pinned."""
    before = run(config(nodes=1))
    after = run(config(nodes=1, kubelet=download()))
    restart = after.named("node-0-restart-kubelet").inputs["update"]
    assert BINARY not in before.named("node-0-restart-kubelet").inputs["update"]
    assert f"\n{BINARY} sha256 {SHA}'\n" in restart
    start = after.named("node-0-start-kubelet").inputs["create"]
    assert f"sha256sum '{BINARY}'" in start and SHA not in start


def test_the_binary_command_claims_under_its_own_name_and_quotes_the_url(
    config: Config, run: Run
) -> None:
    url = "http://mirror.example/kubelet?a=1&b='x'"
    recording = run(config(nodes=1, kubelet=download(url=url)))
    command = recording.named("node-0-kubelet-binary")
    for field in ("create", "update"):
        script = command.inputs[field]
        assert "owner='node-0-kubelet-binary'\n" in script, field
        assert "url='http://mirror.example/kubelet?a=1&b='\"'\"'x'\"'\"''\n" in script, field
    assert "owner='node-0-kubelet-binary'\n" in command.inputs["delete"]
    assert f"wrote='{SHA}'\n" in command.inputs["delete"]


def test_with_become_sudo_the_binary_script_runs_through_sudo(
    config: Config, run: Run, ssh_key: str
) -> None:
    ssh = {"user": "ubuntu", "privateKey": ssh_key, "become": "sudo"}
    recording = run(config(nodes=1, ssh=ssh, kubelet=download()))
    command = recording.named("node-0-kubelet-binary")
    for field in ("create", "update", "delete"):
        assert command.inputs[field].startswith("sudo -n sh -c "), field


def test_the_plan_writes_the_binary_scripts(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make plan` shows what each node runs: the binary's install and removal too."""
    import yaml

    from offline import plan

    monkeypatch.setattr(plan, "PROJECT_ROOT", tmp_path)
    (tmp_path / "Pulumi.t.yaml").write_text(
        yaml.safe_dump({"config": config(nodes=1, kubelet=download())})
    )
    assert plan.main(["--stack", "t", "--out", str(tmp_path / "build")]) == 0
    commands = tmp_path / "build/t/node-0/commands"
    assert (commands / "node-0-kubelet-binary.create.sh").is_file()
    assert (commands / "node-0-kubelet-binary.delete.sh").is_file()
