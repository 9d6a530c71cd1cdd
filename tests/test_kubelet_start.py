"""The kubelet's start and restart scripts and their health gate, run with `sh` on a node root.

The gate passes a kubelet only when it answers healthz, holds a client certificate of its own
node that is valid now and chains to the cluster CA (read with the real openssl), and its
process stays the same through the settle window; anything else fails with one message that
names the node and the cause, and records nothing as healthy.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.node import rendering
from components.settings.loading import load_settings
from components.settings.model import Settings
from tests.factories import CLUSTER_CA, HOST_KEY, ClusterCa, admin_kubeconfig
from tests.node_root import (
    NodeRoot,
    kubelet_scripts,
    path_without,
    restart_script,
    start_on,
    start_script,
    ticking,
)
from tests.test_artifacts import shellcheck

API_SERVER = "https://10.0.0.10:6443"
BuildSettings = Callable[..., Settings]
STARTED = "var/lib/kubelet-bootstrap/started/kubelet.service"

CONTAINER_MANAGER_ERROR = (
    'E1207 03:19:04.512331    8121 kubelet.go:1707] "Failed to start ContainerManager" '
    'err="invalid kernel flag: vm/overcommit_memory, expected value: 1, actual value: 0"'
)
UNAUTHORIZED = (
    "E1207 03:19:02.100200    8121 certificate_manager.go:596] "
    '"Failed while requesting a signed certificate from the control plane" '
    'err="cannot create certificate signing request: Unauthorized" logger="kubelet-client"'
)


@pytest.fixture
def build(tmp_path: Path, ssh_key: str) -> BuildSettings:
    """`build(kubelet={...}, ca=...)`: the settings of one node, node-0, for a cluster CA."""

    def make(kubelet: dict[str, Any] | None = None, ca: ClusterCa = CLUSTER_CA) -> Settings:
        ca_path = tmp_path / "ca" / f"{id(ca)}.pem"
        ca_path.parent.mkdir(exist_ok=True)
        ca_path.write_text(ca.pem)
        raw: dict[str, Any] = {
            "apiServer": API_SERVER,
            "caCertFile": str(ca_path),
            "kubeconfig": admin_kubeconfig(ca.pem),
            "ssh": {"privateKey": ssh_key, "hostKey": HOST_KEY},
            "cluster": {"dnsServiceIP": "10.254.0.2"},
            "nodes": [{"name": "node-0", "address": "10.0.0.1"}],
            **({"kubelet": kubelet} if kubelet is not None else {}),
        }
        return load_settings(raw, environ={})

    return make


def journal(*lines: str) -> str:
    """A journalctl stub that prints `lines`."""
    return "printf '%s\\n' " + " ".join(f"'{line}'" for line in lines)


def after_calls(counter: Path, count: int, action: str) -> str:
    """A curl stub body: runs `action` from its `count`th call on, and answers ok."""
    return (
        f'echo x >> {counter}; [ "$(wc -l < {counter})" -lt {count} ] || {{ {action}; }}; printf ok'
    )


def recorded(node: NodeRoot) -> bool:
    """Whether the kubelet was recorded as started healthy."""
    return (node.root / STARTED).exists()


# --- the gate ---------------------------------------------------------------------------------


def test_start_waits_for_the_client_certificate_not_only_healthz(
    tmp_path: Path, build: BuildSettings
) -> None:
    """healthz answers ok while TLS bootstrap still fails: the client certificate, here issued
    at the third health check, is the sign that it worked."""
    node = NodeRoot(tmp_path / "node")
    node.stub(curl=after_calls(tmp_path / "curl.calls", 3, node.bootstrap_command()))

    result = start_on(node, build())

    assert result.returncode == 0, result.stderr
    assert "is healthy" in result.stdout
    assert recorded(node)


@pytest.mark.parametrize(
    ("certificate", "says"),
    [
        (None, "it has no client certificate ({cert})"),
        (
            lambda: CLUSTER_CA.kubelet_client_pem("node-9"),
            "its client certificate {cert} names system:node:node-9, not system:node:node-0",
        ),
        (
            lambda: ClusterCa("another-ca").kubelet_client_pem("node-0"),
            "is not valid now or not signed by the cluster CA",
        ),
        (
            lambda: CLUSTER_CA.kubelet_client_pem(
                "node-0",
                valid_from=datetime.timedelta(days=-400),
                lifetime=datetime.timedelta(days=365),
            ),
            "its client certificate {cert} has expired",
        ),
        (
            lambda: CLUSTER_CA.kubelet_client_pem("node-0", valid_from=datetime.timedelta(days=1)),
            "certificate is not yet valid",
        ),
        (lambda: "not a certificate\n", "{cert} holds no certificate openssl can read"),
    ],
    ids=["none", "another-node", "another-ca", "expired", "not-yet-valid", "garbage"],
)
def test_a_kubelet_with_its_kubeconfig_but_no_good_client_certificate_fails_tls_bootstrap(
    tmp_path: Path, build: BuildSettings, certificate: Callable[[], str] | None, says: str
) -> None:
    """The kubelet writes its --kubeconfig at start-up, before it has a certificate: here it
    is there, healthz answers, and the kubelet gets `certificate` after it started; still the
    gate fails, saying why."""
    node = NodeRoot(tmp_path / "node", journalctl=journal(UNAUTHORIZED))
    node.kubeconfig.write_text("kind: Config\n")
    if certificate is not None:
        node.stub(curl=f"{node.issue_command(certificate())}; printf ok")

    result = start_on(node, build(kubelet={"healthzTimeoutSeconds": 10}))

    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("TLS bootstrap failed on node-0: after 10s "), first
    assert says.format(cert=node.client_certificate) in first
    assert "last lines of journalctl -u kubelet.service:" in result.stderr
    assert not recorded(node)


def test_a_tls_bootstrap_failure_names_the_kubelets_own_reason_and_the_likely_causes(
    tmp_path: Path, build: BuildSettings
) -> None:
    node = NodeRoot(tmp_path / "node", journalctl=journal(UNAUTHORIZED, "I1207 later, no error"))

    result = start_on(node, build(kubelet={"healthzTimeoutSeconds": 10}))

    assert result.returncode == 1
    assert (
        'its last error: "Failed while requesting a signed certificate from the control plane" '
        'err="cannot create certificate signing request: Unauthorized" logger="kubelet-client"'
    ) in result.stderr
    for cause in (
        f"{node.root}/etc/kubernetes/kubelet-bootstrap.kubeconfig",
        "bootstrap token expired or rejected (401)",
        "bootstrap RBAC missing",
        "client CSR denied",
        f"{API_SERVER} unreachable from node-0",
    ):
        assert cause in result.stderr, cause


def test_a_kubelet_that_never_answers_healthz_fails_saying_so(
    tmp_path: Path, build: BuildSettings
) -> None:
    node = NodeRoot(tmp_path / "node", curl="exit 7", date=ticking(tmp_path / "clock", 100))
    node.bootstrapped()

    result = start_on(node, build(kubelet={"healthzTimeoutSeconds": 10}))

    assert result.returncode == 1
    assert result.stderr.startswith(
        "the kubelet on node-0 did not answer healthz (127.0.0.1:10248) within 10s.\n"
    )
    assert not recorded(node)


@pytest.mark.parametrize("crash_at", [2, 6], ids=["before-its-certificate", "while-it-settles"])
def test_a_kubelet_that_answers_healthz_and_then_crashes_fails_its_gate(
    tmp_path: Path, build: BuildSettings, crash_at: int
) -> None:
    """systemd restarts a kubelet that exited (Restart=always): a new main pid. Here it has
    its certificate from the fourth health check, and crashes at check `crash_at`; the clock
    moves a second a check."""
    node = NodeRoot(
        tmp_path / "node",
        journalctl=journal(CONTAINER_MANAGER_ERROR),
        date=ticking(tmp_path / "clock", 1),
    )
    calls = tmp_path / "curl.calls"
    node.stub(
        curl=(
            f'echo x >> {calls}; n=$(wc -l < {calls}); [ "$n" -ne 4 ] || {{ '
            f'{node.bootstrap_command()}; }}; [ "$n" -lt {crash_at} ] || echo 4243 > '
            f"{node.main_pid}; printf ok"
        )
    )

    result = start_on(node, build())

    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(
        "the kubelet on node-0 crashed after it was started: its process 4242 exited"
    )
    assert "(MainPID now 4243, NRestarts 0)" in first
    assert 'its last error: "Failed to start ContainerManager"' in result.stderr
    assert not recorded(node)


def test_the_settle_window_is_what_catches_a_crash_after_the_certificate(
    tmp_path: Path, build: BuildSettings
) -> None:
    """The same crash (at the sixth check, the certificate there from the start) passes a gate
    without a settle window: it is over before the kubelet dies. The clock moves a second a
    check."""
    node = NodeRoot(tmp_path / "node", date=ticking(tmp_path / "clock", 1))
    node.bootstrapped()
    node.stub(curl=after_calls(tmp_path / "curl.calls", 6, f"echo 4243 > {node.main_pid}"))

    passed = start_on(node, build(kubelet={"settleSeconds": 0}))
    node.main_pid.write_text("4242")
    (tmp_path / "curl.calls").unlink()
    node.sh(f"rm -f {node.root / STARTED}")
    failed = start_on(node, build(kubelet={"settleSeconds": 10}))

    assert passed.returncode == 0, passed.stderr
    assert failed.returncode == 1
    assert "crashed after it was started" in failed.stderr


def test_the_gate_waits_settle_seconds_after_the_kubelet_is_healthy(
    tmp_path: Path, build: BuildSettings
) -> None:
    """The clock moves a second a call; healthz and the certificate hold from the start."""
    node = NodeRoot(tmp_path / "node", date=ticking(tmp_path / "clock", 1))
    node.bootstrapped()
    calls = tmp_path / "curl.calls"
    node.stub(curl=f"echo x >> {calls}; printf ok")

    result = start_on(node, build(kubelet={"settleSeconds": 30}))

    assert result.returncode == 0, result.stderr
    # One date call before the loop and one an iteration: 30 s take 31 health checks.
    assert len(calls.read_text().splitlines()) == 31


def test_a_kubelet_not_running_right_after_its_start_fails(
    tmp_path: Path, build: BuildSettings
) -> None:
    node = NodeRoot(tmp_path / "node")
    node.bootstrapped()
    node.main_pid.write_text("0")

    result = start_on(node, build())

    assert result.returncode == 1
    assert result.stderr.startswith(
        "the kubelet on node-0 crashed after it was started: it was not running right after "
        "it was started (MainPID now 0"
    )


@pytest.mark.parametrize("tool", ["curl", "openssl"])
def test_the_gate_needs_curl_and_openssl_and_says_which_package(
    tmp_path: Path, build: BuildSettings, tool: str
) -> None:
    node = NodeRoot(tmp_path / "node")
    node.env["PATH"] = f"{node.root / 'stubs'}:{path_without(tool, tmp_path / 'bin')}"
    (node.root / "stubs" / tool).unlink(missing_ok=True)

    result = start_on(node, build())

    assert result.returncode == 1
    assert result.stderr == (
        f"{tool} is needed on node-0 to check the kubelet's health and client certificate "
        f"(Debian package {tool})\n"
    )
    assert node.restarts() == 0


# --- what a start or restart restarts ------------------------------------------------------------


def test_start_and_stop_scripts_use_the_units_own_name(
    tmp_path: Path, build: BuildSettings
) -> None:
    """A unit written as k8s-kubelet.service is enabled, restarted, logged and stopped as such.

    The start script runs until its health check times out (curl always fails, and the stub
    clock moves 100 s a call), so it reaches the journal too.
    """
    settings = build(
        kubelet={"unitFile": "/etc/systemd/system/k8s-kubelet.service", "healthzTimeoutSeconds": 10}
    )
    node = NodeRoot(tmp_path / "node", curl="exit 7", date=ticking(tmp_path / "clock", 100))

    started = start_on(node, settings)
    stopped = node.sh(kubelet_scripts(settings).delete)

    assert started.returncode == 1
    assert "journalctl -u k8s-kubelet.service" in started.stderr
    assert stopped.returncode == 0, stopped.stderr
    calls = node.calls()
    assert {word for call in calls for word in call.split() if ".service" in word} == {
        "k8s-kubelet.service"
    }
    for expected in ("enable", "restart", "-u", "disable"):
        assert any(expected in call.split() for call in calls), (expected, calls)


@pytest.mark.parametrize(("active", "starts"), [(0, 0), (3, 1)], ids=["running", "stopped"])
@pytest.mark.parametrize(
    ("again", "says"),
    [
        (lambda s: kubelet_scripts(s).create, "started with these files already; not restarted"),
        (lambda s: kubelet_scripts(s).update, "started by this stack already"),
        (restart_script, "started with these files already; not restarted"),
    ],
    ids=["start-created-again", "start-updated", "restart-updated"],
)
def test_a_start_or_restart_run_again_with_the_same_files_only_starts_a_stopped_kubelet(
    tmp_path: Path,
    build: BuildSettings,
    active: int,
    starts: int,
    again: Callable[[Settings], str],
    says: str,
) -> None:
    settings = build()
    node = NodeRoot(tmp_path / "node")
    node.bootstrapped()
    assert start_on(node, settings).returncode == 0
    node.stub(systemctl=node.systemctl(f'[ "$1" != is-active ] || exit {active}'))

    result = node.sh(again(settings))

    assert result.returncode == 0, result.stderr
    assert says in result.stdout
    assert node.restarts() == 1
    assert node.calls().count("systemctl start kubelet.service") == starts


def test_restart_leaves_the_kubelet_alone_when_a_file_was_changed_on_the_node(
    tmp_path: Path, build: BuildSettings
) -> None:
    settings = build()
    node = NodeRoot(tmp_path / "node")
    node.bootstrapped()
    assert start_on(node, settings).returncode == 0
    config = Path(node.moved(settings.kubelet.config_file))
    config.write_text(config.read_text() + "maxPods: 7\n")

    result = node.sh(restart_script(settings))

    assert result.returncode == 1
    assert f"{config} on node-0 is not what the stack wrote" in result.stderr
    assert node.restarts() == 1


@pytest.mark.parametrize(
    ("has_certificate", "restarts"), [(True, 1), (False, 2)], ids=["joined", "bootstrapping"]
)
def test_a_new_bootstrap_token_restarts_only_a_kubelet_without_its_client_certificate(
    tmp_path: Path, build: BuildSettings, has_certificate: bool, restarts: int
) -> None:
    """A re-issued token runs the start again with the same files: a kubelet that lost its
    client certificate is restarted, so that it reads the new bootstrap kubeconfig; a kubelet
    with its certificate has no use for it and keeps running. Judged by the certificate: the
    kubeconfig, which the kubelet writes at start-up, stays there all along."""
    settings = build()
    node = NodeRoot(tmp_path / "node")
    node.bootstrapped()
    assert start_on(node, settings).returncode == 0
    if not has_certificate:
        node.client_certificate.unlink()
        node.stub(
            curl=f"[ -s {node.client_certificate} ] || {{ {node.bootstrap_command()}; }}; printf ok"
        )
    files = rendering.node_files(settings, settings.nodes[0])
    again = rendering.kubelet_scripts(
        settings, settings.nodes[0], files, "node-0-start-kubelet", bootstrap_token_id="k2j9xq"
    )

    result = node.sh(again.update)

    assert result.returncode == 0, result.stderr
    assert node.restarts() == restarts
    if not has_certificate:
        assert f"it has no client certificate ({node.client_certificate})" in result.stdout
        assert "(token k2j9xq)" in result.stdout


@pytest.mark.parametrize("remove", [True, False], ids=["removed", "kept"])
def test_the_bootstrap_kubeconfig_is_removed_once_the_kubelet_has_its_certificate_if_asked(
    tmp_path: Path, build: BuildSettings, remove: bool
) -> None:
    settings = build()
    if remove:
        token = settings.bootstrap_token.model_copy(update={"remove_kubeconfig": True})
        settings = settings.model_copy(update={"bootstrap_token": token})
    node = NodeRoot(tmp_path / "node")
    bootstrap = Path(node.moved(settings.kubelet.bootstrap_kubeconfig))
    bootstrap.write_text("token\n")
    node.bootstrapped()

    result = start_on(node, settings)

    assert result.returncode == 0, result.stderr
    assert bootstrap.exists() is not remove
    assert ("removed " in result.stdout) is remove
    assert shellcheck(start_script(settings)) == ""


def test_the_bootstrap_kubeconfig_stays_while_the_kubelet_has_no_certificate(
    tmp_path: Path, build: BuildSettings
) -> None:
    """The kubelet wrote its --kubeconfig but got no certificate: it still needs its token."""
    settings = build(kubelet={"healthzTimeoutSeconds": 10})
    token = settings.bootstrap_token.model_copy(update={"remove_kubeconfig": True})
    settings = settings.model_copy(update={"bootstrap_token": token})
    node = NodeRoot(tmp_path / "node")
    bootstrap = Path(node.moved(settings.kubelet.bootstrap_kubeconfig))
    bootstrap.write_text("token\n")
    node.kubeconfig.write_text("kind: Config\n")

    result = start_on(node, settings)

    assert result.returncode == 1
    assert bootstrap.exists()


def test_a_certificate_of_another_signer_fails_the_gate_but_restarts_nothing(
    tmp_path: Path, build: BuildSettings
) -> None:
    """The kubelet bootstraps again only without a usable certificate; restarting it for one
    that does not chain to caCertFile would change nothing, so the start says so instead."""
    settings = build(kubelet={"healthzTimeoutSeconds": 10})
    node = NodeRoot(tmp_path / "node")
    node.bootstrapped()
    assert start_on(node, settings).returncode == 0
    node.issue(ClusterCa("another-signer").kubelet_client_pem("node-0"))

    result = node.sh(kubelet_scripts(settings).update)

    assert result.returncode == 1
    assert node.restarts() == 1
    assert "is not valid now or not signed by the cluster CA" in result.stderr
