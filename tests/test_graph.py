"""The resource graph the program registers, recorded by the offline engine.

Which resources exist per node and per stack, who parents whom, which dependency edges
order the rollout, what is marked secret, and what the stack exports.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from components.cluster.bootstrap_token import bootstrap_group
from components.verification.verification_identity import identity_name
from offline.engine import Recording, Registration, run_program
from tests.factories import (
    ADMIN_TOKEN,
    HOST_KEY,
    admin_kubeconfig,
    make_certificate,
    make_ssh_key,
    node_list,
)

STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER = "pulumi:providers:kubernetes"
TOKEN = "kubelet-bootstrap:index:BootstrapToken"
NODE = "kubelet-bootstrap:index:KubeletNode"
RBAC = "kubelet-bootstrap:index:BootstrapRbac"
COMMAND = "command:remote:Command"
TOKEN_ISSUE = "pulumi-python:dynamic/kubelet-bootstrap:TokenIssue"
APPROVAL = "pulumi-python:dynamic/kubelet-bootstrap:ServingCsrApproval"
API_CHECK = "pulumi-python:dynamic/kubelet-bootstrap:KubeletApiCheck"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
VERIFICATION = "kubelet-bootstrap:index:KubeletApiVerification"
REMOVAL = "kubelet-bootstrap:index:NodeRemoval"
DRAIN = "pulumi-python:dynamic/kubelet-bootstrap:NodeDrain"
NODE_OBJECT = "pulumi-python:dynamic/kubelet-bootstrap:NodeObject"
DRIFT = "pulumi-python:dynamic/kubelet-bootstrap:NodeDrift"

FILE_KEYS = ("bootstrap-kubeconfig", "ca", "kubelet-config", "kubelet-unit")
RBAC_API_GROUP = "rbac.authorization.k8s.io"

# The tutorial's bindings (DESIGN.md "RBAC"): binding -> (Group subject, ClusterRole).
EXPECTED_BINDINGS = {
    "kubelet-bootstrap": ("system:bootstrappers", "system:node-bootstrapper"),
    "auto-approve-csrs-for-group": (
        "system:bootstrappers",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
    ),
    "node-client-cert-renewal": (
        "system:nodes",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
    ),
    "node-server-cert-renewal": ("system:nodes", "approve-node-server-renewal-csr"),
}

SHARED_RESOURCES = {
    (PROVIDER, "cluster"),
    (RBAC, "bootstrap-rbac"),
    (CLUSTER_ROLE, "approve-node-server-renewal-csr"),
    *((BINDING, name) for name in EXPECTED_BINDINGS),
    (APPROVAL, "serving-csr-approval"),
    (VERIFICATION, "kubelet-api-verification"),
    (API_CHECK, "kubelet-api-verification-check"),
}


@pytest.fixture
def admin(ca_file: Path) -> str:
    """An admin kubeconfig of the stack's cluster (its server and CA), with a token to look for."""
    return admin_kubeconfig(ca_file.read_text())


@pytest.fixture(autouse=True)
def _no_ambient_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    """The program falls back to $KUBECONFIG; the tests must not depend on the machine's."""
    monkeypatch.delenv("KUBECONFIG", raising=False)


# --- helpers ----------------------------------------------------------------------------------


def node_names(count: int) -> list[str]:
    return [f"node-{i}" for i in range(count)]


def expected_node_resources(node: str) -> set[tuple[str, str]]:
    return {
        (TOKEN, node),
        (TOKEN_ISSUE, f"{node}-bootstrap-token"),
        (NODE, node),
        *(
            (COMMAND, f"{node}-{key}")
            for key in (*FILE_KEYS, "preflight", "prepare", "start-kubelet", "restart-kubelet")
        ),
        (REMOVAL, node),
        (DRAIN, f"{node}-drain"),
        (NODE_OBJECT, f"{node}-node-object"),
        (DRIFT, f"{node}-drift"),
    }


def type_names(recording: Recording) -> list[tuple[str, str]]:
    return [(r.type, r.name) for r in recording.resources]


def component(recording: Recording, type_: str, name: str) -> Registration:
    [match] = [r for r in recording.resources if r.type == type_ and r.name == name]
    return match


def deps(recording: Recording, name: str) -> set[str]:
    return set(recording.named(name).dependencies)


def urns(recording: Recording, *names: str) -> set[str]:
    return {recording.named(name).urn for name in names}


def rbac_urns(recording: Recording) -> set[str]:
    rbac = recording.named("bootstrap-rbac").urn
    return {r.urn for r in recording.resources if r.parent == rbac}


def owner(recording: Recording, registration: Registration) -> str | None:
    """The node a resource belongs to: a node's components, and whatever they parent."""
    by_urn = recording.by_urn()
    current: Registration | None = registration
    while current is not None:
        if current.type in (TOKEN, NODE, REMOVAL):
            return current.name
        current = by_urn.get(current.parent)
    return None


def dependency_closure(recording: Recording, start: Registration) -> set[str]:
    by_urn = recording.by_urn()
    seen: set[str] = set()
    pending = list(start.dependencies)
    while pending:
        urn = pending.pop()
        if urn not in seen:
            seen.add(urn)
            pending.extend(by_urn[urn].dependencies)
    return seen


def is_secret_path(registration: Registration, path: str) -> bool:
    """Whether `path` arrived marked secret itself or inside a value marked secret."""
    return any(
        path == marked or path.startswith(f"{marked}.") or path.startswith(f"{marked}[")
        for marked in registration.secret_paths
    )


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of an input tree with its dotted path, spelt like `secret_paths`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def canonical(recording: Recording) -> list[str]:
    """Each registration as sorted-key JSON, in a stable order (registration order is async)."""
    return sorted(
        json.dumps(
            [r.type, r.name, r.parent, sorted(r.dependencies), r.inputs, sorted(r.secret_paths)],
            sort_keys=True,
        )
        for r in recording.resources
    )


def installed_path(command: Registration) -> str:
    match = re.search(r"^dest='([^']+)'$", command.inputs["create"], re.MULTILINE)
    assert match, f"{command.name} does not install a file"
    return match.group(1)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sensitive_texts(recording: Recording, ssh_key: str) -> list[str]:
    """The token secrets the engine generated, the SSH key, and each line of its body."""
    key_lines = [line for line in ssh_key.splitlines() if len(line) > 20 and "-----" not in line]
    assert recording.secret_values, "the engine generated no token secret to look for"
    return [*recording.secret_values, ssh_key, *key_lines]


@pytest.fixture(params=[1, 5], ids=["1-node", "5-nodes"])
def sized(request: pytest.FixtureRequest, config: Callable, run: Callable) -> tuple[int, Recording]:
    return request.param, run(config(nodes=request.param))


# --- which resources exist --------------------------------------------------------------------


def test_exactly_the_expected_resources_per_node_and_per_stack(
    sized: tuple[int, Recording],
) -> None:
    count, recording = sized
    expected = set(SHARED_RESOURCES)
    for node in node_names(count):
        expected |= expected_node_resources(node)
    registered = type_names(recording)
    assert len(registered) == len(set(registered)), "a resource was registered twice"
    assert set(registered) == expected


def test_resource_counts_scale_exactly_with_nodes(config: Callable, run: Callable) -> None:
    counts = {n: len(run(config(nodes=n)).resources) for n in (1, 2, 5)}
    per_node = len(expected_node_resources("n"))
    assert per_node == 15
    assert counts == {n: len(SHARED_RESOURCES) + per_node * n for n in (1, 2, 5)}
    by_type = {
        n: {t: len(run(config(nodes=n)).of_type(t)) for t in (COMMAND, TOKEN_ISSUE, BINDING, RBAC)}
        for n in (1, 5)
    }
    assert by_type[1] == {COMMAND: 8, TOKEN_ISSUE: 1, BINDING: 4, RBAC: 1}
    assert by_type[5] == {COMMAND: 40, TOKEN_ISSUE: 5, BINDING: 4, RBAC: 1}


def test_rbac_matches_the_tutorial(config: Callable, run: Callable) -> None:
    recording = run(config(nodes=2))
    role = recording.named("approve-node-server-renewal-csr")
    assert role.inputs["metadata"]["name"] == "approve-node-server-renewal-csr"
    assert role.inputs["rules"] == [
        {
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["certificatesigningrequests/selfnodeserver"],
            "verbs": ["create"],
        }
    ]
    for name, (group, cluster_role) in EXPECTED_BINDINGS.items():
        binding = recording.named(name)
        assert binding.type == BINDING
        assert binding.inputs["metadata"]["name"] == name
        assert binding.inputs["roleRef"] == {
            "apiGroup": RBAC_API_GROUP,
            "kind": "ClusterRole",
            "name": cluster_role,
        }
        assert binding.inputs["subjects"] == [
            {"apiGroup": RBAC_API_GROUP, "kind": "Group", "name": group}
        ]
    # The binding of our own ClusterRole waits for it.
    assert role.urn in deps(recording, "node-server-cert-renewal")


def test_cluster_wide_rbac_is_kept_on_destroy_unless_a_setting_says_otherwise(
    config: Callable, run: Callable
) -> None:
    """Every kubelet of the cluster needs these objects to renew its certificates, whether or
    not this stack still manages it; only the RBAC is kept, the tokens are not."""
    rbac_objects = {"approve-node-server-renewal-csr", *EXPECTED_BINDINGS}
    kept = {r.name for r in run(config(nodes=2)).resources if r.retain_on_delete}
    assert kept == rbac_objects
    deleting = run(config(nodes=2, rbac={"deleteOnDestroy": True}))
    assert not [r.name for r in deleting.resources if r.retain_on_delete]


def test_existing_objects_are_taken_over_only_when_a_setting_says_so(
    config: Callable, run: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pulumi-kubernetes 4.29+ refuses to create an object that exists, unless its provider
    upserts; the stack says which, so an ambient PULUMI_K8S_UPSERT_EXISTING_OBJECTS cannot."""
    monkeypatch.setenv("PULUMI_K8S_UPSERT_EXISTING_OBJECTS", "true")
    default = run(config(nodes=1)).named("cluster")
    adopting = run(config(nodes=1, rbac={"adoptExisting": True})).named("cluster")
    assert default.inputs["upsertExistingObjects"] in (False, "false")
    assert adopting.inputs["upsertExistingObjects"] in (True, "true")


# --- parents ----------------------------------------------------------------------------------


def test_every_child_is_parented_to_its_component(sized: tuple[int, Recording]) -> None:
    count, recording = sized
    stack_children = {
        (r.type, r.name) for r in recording.resources if r.parent.split("::")[2] == STACK_TYPE
    }
    assert stack_children == {
        (PROVIDER, "cluster"),
        (RBAC, "bootstrap-rbac"),
        (APPROVAL, "serving-csr-approval"),
        (VERIFICATION, "kubelet-api-verification"),
    } | {(kind, node) for node in node_names(count) for kind in (TOKEN, NODE, REMOVAL)}
    rbac = component(recording, RBAC, "bootstrap-rbac")
    for registration in recording.of_type(CLUSTER_ROLE) + recording.of_type(BINDING):
        assert registration.parent == rbac.urn, registration.name
    verification = component(recording, VERIFICATION, "kubelet-api-verification")
    assert recording.named("kubelet-api-verification-check").parent == verification.urn
    for node in node_names(count):
        token = component(recording, TOKEN, node)
        assert recording.named(f"{node}-bootstrap-token").parent == token.urn
        kubelet = component(recording, NODE, node)
        for key in (*FILE_KEYS, "preflight", "prepare", "start-kubelet"):
            assert recording.named(f"{node}-{key}").parent == kubelet.urn, key
        removal = component(recording, REMOVAL, node)
        for suffix in ("drain", "node-object"):
            assert recording.named(f"{node}-{suffix}").parent == removal.urn, suffix


# --- dependency edges -------------------------------------------------------------------------


def test_start_waits_for_files_preparation_token_and_rbac(sized: tuple[int, Recording]) -> None:
    count, recording = sized
    for node in node_names(count):
        start = deps(recording, f"{node}-start-kubelet")
        files = urns(recording, *(f"{node}-{key}" for key in FILE_KEYS))
        assert files <= start
        assert urns(recording, f"{node}-prepare", f"{node}-bootstrap-token") <= start
        assert len(rbac_urns(recording)) == 5
        assert rbac_urns(recording) <= start


def test_bootstrap_kubeconfig_waits_for_the_token_it_carries(
    sized: tuple[int, Recording],
) -> None:
    count, recording = sized
    for node in node_names(count):
        assert urns(recording, f"{node}-bootstrap-token") <= deps(
            recording, f"{node}-bootstrap-kubeconfig"
        )


def test_no_node_depends_on_another_node_even_transitively(config: Callable, run: Callable) -> None:
    recording = run(config(nodes=5))
    by_urn = recording.by_urn()
    checked = 0
    for registration in recording.resources:
        mine = owner(recording, registration)
        if mine is None:
            continue
        direct = {owner(recording, by_urn[urn]) for urn in registration.dependencies}
        closure = {
            owner(recording, by_urn[urn]) for urn in dependency_closure(recording, registration)
        }
        assert direct <= {mine, None}, registration.name
        assert closure <= {mine, None}, registration.name
        checked += 1
    assert checked == 5 * 15


# --- secrets ----------------------------------------------------------------------------------


def test_token_secret_and_bootstrap_kubeconfig_are_secret(sized: tuple[int, Recording]) -> None:
    count, recording = sized
    for node in node_names(count):
        issue = recording.named(f"{node}-bootstrap-token")
        # Made by the provider, so the engine encrypts it as an output.
        assert issue.additional_secret_outputs == ["token_secret"]
        bootstrap = recording.named(f"{node}-bootstrap-kubeconfig")
        assert is_secret_path(bootstrap, "stdin")
        # Its sha256, printed by the install script, is derived from the token: not logged.
        assert "stdout" in bootstrap.additional_secret_outputs
        assert bootstrap.inputs["logging"] == "stderr"
        ca = recording.named(f"{node}-ca")
        assert "stdout" not in ca.additional_secret_outputs
        assert ca.inputs["logging"] == "stdoutAndStderr"
        assert issue.outputs["token_secret"] in bootstrap.inputs["stdin"]


@pytest.mark.parametrize("source", ["privateKey", "privateKeyFile"])
def test_ssh_private_key_is_secret_on_every_command(
    source: str, config: Callable, run: Callable, ssh_key: str, tmp_path: Path
) -> None:
    ssh: dict[str, Any] = {"user": "root", "bastion": {"host": "10.0.9.9", "hostKey": HOST_KEY}}
    if source == "privateKey":
        ssh["privateKey"] = ssh_key
    else:
        (tmp_path / "id_ed25519").write_text(ssh_key)
        ssh["privateKeyFile"] = str(tmp_path / "id_ed25519")
    recording = run(config(nodes=2, ssh=ssh))
    commands = recording.of_type(COMMAND)
    assert len(commands) == 16
    for command in commands:
        connection = command.inputs["connection"]
        assert connection["privateKey"] == ssh_key
        assert is_secret_path(command, "connection.privateKey"), command.name
        assert connection["proxy"]["privateKey"] == ssh_key
        assert is_secret_path(command, "connection.proxy.privateKey"), command.name


def test_provider_kubeconfig_is_secret_when_configured(
    config: Callable, run: Callable, admin: str
) -> None:
    recording = run(config(nodes=1, kubeconfig=admin))
    provider = recording.named("cluster")
    assert provider.type == PROVIDER
    assert provider.inputs["kubeconfig"] == admin
    assert is_secret_path(provider, "kubeconfig")


@pytest.mark.parametrize("where", ["setting", "environment"])
def test_a_kubeconfig_file_reaches_the_provider_as_its_path_and_no_credential_is_recorded(
    config: Callable,
    run: Callable,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    admin: str,
    where: str,
) -> None:
    """The kubernetes provider reads the file when configured: a rotated file is what every
    later command uses, and no input anywhere holds the credential."""
    path = tmp_path / "admin.kubeconfig"
    path.write_text(admin)
    if where == "environment":
        monkeypatch.setenv("KUBECONFIG", str(path))
    recording = run(config(nodes=1, kubeconfig=str(path) if where == "setting" else None))

    assert recording.named("cluster").inputs["kubeconfig"] == str(path)
    assert not [
        (registration.name, key)
        for registration in recording.resources
        for key, value in leaves(registration.inputs)
        if isinstance(value, str) and ADMIN_TOKEN in value
    ]


def test_without_any_kubeconfig_the_program_registers_nothing(
    config: Callable, run: Callable
) -> None:
    recording = Recording()
    with pytest.raises(pulumi.RunError, match=r"kubeconfig: is required \(or \$KUBECONFIG\)"):
        run_program(config(nodes=1, kubeconfig=None), "test", recording=recording)
    assert recording.resources == []


# --- serving CSR approval and verification -----------------------------------------------------


def test_approval_waits_for_every_kubelet_start_and_restart(
    config: Callable, run: Callable
) -> None:
    recording = run(config(nodes=3))
    approval = recording.named("serving-csr-approval")
    assert set(approval.dependencies) == urns(
        recording, *(f"{n}-restart-kubelet" for n in node_names(3))
    )
    for node in node_names(3):
        assert urns(recording, f"{node}-start-kubelet") <= deps(
            recording, f"{node}-restart-kubelet"
        )


def test_approval_is_told_each_nodes_identity_kubelet_and_files(
    config: Callable, run: Callable, ca_file: Path, admin: str
) -> None:
    nodes = [
        {"name": "node-0", "address": "10.0.0.1", "extraSANs": ["node-0.example.com", "192.0.2.9"]},
        {"name": "node-1", "address": "10.0.0.2"},
    ]
    recording = run(config(nodes=nodes, kubeconfig=admin))
    approval = recording.named("serving-csr-approval")
    entries = approval.inputs["nodes"]
    assert [{k: v for k, v in e.items() if k != "kubelet_files"} for e in entries] == [
        {
            "name": "node-0",
            "ips": ["10.0.0.1", "192.0.2.9"],
            "dns_names": ["node-0", "node-0.example.com"],
            "address": "10.0.0.1",
            "port": 10250,
        },
        {
            "name": "node-1",
            "ips": ["10.0.0.2"],
            "dns_names": ["node-1"],
            "address": "10.0.0.2",
            "port": 10250,
        },
    ]
    # What the kubelet restarts for: a change of any of them restarts it, and approval knows.
    for entry in entries:
        exported = recording.stack_outputs["nodes"][entry["name"]]["filesSha256"]
        assert entry["kubelet_files"] == exported
    assert approval.inputs["ca_pem"] == ca_file.read_text()
    assert approval.inputs["timeout_seconds"] == 900


def test_approval_sees_a_kubelet_restart_but_not_a_new_token(
    config: Callable, run: Callable
) -> None:
    def kubelet_files(recording: Recording) -> list[Any]:
        return [e["kubelet_files"] for e in recording.named("serving-csr-approval").inputs["nodes"]]

    settings = config(nodes=2)
    default, other_tokens = run(settings, stack="a"), run(settings, stack="b")
    restarted = run(config(nodes=2, kubelet={"maxPods": 110}))
    assert kubelet_files(default) == kubelet_files(other_tokens)
    assert all(
        before != after
        for before, after in zip(kubelet_files(default), kubelet_files(restarted), strict=True)
    )


def test_verification_runs_after_approval_and_leaves_no_identity_in_the_cluster(
    config: Callable, run: Callable, admin: str
) -> None:
    """The tutorial's kubelet-api-test ServiceAccount, bound to system:kubelet-api-admin for
    good, is not registered: the check makes its own identity and removes it."""
    recording = run(config(nodes=2, kubeconfig=admin))
    check = recording.named("kubelet-api-verification-check")
    assert check.dependencies == [recording.named("serving-csr-approval").urn]
    assert check.inputs["nodes"] == [
        {"name": "node-0", "address": "10.0.0.1", "port": 10250},
        {"name": "node-1", "address": "10.0.0.2", "port": 10250},
    ]
    assert "service_account" not in check.inputs
    assert check.inputs["identity"] == identity_name("test")
    assert recording.of_type(SERVICE_ACCOUNT) == []
    assert {b.inputs["roleRef"]["name"] for b in recording.of_type(BINDING)} == {
        cluster_role for _, cluster_role in EXPECTED_BINDINGS.values()
    }


def test_verification_can_be_turned_off(config: Callable, run: Callable) -> None:
    recording = run(config(nodes=1, verification={"enabled": False}))
    assert not [r for r in recording.resources if "kubelet-api" in r.name]
    assert recording.named("serving-csr-approval")


def test_only_the_kubernetes_provider_holds_the_admin_credential(
    config: Callable, run: Callable, admin: str
) -> None:
    """The dynamic providers read it from the configuration when they act (`admin_provider`):
    a rotated credential is the one refresh, removal and destroy use, and no state holds it."""
    nodes = node_list(2)
    nodes[0]["labels"] = {"gpu": "true"}  # so that a NodeMetadata is registered too
    recording = run(config(nodes=nodes, kubeconfig=admin))
    holders = {
        registration.name
        for registration in recording.resources
        for _, value in leaves(registration.inputs)
        if isinstance(value, str) and ADMIN_TOKEN in value
    }
    assert holders == {"cluster"}
    assert recording.named("node-0-metadata").inputs["labels"] == {"gpu": "true"}


def test_secrets_appear_only_under_secret_paths_and_never_in_scripts(
    config: Callable, run: Callable, ssh_key: str, admin: str
) -> None:
    recording = run(config(nodes=3, kubeconfig=admin))
    texts = [*sensitive_texts(recording, ssh_key), ADMIN_TOKEN]
    found = 0
    for registration in recording.resources:
        for path, value in leaves(registration.inputs):
            if not isinstance(value, str):
                continue
            for text in texts:
                if text in value:
                    found += 1
                    assert is_secret_path(registration, path), (registration.name, path)
                    assert path not in ("create", "update", "delete"), (registration.name, path)
    # Each node: its Secret and its bootstrap kubeconfig hold the token, six commands the key.
    assert found >= 3 * (2 + 6)
    for command in recording.of_type(COMMAND):
        for field in ("create", "update", "delete"):
            script = command.inputs.get(field, "")
            assert not any(text in script for text in texts), (command.name, field)


def test_stack_outputs_hold_secrets_only_in_secret_outputs(
    config: Callable, run: Callable, ssh_key: str
) -> None:
    recording = run(config(nodes=2))
    texts = sensitive_texts(recording, ssh_key)
    for name, value in recording.stack_outputs.items():
        if name in recording.stack_output_secrets:
            continue
        dumped = json.dumps(value)
        assert not any(text in dumped for text in texts), name


# --- the bootstrap token Secret ---------------------------------------------------------------


@pytest.mark.parametrize(("ttl", "seconds"), [(None, 24 * 3600), ("90m", 90 * 60)])
def test_each_node_gets_a_token_issue_of_its_own(
    ttl: str | None, seconds: int, config: Callable, run: Callable
) -> None:
    """What the Secret holds is the provider's work (tests/test_token_issue.py); the program
    tells it the node, its group and the ttl, and replaces it only when it must."""
    overrides = {"bootstrapToken": {"ttl": ttl}} if ttl else {}
    recording = run(config(nodes=2, **overrides))
    token_ids = set()
    for node in node_names(2):
        issue = recording.named(f"{node}-bootstrap-token")
        assert issue.inputs["node_name"] == node
        assert issue.inputs["extra_group"] == f"system:bootstrappers:{node}"
        assert issue.inputs["ttl_seconds"] == seconds
        assert issue.outputs["secret_name"] == f"bootstrap-token-{issue.outputs['token_id']}"
        token_ids.add(issue.outputs["token_id"])
    assert len(token_ids) == 2


# How the API server checks each `auth-extra-groups` entry; one mismatch and the whole token
# fails to authenticate (401), so the kubelet never joins.
AUTH_EXTRA_GROUP = re.compile(r"\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\Z")


def test_dotted_node_names_get_a_group_the_api_server_accepts(
    config: Callable, run: Callable
) -> None:
    names = ["ip-10-0-0-1.ec2.internal", "ip-10-0-0-1-ec2-internal", "node-1", "a.b-c", "a-b.c"]
    nodes = [{"name": name, "address": f"10.0.0.{i + 1}"} for i, name in enumerate(names)]
    recording = run(config(nodes=nodes))
    groups = {
        name: recording.named(f"{name}-bootstrap-token").inputs["extra_group"] for name in names
    }
    assert all(AUTH_EXTRA_GROUP.match(group) for group in groups.values()), groups
    assert len(set(groups.values())) == len(names)
    # Where the tutorial's `system:bootstrappers:<node>` is valid, it is what the node gets.
    assert groups["node-1"] == "system:bootstrappers:node-1"
    assert groups["ip-10-0-0-1-ec2-internal"] == "system:bootstrappers:ip-10-0-0-1-ec2-internal"


NODE_NAMES = (
    st.lists(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True), min_size=1)
    .map(".".join)
    .filter(lambda name: len(name) <= 63)
)


@example(names=["a.b", "a-b"])
@given(names=st.lists(NODE_NAMES, min_size=2, max_size=2, unique=True))
def test_distinct_node_names_get_distinct_valid_groups(names: list[str]) -> None:
    first, second = (bootstrap_group(name) for name in names)
    assert AUTH_EXTRA_GROUP.match(first), first
    assert first != second


# --- stability and change propagation ---------------------------------------------------------


def test_two_runs_with_the_same_settings_are_byte_identical(
    config: Callable, run: Callable
) -> None:
    settings = config(nodes=3)
    first, second = run(settings), run(settings)
    # `__provider` of the dynamic TokenIssue is compared too: dill pickles the provider by
    # reference (module and class name, no state), so it is the same bytes in every run.
    provider = first.named("node-0-bootstrap-token").inputs["__provider"]
    assert b"components.token_issue" in base64.b64decode(provider)
    assert canonical(first) == canonical(second)
    assert json.dumps(first.stack_outputs, sort_keys=True) == json.dumps(
        second.stack_outputs, sort_keys=True
    )


def test_a_config_change_changes_the_restart_and_not_the_start(
    config: Callable, run: Callable
) -> None:
    """Preview shows a `~ restart-kubelet` for each kubelet that restarts; its start, which
    would restart it outside its rollout batch, does not change."""
    default = run(config(nodes=1))
    changed = run(config(nodes=1, kubelet={"maxPods": 110}))
    assert yaml.safe_load(changed.named("node-0-kubelet-config").inputs["stdin"])["maxPods"] == 110
    restart, start = "node-0-restart-kubelet", "node-0-start-kubelet"
    assert default.named(restart).inputs["update"] != changed.named(restart).inputs["update"]
    assert default.named(start).inputs == changed.named(start).inputs


def test_a_connection_change_changes_nothing_but_the_connection(
    config: Callable, run: Callable
) -> None:
    """What preview shows for a new key, port, host key or bastion: each command's connection
    changes (it runs again), its scripts and stdin do not, so no start names a new file."""
    ssh = {
        "privateKey": make_ssh_key(),
        "port": 2222,
        "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAnew",
        "bastion": {"host": "10.0.9.9", "hostKey": HOST_KEY},
    }
    before, after = run(config(nodes=2)), run(config(nodes=2, ssh=ssh))
    for command in before.of_type(COMMAND):
        changed = after.named(command.name)
        assert changed.inputs["connection"] != command.inputs["connection"], command.name
        unchanged = {k: v for k, v in command.inputs.items() if k != "connection"}
        assert {k: v for k, v in changed.inputs.items() if k != "connection"} == unchanged


def test_a_new_token_changes_the_start_and_not_the_restart(config: Callable, run: Callable) -> None:
    """A new token runs the start again (a kubelet still bootstrapping must read it); the
    restart, which would restart every kubelet, does not change."""
    settings = config(nodes=1)
    a, b = run(settings, stack="a"), run(settings, stack="b")
    bootstrap = "node-0-bootstrap-kubeconfig"
    assert a.secret_values != b.secret_values
    assert a.named(bootstrap).inputs["stdin"] != b.named(bootstrap).inputs["stdin"]
    restart = "node-0-restart-kubelet"
    assert a.named(restart).inputs == b.named(restart).inputs


def test_file_commands_carry_content_in_stdin_never_in_create(
    config: Callable, run: Callable, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(make_certificate(ca=True, common_name="other-ca"))
    default = run(config(nodes=1))
    kubelet = {"maxPods": 110, "verbosity": 4}
    changed = run(
        config(
            nodes=1,
            caCertFile=str(other_ca),
            kubeconfig=admin_kubeconfig(other_ca.read_text()),
            kubelet=kubelet,
        )
    )
    for key in FILE_KEYS:
        name = f"node-0-{key}"
        before, after = default.named(name), changed.named(name)
        # New content, same script: the content only ever travels as stdin.
        assert before.inputs["stdin"] != after.inputs["stdin"], name
        assert before.inputs["create"] == after.inputs["create"], name
        assert before.inputs["delete"] == after.inputs["delete"], name
        content_lines = [
            line
            for line in before.inputs["stdin"].splitlines()
            if len(line) > 16 and not line.startswith("#")
        ]
        assert content_lines, name
        assert not any(line in before.inputs["create"] for line in content_lines), name


# --- stack outputs ----------------------------------------------------------------------------


def test_stack_outputs(config: Callable, run: Callable) -> None:
    recording = run(config(nodes=3))
    outputs = recording.stack_outputs
    assert set(outputs) == {
        "nodes",
        "bootstrapKubeconfigSha256",
        "rbac",
        "rolloutBatches",
        "decommissioned",
        "renewalApprover",
    }
    assert outputs["rolloutBatches"] == [node_names(3)]
    assert outputs["decommissioned"] == []
    assert recording.stack_output_secrets == {"bootstrapKubeconfigSha256"}
    assert "nodes" not in recording.stack_output_secrets
    assert set(outputs["nodes"]) == set(node_names(3))
    for index, node in enumerate(node_names(3)):
        exported = outputs["nodes"][node]
        issue = recording.named(f"{node}-bootstrap-token")
        assert exported["tokenId"] == issue.outputs["token_id"]
        assert exported["kubeletEndpoint"] == f"https://10.0.0.{index + 1}:10250"
        installed = {
            installed_path(recording.named(f"{node}-{key}")): recording.named(f"{node}-{key}")
            for key in ("ca", "kubelet-config", "kubelet-unit")
        }
        assert (
            set(exported["filesSha256"])
            == set(installed)
            == {
                "/etc/kubernetes/cert/ca.pem",
                "/etc/kubernetes/kubelet-config.yaml",
                "/etc/systemd/system/kubelet.service",
            }
        )
        for path, command in installed.items():
            assert exported["filesSha256"][path] == sha256(command.inputs["stdin"]), path
        bootstrap = recording.named(f"{node}-bootstrap-kubeconfig").inputs["stdin"]
        assert outputs["bootstrapKubeconfigSha256"][node] == sha256(bootstrap)
    assert outputs["rbac"] == {
        "clusterRoles": ["approve-node-server-renewal-csr"],
        "clusterRoleBindings": list(EXPECTED_BINDINGS),
    }


def test_each_node_is_reached_with_its_own_host_key(config: Callable, run: Callable) -> None:
    shared, own = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAshared",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAown",
    )
    nodes = [
        {"name": "node-0", "address": "10.0.0.1", "hostKey": own},
        {"name": "node-1", "address": "10.0.0.2"},
    ]
    ssh = {"privateKey": make_ssh_key(), "hostKey": shared}
    recording = run(config(nodes=nodes, ssh=ssh))
    assert recording.named("node-0-prepare").inputs["connection"]["hostKey"] == own
    assert recording.named("node-1-prepare").inputs["connection"]["hostKey"] == shared


# --- how commands run on a node ---------------------------------------------------------------


def scripts(command: Registration) -> dict[str, str]:
    return {
        field: command.inputs[field]
        for field in ("create", "update", "delete")
        if field in command.inputs
    }


def test_no_command_gets_its_previous_output_in_its_environment(
    config: Callable, run: Callable
) -> None:
    """pulumi-command sets PULUMI_COMMAND_STDOUT/STDERR over SSH by default; sshd refuses them
    unless AcceptEnv allows, and the provider warns on every update."""
    commands = run(config(nodes=2)).of_type(COMMAND)
    assert len(commands) == 16
    for command in commands:
        assert command.inputs.get("addPreviousOutputInEnv") is False, command.name


def test_with_become_sudo_every_script_runs_through_sudo_and_contents_stay_in_stdin(
    config: Callable, run: Callable, ssh_key: str
) -> None:
    as_root = run(config(nodes=1))
    with_sudo = run(
        config(nodes=1, ssh={"user": "ubuntu", "privateKey": ssh_key, "become": "sudo"})
    )
    commands = with_sudo.of_type(COMMAND)
    assert len(commands) == 8
    for command in commands:
        plain = as_root.named(command.name)
        assert command.inputs["connection"]["user"] == "ubuntu"
        assert command.inputs.get("stdin") == plain.inputs.get("stdin"), command.name
        assert set(scripts(command)) == set(scripts(plain)), command.name
        for field, script in scripts(command).items():
            # One non-interactive sudo running the very script root would run, word for word.
            head, _, rest = script.partition("\n")
            assert head == "sudo -n sh -c \"$(cat <<'KUBELET_BOOTSTRAP_SCRIPT'", command.name
            assert rest == f'{scripts(plain)[field]}\nKUBELET_BOOTSTRAP_SCRIPT\n)"', field


def test_each_command_claims_what_it_writes_or_starts_under_its_own_name(
    config: Callable, run: Callable
) -> None:
    """The node's records of who holds a file or the kubelet name the command: a renamed
    node's new commands hold them apart from the old ones, whose deletes run last."""
    recording = run(config(nodes=2))
    for node in node_names(2):
        for key in (*FILE_KEYS, "start-kubelet"):
            command = recording.named(f"{node}-{key}")
            for field in ("create", "update", "delete"):
                assert f"owner='{command.name}'\n" in command.inputs[field], (command.name, field)
        assert "update" not in recording.named(f"{node}-prepare").inputs
        assert "delete" not in recording.named(f"{node}-prepare").inputs
