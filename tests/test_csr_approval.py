"""The serving-CSR approver and its dynamic provider, end to end against the fake API server.

The approver talks to `tests.fake_apiserver.FakeApiServer` over TLS with the official client,
so what is asserted here is what a cluster would see: which requests were made (the fake's
counts), which conditions landed on which CSR, and what the operator reads (log lines and
error messages).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import re
import socket
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from components.approval.csr_approval import RESOURCE_ID, ServingCsrApprovalProvider
from components.approval.csr_approver import (
    Approval,
    ApprovalError,
    ApprovalTimeoutError,
    ServingCsrApprover,
    inventory_of,
    kubelets_of,
)
from components.approval.csr_policy import APPROVED_REASON, DENIED_REASON
from components.cluster.kube_client import api_client
from components.settings.admin_kubeconfig import CONFIG_KEY
from tests.factories import configured
from tests.fake_apiserver import FakeApiServer
from tests.fake_controllers import Signer, clean_csrs
from tests.fake_kubelet import FakeKubelet
from tests.fake_pki import CertificateAuthority, private_key_pem
from tests.fake_store import utc_now
from tests.kubelet_csrs import (
    SERVING_USAGES_WITH_ENCIPHERMENT,
    hostile_serving_csrs,
    kubelet_client_csr,
    kubelet_serving_csr,
    make_key,
)
from tests.provider_host import provider_host
from tests.test_csr_policy import (
    DENIED,
    IGNORED,
    IP,
    NODE,
    OTHER,
    OTHER_IP,
    duplicate_san_request,
)

Json = dict[str, Any]


def _closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on: where a node without a kubelet answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


NO_KUBELET = _closed_port()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def node(index: int) -> Json:
    """The provider's `nodes` entry of node-<index>, at 10.0.<index // 250>.<index % 250 + 1>.

    Its kubelet is reached at 127.0.0.1 (a FakeKubelet's port, or nothing listening), while
    its certificate names the inventory's address, as a real one does.
    """
    return {
        "name": f"node-{index}",
        "ips": [f"10.0.{index // 250}.{index % 250 + 1}"],
        "dns_names": [f"node-{index}.example.com"],
        "address": "127.0.0.1",
        "port": NO_KUBELET,
        "kubelet_files": {"/etc/kubernetes/kubelet-config.yaml": sha256(f"config of {index}")},
    }


NODES = [node(i) for i in range(3)]


def restarted(entry: Json) -> Json:
    """`entry` after its kubelet's files changed, so the kubelet was restarted."""
    return {
        **entry,
        "kubelet_files": {path: sha256(sha) for path, sha in entry["kubelet_files"].items()},
    }


def served_by(entry: Json, kubelet: FakeKubelet) -> Json:
    return {**entry, "port": kubelet.port}


def kubelet_holding(
    server: FakeApiServer, entry: Json, *, dns: tuple[str, ...] | None = None
) -> tuple[FakeKubelet, str]:
    """A kubelet (not started) serving the certificate it got the real way, and its CSR's name:
    its own key, its CSR approved, then issued."""
    key = make_key("ecdsa-p256")
    name = name_of(server.create(genuine(entry, key=key, dns=dns)))
    server.approve(name)
    pem = server.issue(name).public_bytes(serialization.Encoding.PEM)
    kubelet = FakeKubelet(None, node_name=entry["name"], certificate=(pem, private_key_pem(key)))
    return kubelet, name


def served_not_after(kubelet: FakeKubelet) -> str:
    issued = x509.load_pem_x509_certificate(kubelet.certificate_pem)
    return issued.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


AN_HOUR_LATER = datetime.timedelta(hours=1, minutes=1)


def genuine(entry: Json, **kwargs: Any) -> Json:
    """The serving CSR the kubelet of `entry` sends (ECDSA P-256 unless told otherwise)."""
    return kubelet_serving_csr(entry["name"], ips=tuple(entry["ips"]), **kwargs)


def name_of(csr: Json) -> str:
    return csr["metadata"]["name"]


def conditions(server: FakeApiServer, name: str) -> list[Json]:
    return server.get(name)["status"].get("conditions", [])


def not_after_of(server: FakeApiServer, name: str) -> str:
    pem = base64.b64decode(server.get(name)["status"]["certificate"])
    issued = x509.load_pem_x509_certificate(pem)
    return issued.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- fixtures ------------------------------------------------------------------------------------


def certificates_api(kubeconfig: str) -> client.CertificatesV1Api:
    """The client the provider makes from the admin kubeconfig."""
    return client.CertificatesV1Api(api_client(kubeconfig))


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def approver(server: FakeApiServer, log: list[str]) -> Callable[..., ServingCsrApprover]:
    """`approver(nodes)`: an approver for those provider `nodes`, logging into `log`."""

    def make(nodes: list[Json] = NODES) -> ServingCsrApprover:
        return ServingCsrApprover(
            certificates_api(server.kubeconfig()),
            inventory_of(nodes),
            server.ca.certificate,
            kubelets_of(nodes),
            log=log.append,
        )

    return make


@pytest.fixture
def signer(server: FakeApiServer) -> Iterator[Signer]:
    with Signer(server) as running:
        yield running


@contextlib.contextmanager
def in_background(run: Callable[[], Any]) -> Iterator[Future[Any]]:
    """Run `run` in a thread; its result (or exception) comes back through the future."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(run)


def wait_for_watch(server: FakeApiServer, future: Future[Any], count: int = 2) -> None:
    """Block until the approver watches (by default besides the signer); surface its own error
    if it died before that."""
    try:
        server.wait_for_watchers(count)
    except TimeoutError:
        if future.done():
            future.result()
        raise


@pytest.fixture(scope="session")
def thousand() -> tuple[list[Json], list[Json]]:
    """1,000 nodes and one pending kubelet CSR each (one key for all: signing is the cost)."""
    key = make_key("ecdsa-p256")
    nodes = [node(i) for i in range(1000)]
    return nodes, [genuine(entry, key=key) for entry in nodes]


# --- approving what is pending ------------------------------------------------------------------


def test_pending_kubelet_requests_are_approved_through_the_approval_subresource(
    server, signer, approver, log
):
    csrs = [
        server.create(genuine(NODES[0])),
        server.create(genuine(NODES[1], key="rsa-2048")),
        server.create(genuine(NODES[2], usages=SERVING_USAGES_WITH_ENCIPHERMENT)),
    ]

    approvals = approver().run(["node-0", "node-1", "node-2"], 10)

    assert approvals == {
        f"node-{i}": Approval(name_of(csr), not_after_of(server, name_of(csr)))
        for i, csr in enumerate(csrs)
    }
    for csr in csrs:
        [condition] = conditions(server, name_of(csr))
        assert (condition["type"], condition["status"]) == ("Approved", "True")
        assert condition["reason"] == APPROVED_REASON
        assert condition["message"].startswith(f"kubelet-bootstrap: {name_of(csr)}: genuine")
    # One watch: until the signer has issued what was approved.
    assert server.counts() == Counter(list=1, approval=3, watch=1)
    assert len(log) == 3


def test_other_signers_and_other_clusters_nodes_are_left_untouched(server, signer, approver, log):
    untouched = [
        server.create(kubelet_client_csr("node-0")),
        server.create(kubelet_client_csr("node-1", bootstrap=False)),
        server.create(kubelet_serving_csr("elsewhere-7", ips=("10.9.0.7",))),
        server.create(genuine(NODES[1], signer="example.com/not-kubelet-serving")),
    ]
    mine = server.create(genuine(NODES[0]))

    approvals = approver().run(["node-0"], 10)

    assert approvals == {"node-0": Approval(name_of(mine), not_after_of(server, name_of(mine)))}
    assert [server.get(name_of(csr)) for csr in untouched] == untouched
    assert server.counts() == Counter(list=1, approval=1, watch=1)
    assert all(name_of(csr) not in "\n".join(log) for csr in untouched)


def test_requests_already_approved_denied_or_issued_are_ignored(server, approver, log):
    approved = server.create(genuine(NODES[0]))
    server.approve(name_of(approved))
    denied = server.create(genuine(NODES[1]))
    server.deny(name_of(denied))
    issued = server.create(genuine(NODES[2]))
    server.approve(name_of(issued))
    server.issue(name_of(issued))
    before = server.list()

    approvals = approver().run(["node-2"], 10)

    assert server.list() == before
    assert approvals == {"node-2": Approval(name_of(issued), not_after_of(server, name_of(issued)))}
    assert server.counts() == Counter(list=1)
    assert log == []


def test_an_approval_that_loses_a_race_is_read_again_and_approved(server, signer, approver, log):
    csr = server.create(genuine(NODES[0]))
    server.conflict_next_approval(name_of(csr))

    approvals = approver().run(["node-0"], 10)

    assert approvals["node-0"].csr == name_of(csr)
    assert [c["type"] for c in conditions(server, name_of(csr))] == ["Approved"]
    # The 409, then one get to read it again, then the approval that lands.
    assert server.counts() == Counter(list=1, approval=2, get=1, watch=1)
    assert log == [f"node-0: serving CSR {name_of(csr)} approved (1/3)"]


def test_timeout_names_every_waiting_node_and_keeps_the_approvals_made(server, signer, approver):
    csr = server.create(genuine(NODES[0]))

    with pytest.raises(ApprovalTimeoutError) as raised:
        approver().run(["node-0", "node-1", "node-2"], 1)

    error = raised.value
    assert error.waiting == ["node-1", "node-2"]
    message = str(error)
    assert "after 1s for 2 node(s): node-1, node-2" in message
    for waiting in ("node-1", "node-2"):
        assert (
            f"{waiting}: no serving CSR of it seen; its kubelet at 127.0.0.1:{NO_KUBELET} gave no "
            "certificate ([Errno 111] Connection refused); look at `journalctl -u kubelet` on "
            f"{waiting} and `kubectl get csr`"
        ) in message
    assert "node-0" not in message
    assert "The 1 approval(s) made stay in place." in message
    assert [c["type"] for c in conditions(server, name_of(csr))] == ["Approved"]


# --- re-runs --------------------------------------------------------------------------------------


def test_rerun_with_every_node_approved_and_issued_is_one_list_request(server, approver, log):
    csrs = [server.create(genuine(entry)) for entry in NODES]
    for csr in csrs:
        server.approve(name_of(csr))
        server.issue(name_of(csr))
    server.reset_counts()

    approvals = approver().run(["node-0", "node-1", "node-2"], 10)

    assert server.counts() == Counter(list=1)
    assert approvals == {
        f"node-{i}": Approval(name_of(csr), not_after_of(server, name_of(csr)))
        for i, csr in enumerate(csrs)
    }
    assert log == []


def test_of_several_approved_requests_the_issued_one_with_the_latest_not_after_counts_at_once(
    server, approver
):
    """An approved CSR that was never issued stays for good (the CSR cleaner only collects
    issued ones), so nothing may wait for it; among the issued ones the latest counts."""
    never = server.create(genuine(NODES[0], name="csr-aaaaa"))
    server.approve(name_of(never))
    # Lifetimes under the fake CA's two days, which caps every certificate it issues.
    for name, hours in (("csr-bbbbb", 10), ("csr-ccccc", 20), ("csr-ddddd", 5)):
        server.create(genuine(NODES[0], name=name))
        server.approve(name)
        server.issue(name, lifetime=datetime.timedelta(hours=hours))
    server.reset_counts()
    started = time.monotonic()

    approvals = approver().run(["node-0"], 30)

    assert approvals == {"node-0": Approval("csr-ccccc", not_after_of(server, "csr-ccccc"))}
    assert time.monotonic() - started < 1
    assert server.counts() == Counter(list=1)


# --- scale ---------------------------------------------------------------------------------------


def test_a_thousand_pending_requests_cost_one_list_and_one_approval_each(
    server, signer, approver, log, thousand
):
    nodes, csrs = thousand
    for csr in csrs:
        server.create(csr)

    approvals = approver(nodes).run([entry["name"] for entry in nodes], 60)

    assert server.counts() == Counter(list=1, approval=1000, watch=1)
    assert len(approvals) == 1000
    assert all(
        [c["type"] for c in csr["status"]["conditions"]] == ["Approved"] for csr in server.list()
    )
    assert log[-1].endswith("approved (1000/1000)")


# --- watching ------------------------------------------------------------------------------------

PROGRESS = re.compile(r"^node-\d: serving CSR csr-[b-z2-9]{5} approved \((\d)/3\)$")


def test_requests_created_while_watching_are_approved_with_progress_lines(
    server, signer, approver, log
):
    first = server.create(genuine(NODES[0]))
    run = approver()

    with in_background(lambda: run.run(["node-0", "node-1", "node-2"], 10)) as future:
        wait_for_watch(server, future)
        second = server.create(genuine(NODES[1]))
        third = server.create(genuine(NODES[2]))
        approvals = future.result(timeout=10)

    assert {n: a.csr for n, a in approvals.items()} == {
        "node-0": name_of(first),
        "node-1": name_of(second),
        "node-2": name_of(third),
    }
    assert log == [
        f"node-0: serving CSR {name_of(first)} approved (1/3)",
        f"node-1: serving CSR {name_of(second)} approved (2/3)",
        f"node-2: serving CSR {name_of(third)} approved (3/3)",
    ]
    assert all(PROGRESS.match(line) for line in log)
    assert server.counts() == Counter(list=1, watch=1, approval=3)


def test_a_watch_bookmark_does_not_stop_the_approver(server, signer, approver):
    """The client yields BOOKMARK objects as plain dicts (watch.py does not decode them), and a
    real API server sends one about two seconds before every watch's timeoutSeconds: the
    approver takes the resourceVersion from the raw event and goes on."""
    run = approver()

    with in_background(lambda: run.run(["node-0"], 10)) as future:
        wait_for_watch(server, future)
        server.bookmark()
        csr = server.create(genuine(NODES[0]))
        approvals = future.result(timeout=10)

    assert approvals["node-0"].csr == name_of(csr)


def test_an_expired_watch_lists_again_and_goes_on(server, signer, approver):
    server.fail_next("watch", code=410, reason="Expired", message="too old resource version")
    run = approver()

    with in_background(lambda: run.run(["node-0"], 10)) as future:
        wait_for_watch(server, future)
        csr = server.create(genuine(NODES[0]))
        approvals = future.result(timeout=10)

    assert approvals["node-0"].csr == name_of(csr)
    assert server.counts()["list"] == 2


@pytest.mark.parametrize("kind", ["watch", "list"])
def test_a_silent_connection_ends_by_the_deadline_naming_the_waiting_nodes(server, approver, kind):
    """A watch (or list) whose connection was dropped without a word: nothing arrives, not even
    the end of the watch at its timeoutSeconds. Only a client-side timeout ends it."""
    server.hold_next(kind, seconds=20, times=5)  # every try of the client, not only the first
    run = approver()
    started = time.monotonic()

    with (
        in_background(lambda: run.run(["node-0", "node-1"], 2)) as future,
        pytest.raises(ApprovalTimeoutError) as raised,
    ):
        future.result(timeout=10)

    assert time.monotonic() - started < 3.5
    assert raised.value.waiting == ["node-0", "node-1"]
    assert "for 2 node(s): node-0, node-1" in str(raised.value)


# --- hostile requests ----------------------------------------------------------------------------


def test_hostile_requests_are_denied_at_the_server_and_the_genuine_one_still_approved(
    server, signer, approver, log
):
    built = hostile_serving_csrs(NODE, IP, other_node=OTHER, other_ip=OTHER_IP)
    hostile = {label: server.create(csr) for label, csr in built.items()}
    nodes = [
        {**NODES[0], "name": NODE, "ips": [IP], "dns_names": []},
        {**NODES[1], "name": OTHER, "ips": [OTHER_IP], "dns_names": []},
    ]
    run = approver(nodes)

    with in_background(lambda: run.run([NODE], 10)) as future:
        wait_for_watch(server, future)  # every hostile request was judged in the list
        csr = server.create(kubelet_serving_csr(NODE, ips=(IP,)))
        approvals = future.result(timeout=10)

    assert approvals == {"node-0": Approval(name_of(csr), not_after_of(server, name_of(csr)))}
    for label, (rule, fragment) in DENIED.items():
        name = name_of(hostile[label])
        [condition] = conditions(server, name)
        assert (condition["type"], condition["reason"]) == ("Denied", DENIED_REASON), label
        assert condition["message"].startswith(f"kubelet-bootstrap: {name} for node-0: ")
        assert fragment in condition["message"], label
        assert any(
            line.startswith(f"node-0: serving CSR {name} denied: ") and fragment in line
            for line in log
        ), (label, rule)
    for label in IGNORED:
        assert server.get(name_of(hostile[label])) == hostile[label], label
    assert server.counts() == Counter(list=1, watch=1, approval=len(DENIED) + 1)


def test_one_malformed_request_does_not_stop_the_approval_of_the_others(server, signer, approver):
    """A node's CSR with two SAN extensions is denied; it does not stop the run for the others."""
    hostile = server.create(duplicate_san_request("node-0", "10.0.0.1", "kubernetes"))
    others = [server.create(genuine(entry)) for entry in NODES[1:]]

    approvals = approver().run(["node-1", "node-2"], 5)

    assert {a.csr for a in approvals.values()} == {name_of(csr) for csr in others}
    assert [c["type"] for c in conditions(server, name_of(hostile))] == ["Denied"]


# --- the dynamic provider ------------------------------------------------------------------------


def props(server: FakeApiServer, nodes: list[Json] = NODES, timeout: int = 10) -> Json:
    return {
        "ca_pem": server.ca_pem.decode(),
        "nodes": nodes,
        "timeout_seconds": timeout,
    }


def provider(server: FakeApiServer, kubeconfig: str | None = None) -> ServingCsrApprovalProvider:
    """The provider, configured with the admin kubeconfig (by default the fake's own)."""
    return configured(ServingCsrApprovalProvider(), kubeconfig or server.kubeconfig())


def recorded(server: FakeApiServer, nodes: list[Json], approved: dict[str, Json]) -> Json:
    """The state an earlier `up` left: its inputs and outputs."""
    return {**props(server, nodes), "approved": approved, "pending": []}


def test_create_approves_every_node_and_reports_not_after_once_issued(server, signer, capsys):
    csrs = [server.create(genuine(entry)) for entry in NODES]

    result = provider(server).create(props(server))

    assert result.id == RESOURCE_ID
    assert result.outs["approved"] == {
        f"node-{i}": {"csr": name_of(csr), "not_after": not_after_of(server, name_of(csr))}
        for i, csr in enumerate(csrs)
    }
    assert result.outs["pending"] == []
    assert result.outs["nodes"] == NODES
    assert sorted(signer.issued) == sorted(name_of(csr) for csr in csrs)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(PROGRESS.match(line) for line in lines)


def test_an_approved_request_the_signer_never_issues_leaves_its_node_waiting(server):
    csr = server.create(genuine(NODES[0]))

    with pytest.raises(ApprovalTimeoutError) as raised:
        provider(server).create(props(server, NODES[:1], timeout=1))

    assert f"serving CSR {name_of(csr)} approved, not issued yet" in str(raised.value)
    assert [c["type"] for c in conditions(server, name_of(csr))] == ["Approved"]


def test_create_on_kubelets_that_already_hold_certificates_needs_no_new_request(server):
    """Adopting nodes that already run, or a first `up` an hour after the kubelets joined:
    the CSR cleaner deleted the issued CSRs, and a kubelet holding a valid serving certificate
    asks for no new one. The certificate each kubelet serves is what counts."""
    held = [kubelet_holding(server, entry) for entry in NODES[:2]]
    assert sorted(clean_csrs(server, utc_now() + AN_HOUR_LATER)) == sorted(n for _, n in held)
    started = time.monotonic()

    with contextlib.ExitStack() as running:
        kubelets = [running.enter_context(kubelet) for kubelet, _ in held]
        nodes = [served_by(e, k) for e, k in zip(NODES[:2], kubelets, strict=True)]
        result = provider(server).create(props(server, nodes, timeout=5))

    assert result.outs["approved"] == {
        k.node_name: {"csr": None, "not_after": served_not_after(k)} for k in kubelets
    }
    assert time.monotonic() - started < 2
    assert server.counts() == Counter(list=1)


def test_a_node_added_back_counts_the_certificate_its_kubelet_still_serves(server):
    kubelet, _ = kubelet_holding(server, NODES[1])
    clean_csrs(server, utc_now() + AN_HOUR_LATER)
    olds = recorded(
        server, NODES[:1], {"node-0": {"csr": None, "not_after": "2099-01-01T00:00:00Z"}}
    )

    with kubelet:
        news = props(server, [NODES[0], served_by(NODES[1], kubelet)], timeout=3)
        result = provider(server).update(RESOURCE_ID, olds, news)

    assert result.outs["approved"] == {
        "node-0": {"csr": None, "not_after": "2099-01-01T00:00:00Z"},
        "node-1": {"csr": None, "not_after": served_not_after(kubelet)},
    }


def _issued(
    server: FakeApiServer, *, ca: CertificateAuthority | None = None, **kwargs: Any
) -> tuple[bytes, bytes]:
    """A serving certificate for node-0 (10.0.0.1) from `ca` (the cluster's), changed by kwargs."""
    fields = {
        "ips": ["10.0.0.1"],
        "dns": ["node-0"],
        "common_name": "system:node:node-0",
        "organization": "system:nodes",
    }
    return (ca or server.ca).issue_server_certificate(**{**fields, **kwargs})


SERVED_BUT_NOT_COUNTED = {
    "self-signed": (
        lambda server: FakeKubelet(None, node_name="node-0", ips=["10.0.0.1"]),
        "not signed by the cluster CA",
    ),
    "other-ca": (
        lambda server: FakeKubelet(
            None, certificate=_issued(server, ca=CertificateAuthority.create(utc_now()))
        ),
        "not signed by the cluster CA",
    ),
    "expired": (
        lambda server: FakeKubelet(
            None, certificate=_issued(server, now=utc_now() - datetime.timedelta(days=3))
        ),
        "expired at",
    ),
    "foreign-ip": (
        lambda server: FakeKubelet(None, certificate=_issued(server, ips=["10.9.9.9"])),
        "IP address 10.9.9.9 is not an address of node-0",
    ),
    "other-node": (
        lambda server: FakeKubelet(
            None, certificate=_issued(server, common_name="system:node:node-1")
        ),
        "is not exactly 'CN=system:node:node-0,O=system:nodes'",
    ),
}


@pytest.mark.parametrize("case", SERVED_BUT_NOT_COUNTED)
def test_a_served_certificate_counts_only_if_the_cluster_ca_issued_it_for_that_node_and_it_is_valid(
    server, case
):
    make, reason = SERVED_BUT_NOT_COUNTED[case]

    with make(server) as kubelet, pytest.raises(ApprovalTimeoutError) as raised:
        port = kubelet.port
        provider(server).create(props(server, [served_by(NODES[0], kubelet)], timeout=1))

    message = str(raised.value)
    assert f"its kubelet at 127.0.0.1:{port} serves a certificate that does not count" in message
    assert reason in message


def test_update_waits_only_for_new_nodes_and_drops_removed_ones(server, signer):
    new = server.create(genuine(NODES[2]))
    olds = {
        **props(server, NODES[:2]),
        "approved": {
            "node-0": {"csr": "csr-old00", "not_after": "2027-01-01T00:00:00Z"},
            "node-1": {"csr": "csr-old11", "not_after": "2027-01-01T00:00:00Z"},
        },
        "pending": [],
    }
    news = props(server, [NODES[0], NODES[2]], timeout=5)  # node-1 removed, node-2 added

    result = provider(server).update(RESOURCE_ID, olds, news)

    assert result.outs["approved"] == {
        "node-0": {"csr": "csr-old00", "not_after": "2027-01-01T00:00:00Z"},
        "node-2": {"csr": name_of(new), "not_after": not_after_of(server, name_of(new))},
    }
    assert server.counts()["approval"] == 1


def test_a_node_whose_address_changed_gets_its_new_request_approved_against_the_new_inventory(
    server, signer
):
    """Its old CSR (still listed, issued for the old address) and the certificate its kubelet
    still serves name an address the stack no longer gives it: neither counts."""
    kubelet, old_csr = kubelet_holding(server, NODES[0])
    olds = recorded(
        server, NODES[:1], {"node-0": {"csr": old_csr, "not_after": not_after_of(server, old_csr)}}
    )
    moved = restarted({**NODES[0], "ips": ["10.0.0.99"]})

    with kubelet:
        news = props(server, [served_by(moved, kubelet)], timeout=10)
        update = lambda: provider(server).update(RESOURCE_ID, olds, news)  # noqa: E731
        with in_background(update) as future:
            wait_for_watch(server, future, 2)
            stale = server.create(genuine(NODES[0]))  # a request naming the old address
            new = server.create(genuine(moved))
            result = future.result(timeout=10)

    assert result.outs["approved"] == {
        "node-0": {"csr": name_of(new), "not_after": not_after_of(server, name_of(new))}
    }
    [denial] = conditions(server, name_of(stale))
    assert denial["type"] == "Denied"
    assert "IP address 10.0.0.1 is not an address of node-0" in denial["message"]


def test_certificates_of_a_replaced_ca_do_not_count(server):
    """Judged again for the CA change alone (the kubelet did not restart here): what its
    kubelet serves was signed by the old CA, so the update fails at once."""
    old_ca = CertificateAuthority.create(utc_now())
    started = time.monotonic()

    with FakeKubelet(old_ca, node_name="node-0", ips=["10.0.0.1"]) as kubelet:
        entry = served_by(NODES[0], kubelet)
        olds = {
            **recorded(
                server, [entry], {"node-0": {"csr": None, "not_after": "2099-01-01T00:00:00Z"}}
            ),
            "ca_pem": old_ca.ca_pem.decode(),
        }
        with pytest.raises(ApprovalError) as raised:
            provider(server).update(RESOURCE_ID, olds, props(server, [entry], 30))

    assert time.monotonic() - started < 3
    assert "serves a certificate that does not count: not signed by the cluster CA" in str(
        raised.value
    )


def test_a_node_that_did_not_restart_is_judged_at_once_on_the_certificate_it_holds(server):
    """extraSANs lost a name its certificate carries. Its kubelet did not restart and asks for
    nothing new, so there is nothing to wait for: the update fails at once, saying why."""
    aliased = {**NODES[0], "dns_names": ["node-0.example.com", "old-alias.example.com"]}
    kubelet, _ = kubelet_holding(server, aliased, dns=("node-0", "old-alias.example.com"))
    clean_csrs(server, utc_now() + AN_HOUR_LATER)
    started = time.monotonic()

    with kubelet:
        olds = recorded(
            server,
            [served_by(aliased, kubelet)],
            {"node-0": {"csr": None, "not_after": served_not_after(kubelet)}},
        )
        news = props(server, [served_by(NODES[0], kubelet)], timeout=30)
        with pytest.raises(ApprovalError) as raised:
            provider(server).update(RESOURCE_ID, olds, news)

    assert time.monotonic() - started < 3
    message = str(raised.value)
    assert "DNS name 'old-alias.example.com' is not a name of node-0" in message
    assert "did not restart" in message


def test_read_reports_the_managed_nodes_pending_requests_and_approves_nothing(server):
    waiting = server.create(genuine(NODES[0]))
    hostile = server.create(genuine(NODES[1], dns=("kubernetes.default.svc",)))
    done = server.create(genuine(NODES[2]))
    server.approve(name_of(done))
    server.create(kubelet_client_csr("node-0"))
    server.create(kubelet_serving_csr("elsewhere-7", ips=("10.9.0.7",)))
    server.reset_counts()
    state = {**props(server), "approved": {}, "pending": []}

    result = provider(server).read(RESOURCE_ID, state)

    assert result.id == RESOURCE_ID
    assert result.outs["pending"] == sorted([name_of(waiting), name_of(hostile)])
    assert server.counts() == Counter(list=1)


def test_a_renewal_found_by_refresh_is_approved_and_named_once_issued(server):
    """`pulumi up --refresh` on a schedule: read finds the renewal, diff shows a change, and
    update approves it though nothing else changed, then names it: its notAfter is later."""
    first = server.create(genuine(NODES[0]))
    server.approve(name_of(first))
    server.issue(name_of(first), lifetime=datetime.timedelta(hours=10))  # the CA caps at 2 days
    renewal = server.create(genuine(NODES[0]))
    state = recorded(
        server,
        NODES[:1],
        {"node-0": {"csr": name_of(first), "not_after": not_after_of(server, name_of(first))}},
    )
    approval = provider(server)

    refreshed = approval.read(RESOURCE_ID, state).outs
    assert refreshed["pending"] == [name_of(renewal)]
    news = {**props(server, NODES[:1]), "approved": None, "pending": None}
    assert approval.diff(RESOURCE_ID, refreshed, news).changes
    with Signer(server):
        result = approval.update(RESOURCE_ID, refreshed, news)

    assert result.outs["approved"] == {
        "node-0": {"csr": name_of(renewal), "not_after": not_after_of(server, name_of(renewal))}
    }
    assert result.outs["pending"] == []


@pytest.mark.parametrize(
    ("change", "changes"),
    [
        pytest.param({}, False, id="nothing-changed"),
        pytest.param({"pending": ["csr-x7k2p"]}, True, id="pending-after-refresh"),
        pytest.param({"timeout_seconds": 60}, True, id="timeout"),
        pytest.param({"nodes": [*NODES, node(3)]}, True, id="node-added"),
        pytest.param({"kubeconfig": "k"}, True, id="credential-stored-by-0.2"),
        pytest.param({"ca_pem": "another CA"}, True, id="ca"),
        pytest.param({"nodes": [restarted(NODES[0]), *NODES[1:]]}, True, id="kubelet-restarted"),
    ],
)
def test_diff_shows_a_change_for_pending_requests_and_none_when_nothing_changed(
    change: Json, changes: bool
):
    inputs = {"ca_pem": "CA", "nodes": NODES, "timeout_seconds": 300}
    olds = {**inputs, "approved": {"node-0": {"csr": "csr-a", "not_after": "2027-01-01T00:00:00Z"}}}
    if "kubeconfig" in change:  # the state of a stack made by 0.2.0 or earlier
        olds["kubeconfig"] = change["kubeconfig"]
    olds["pending"] = []
    news = {**inputs, "approved": None, "pending": None}
    for key in inputs:
        news[key] = change.get(key, news[key])
    olds["pending"] = change.get("pending", [])

    result = ServingCsrApprovalProvider().diff(RESOURCE_ID, olds, news)

    assert result.changes is changes
    assert result.replaces == []


def test_the_provider_host_unpickles_configures_and_creates(server, signer):
    csr = server.create(genuine(NODES[0]))

    with provider_host(ServingCsrApprovalProvider(), {CONFIG_KEY: server.kubeconfig()}) as host:
        id_, outs = host.create(props(server, NODES[:1]))

    assert id_ == RESOURCE_ID
    assert outs["approved"] == {
        "node-0": {"csr": name_of(csr), "not_after": not_after_of(server, name_of(csr))}
    }
    assert f"node-0: serving CSR {name_of(csr)} approved (1/1)" in host.stderr
    assert not shows_secret(server.token, host.stderr)


# --- secrets -------------------------------------------------------------------------------------


def error_text(error: BaseException) -> str:
    """What the dynamic provider host prints for a failure: the whole traceback."""
    return "".join(traceback.format_exception(error))


def shows_secret(secret: str, text: str, piece: int = 8) -> bool:
    """Whether `text` holds `secret` or any `piece` characters of it (a truncated quote)."""
    return any(secret[i : i + piece] in text for i in range(len(secret) - piece + 1))


def test_the_token_is_in_no_log_line_and_no_timeout_message(server, capsys):
    server.create(genuine(NODES[0]))
    server.create(genuine(NODES[1], dns=("kubernetes.default.svc",)))  # a denial is logged too

    with pytest.raises(ApprovalTimeoutError) as raised:
        provider(server).create(props(server, NODES[:2], timeout=1))

    logged = capsys.readouterr()
    assert "approved (1/2)" in logged.err and "denied" in logged.err
    for text in (logged.out, logged.err, error_text(raised.value)):
        assert not shows_secret(server.token, text)
        assert "certificate-authority-data" not in text


def test_the_token_is_not_in_an_authentication_error(server):
    wrong = "wrong-token-0123456789abcdef"

    with pytest.raises(client.exceptions.ApiException) as raised:
        provider(server, server.kubeconfig(wrong)).create(props(server))

    assert raised.value.status == 401
    assert not shows_secret(wrong, error_text(raised.value))


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda text, token: text.replace(token, f'"{token}'), id="unclosed-quote"),
        pytest.param(
            lambda text, token: text.replace(
                f"  user:\n    token: {token}", f"  user:\n\ttoken: {token}"
            ),
            id="tab-indent",
        ),
    ],
)
def test_the_token_is_not_in_the_error_for_a_malformed_kubeconfig(server, breakage):
    """PyYAML's error quotes the offending line of the kubeconfig (whole, or cut to about 36
    characters around the mark), which is the bearer token's line here: it must not surface."""
    kubeconfig = breakage(server.kubeconfig(), server.token)
    assert kubeconfig != server.kubeconfig()

    with pytest.raises(Exception) as raised:  # any failure, as long as it is quiet
        provider(server, kubeconfig).create(props(server))

    assert not shows_secret(server.token, error_text(raised.value)), str(raised.value)
