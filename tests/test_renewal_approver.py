"""The renewal approver as the program registers it: what each host gets, what the approver's
identity may do, what is secret, and what a change of the fleet restarts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.config import kube_config

from components.approval.csr_policy import SERVING_SIGNER
from components.cluster.stack_names import stack_label
from components.renewal import files
from components.renewal.binary import PROJECT_DIR, build
from components.settings.loading import SettingsError
from offline.engine import Recording, Registration
from tests.factories import CLUSTER_CA, HOST_KEY
from tests.test_artifacts import parse_unit, verify_unit
from tests.test_graph import is_secret_path, leaves, sensitive_texts

APPROVER = "kubelet-bootstrap:index:RenewalApprover"
SERVICE = "kubelet-bootstrap:index:ApproverService"
IDENTITY = "pulumi-python:dynamic/kubelet-bootstrap:ApproverIdentity"
COPY = "command:remote:CopyToRemote"
COMMAND = "command:remote:Command"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
APPROVAL = "pulumi-python:dynamic/kubelet-bootstrap:ServingCsrApproval"
HOST_COMMANDS = ("prepare", "kubeconfig", "inventory", "unit", "service")
PATHS = files.ApproverPaths("test")


def hosts(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "sshHost": f"10.0.1.{index + 1}", "hostKey": HOST_KEY}
        for index, name in enumerate(names)
    ]


@pytest.fixture
def with_approver(config: Callable) -> Callable[..., dict[str, Any]]:
    """`with_approver(nodes=3, hosts=("master-1",), enabled=True)`: a stack with an approver."""

    def make(nodes: Any = 3, host_names: tuple[str, ...] = ("master-1",), **approver: Any):
        return config(nodes=nodes, renewalApprover={"hosts": hosts(*host_names), **approver})

    return make


def command(recording: Recording, host: str, key: str) -> Registration:
    return recording.named(f"{host}-approver-{key}")


def test_each_host_gets_the_binary_its_files_and_the_service(
    with_approver: Callable, run: Callable
) -> None:
    recording = run(with_approver(host_names=("master-1", "master-2")))

    [approver] = recording.of_type(APPROVER)
    services = {r.name: r for r in recording.of_type(SERVICE)}
    assert sorted(services) == ["master-1", "master-2"]
    assert all(service.parent == approver.urn for service in services.values())
    for host, service in services.items():
        commands = {c.name for c in recording.of_type(COMMAND) if c.parent == service.urn}
        assert commands == {f"{host}-approver-{key}" for key in HOST_COMMANDS}
        [copy] = [c for c in recording.of_type(COPY) if c.parent == service.urn]
        started = command(recording, host, "service")
        prepared = command(recording, host, "prepare")
        assert copy.urn in started.dependencies and prepared.urn in copy.dependencies
        for key in ("kubeconfig", "inventory", "unit"):
            assert command(recording, host, key).urn in started.dependencies
    assert recording.stack_outputs["renewalApprover"] == {
        "account": f"kube-system/{PATHS.name}",
        "hosts": ["master-1", "master-2"],
    }


def test_each_host_is_reached_at_its_ssh_host_with_its_pinned_key(
    with_approver: Callable, run: Callable
) -> None:
    recording = run(with_approver(host_names=("master-1", "master-2")))
    for index, host in enumerate(("master-1", "master-2")):
        for registration in [
            *(command(recording, host, key) for key in HOST_COMMANDS),
            recording.named(f"{host}-approver-binary"),
        ]:
            connection = registration.inputs["connection"]
            assert connection["host"] == f"10.0.1.{index + 1}"
            assert connection["hostKey"] == HOST_KEY
            # A new address or key replaces: the old machine's delete runs on the old machine.
            assert registration.inputs["triggers"] == [f"10.0.1.{index + 1}", HOST_KEY]


def test_the_identity_may_only_read_csrs_and_approve_serving_ones(
    with_approver: Callable, run: Callable
) -> None:
    recording = run(with_approver())

    [role] = [r for r in recording.of_type(CLUSTER_ROLE) if r.name == "renewal-approver-role"]
    [binding] = [r for r in recording.of_type(BINDING) if r.name == PATHS.name]
    [identity] = recording.of_type(IDENTITY)
    rules = {
        (
            tuple(rule["apiGroups"]),
            tuple(rule["resources"]),
            tuple(rule.get("resourceNames", ())),
        ): sorted(rule["verbs"])
        for rule in role.inputs["rules"]
    }
    assert rules == {
        (("certificates.k8s.io",), ("certificatesigningrequests",), ()): ["get", "list", "watch"],
        (("certificates.k8s.io",), ("certificatesigningrequests/approval",), ()): ["update"],
        (("certificates.k8s.io",), ("signers",), (SERVING_SIGNER,)): ["approve"],
    }
    assert role.inputs["metadata"]["name"] == PATHS.name
    assert binding.inputs["roleRef"]["name"] == PATHS.name
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": PATHS.name, "namespace": "kube-system"}
    ]
    assert identity.inputs["name"] == PATHS.name
    assert "token" in identity.additional_secret_outputs


def test_names_carry_the_stack_label_so_two_stacks_share_a_master(
    with_approver: Callable, run: Callable
) -> None:
    one, two = run(with_approver(), stack="one"), run(with_approver(), stack="two")
    for key in ("kubeconfig", "inventory", "unit"):
        paths = [command(r, "master-1", key).inputs["create"] for r in (one, two)]
        assert paths[0] != paths[1]
    assert stack_label("one") in files.ApproverPaths("one").name
    assert files.ApproverPaths("one").unit != files.ApproverPaths("two").unit


def test_the_credential_is_secret_loads_as_a_kubeconfig_and_is_in_no_script(
    with_approver: Callable, run: Callable, ssh_key: str, tmp_path: Path
) -> None:
    recording = run(with_approver())
    kubeconfig = command(recording, "master-1", "kubeconfig")
    [identity] = recording.of_type(IDENTITY)
    token = next(v for v in recording.secret_values if len(v) == 40)

    assert "stdin" in kubeconfig.secret_paths
    path = tmp_path / "kubeconfig.json"
    path.write_text(kubeconfig.inputs["stdin"])
    loaded = kube_config.KubeConfigLoader(yaml.safe_load(path.read_text()))
    assert loaded._user["token"] == token
    assert loaded._cluster["server"] == "https://10.0.0.10:6443"
    assert "chmod 0600 " in kubeconfig.inputs["create"]
    texts = sensitive_texts(recording, ssh_key)
    for registration in recording.resources:
        for field, value in leaves(registration.inputs):
            if isinstance(value, str) and any(text in value for text in texts):
                assert is_secret_path(registration, field), (registration.name, field)
                assert field not in ("create", "update", "delete"), (registration.name, field)
    assert identity.name == "renewal-approver-identity" and "token" in identity.outputs


def test_the_inventory_is_what_the_programs_own_approval_judges_by(
    with_approver: Callable, run: Callable
) -> None:
    nodes = [
        {"name": "node-1", "address": "10.0.0.11", "extraSANs": ["n1.example"]},
        {"name": "node-2", "address": "10.0.0.12", "extraSANs": ["192.0.2.7"]},
        {"name": "gone", "address": "10.0.0.13", "decommissioned": True},
    ]
    recording = run(with_approver(nodes=nodes))

    inventory = json.loads(command(recording, "master-1", "inventory").inputs["stdin"])
    [approval] = recording.of_type(APPROVAL)
    assert inventory["version"] == 1 and inventory["maxExpirationSeconds"] == 365 * 24 * 3600
    assert inventory["nodes"] == [
        {"name": n["name"], "ips": n["ips"], "dnsNames": n["dns_names"]}
        for n in sorted(approval.inputs["nodes"], key=lambda n: n["name"])
    ]
    assert [n["name"] for n in inventory["nodes"]] == ["node-1", "node-2"]


def test_a_node_added_rewrites_the_inventory_and_restarts_no_approver(
    with_approver: Callable, run: Callable
) -> None:
    before, after = run(with_approver(nodes=3)), run(with_approver(nodes=4))
    for key in ("prepare", "kubeconfig", "unit", "service"):
        assert command(before, "master-1", key).inputs == command(after, "master-1", key).inputs
    assert (
        command(before, "master-1", "inventory").inputs["stdin"]
        != command(after, "master-1", "inventory").inputs["stdin"]
    )


def test_the_service_restarts_for_its_binary_unit_and_token_only(
    with_approver: Callable, run: Callable
) -> None:
    recording = run(with_approver())
    start = command(recording, "master-1", "service").inputs["create"]
    unit = command(recording, "master-1", "unit").inputs["stdin"]
    [identity] = recording.of_type(IDENTITY)
    binary = build("amd64")
    unit_sha = hashlib.sha256(unit.encode()).hexdigest()
    endpoint = hashlib.sha256(f"https://10.0.0.10:6443\n{CLUSTER_CA.pem}".encode()).hexdigest()
    assert f"want='{binary.sha256} {unit_sha} {endpoint} " in start
    update = command(recording, "master-1", "service").inputs["update"]
    assert f"want='{binary.sha256} {unit_sha} {endpoint} " in update
    assert "systemctl disable --now" in command(recording, "master-1", "service").inputs["delete"]
    assert start.split(f"{endpoint} ", 1)[1].startswith(identity.outputs["secret_uid"])


def test_the_binary_is_copied_to_a_path_that_names_its_sha256(
    with_approver: Callable, run: Callable
) -> None:
    recording = run(with_approver(arch="arm64"))
    copy = recording.named("master-1-approver-binary")
    binary = build("arm64")
    source = copy.inputs["source"]
    path = getattr(source, "path", None) or source["path"]

    assert path == "build/approver/linux-arm64/kubelet-bootstrap-approver"
    assert hashlib.sha256((PROJECT_DIR / path).read_bytes()).hexdigest() == binary.sha256
    assert copy.inputs["remotePath"] == PATHS.upload(binary.sha256)
    unit = parse_unit(command(recording, "master-1", "unit").inputs["stdin"])
    assert dict(unit["Service"])["ExecStart"].startswith(f"{PATHS.binary(binary.sha256)} run")


@pytest.mark.parametrize(
    "approver",
    [{}, {"hosts": []}, {"enabled": False, "hosts": hosts("master-1")}],
    ids=["unset", "no-hosts", "turned-off"],
)
def test_without_hosts_or_turned_off_there_is_no_approver(
    config: Callable, run: Callable, approver: dict[str, Any]
) -> None:
    recording = run(config(renewalApprover=approver or None))
    for kind in (APPROVER, SERVICE, IDENTITY, COPY):
        assert recording.of_type(kind) == []
    assert not [c for c in recording.of_type(COMMAND) if "-approver-" in c.name]
    assert recording.stack_outputs["renewalApprover"] == {"hosts": []}


def test_an_unpinned_host_is_refused_with_the_command_that_pins_it(build: Callable) -> None:
    with pytest.raises(SettingsError) as failure:
        build(
            ssh={"hostKey": None},
            nodes=[{"name": "node-0", "address": "10.0.0.1", "hostKey": HOST_KEY}],
            renewalApprover={"hosts": [{"name": "master-1", "sshHost": "10.0.1.1"}]},
        )
    assert "renewalApprover.hosts[0].hostKey: not pinned" in str(failure.value)
    assert "ssh-keyscan -t ed25519 10.0.1.1" in str(failure.value)


@pytest.mark.parametrize(
    ("approver", "message"),
    [
        ({"hosts": hosts("m", "m")}, "host name(s) m given more than once"),
        ({"hosts": hosts("m"), "healthPort": 80}, "renewalApprover.healthPort"),
        ({"hosts": hosts("m"), "arch": "riscv"}, "renewalApprover.arch"),
        ({"hosts": [{"name": "m", "sshHost": "10.0.1.1", "ip": "x"}]}, "hosts[0].ip"),
    ],
)
def test_bad_approver_settings_name_the_key(
    build: Callable, approver: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError) as failure:
        build(renewalApprover=approver)
    assert message in str(failure.value)


# --- the files and scripts through the real tools --------------------------------------------


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = files.unit(PATHS, "ab" * 32, 10271)
    assert verify_unit(tmp_path, PATHS.unit_file, unit, [PATHS.binary("ab" * 32)]) == ""


def test_the_unit_check_fails_without_the_binary(tmp_path: Path) -> None:
    unit = files.unit(PATHS, "ab" * 32, 10271)
    assert "kubelet-bootstrap-approver" in verify_unit(tmp_path, PATHS.unit_file, unit, [])


def test_the_unit_runs_without_capabilities_and_restarts_always() -> None:
    service = dict(parse_unit(files.unit(PATHS, "ab" * 32, 10271))["Service"])
    assert service["CapabilityBoundingSet"] == ""
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["Restart"] == "always"
    assert "--health-address=127.0.0.1:10271" in service["ExecStart"]


def test_without_go_the_plan_fails_saying_what_to_install(
    with_approver: Callable, run: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(Exception, match=r"install Go \(https://go.dev/dl/"):
        run(with_approver())
