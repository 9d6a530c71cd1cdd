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
import json
import re
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from cryptography import x509
from kubernetes import client
from pulumi.dynamic.dynamic import serialize_provider

from components.csr_approval import RESOURCE_ID, ServingCsrApprovalProvider
from components.csr_approver import (
    Approval,
    ApprovalTimeoutError,
    ServingCsrApprover,
    inventory_of,
)
from components.csr_policy import APPROVED_REASON, DENIED_REASON
from components.kube_client import api_client
from offline.engine import PROJECT_ROOT
from tests.fake_apiserver import FakeApiServer
from tests.kubelet_csrs import (
    SERVING_USAGES_WITH_ENCIPHERMENT,
    hostile_serving_csrs,
    kubelet_client_csr,
    kubelet_serving_csr,
    make_key,
)
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


def node(index: int) -> Json:
    """The provider's `nodes` entry of node-<index>, at 10.0.<index // 250>.<index % 250 + 1>."""
    return {
        "name": f"node-{index}",
        "ips": [f"10.0.{index // 250}.{index % 250 + 1}"],
        "dns_names": [f"node-{index}.example.com"],
    }


NODES = [node(i) for i in range(3)]


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


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    with FakeApiServer() as fake:
        yield fake


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
            certificates_api(server.kubeconfig()), inventory_of(nodes), log=log.append
        )

    return make


class Signer:
    """Plays kube-controller-manager's csrsigning controller: issues every approved CSR.

    It reads the fake's store events directly (no HTTP, so not in the counts), which makes it
    one more watcher in `server.wait_for_watchers`.
    """

    def __init__(self, server: FakeApiServer) -> None:
        self._server = server
        self._watcher = server.store.subscribe(server.resource_version)
        self._thread = threading.Thread(target=self._run, name="fake-signer")
        self.issued: list[str] = []

    def _run(self) -> None:
        try:
            while isinstance(event := self._watcher.events.get(), dict):
                csr = event["object"]
                types = {c["type"] for c in csr["status"].get("conditions", [])}
                if (
                    event["type"] == "MODIFIED"
                    and types == {"Approved"}
                    and not csr["status"].get("certificate")
                ):
                    self._server.issue(name_of(csr))
                    self.issued.append(name_of(csr))
        finally:
            self._server.store.unsubscribe(self._watcher)

    def __enter__(self) -> Signer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watcher.events.put(None)
        self._thread.join(timeout=5)


@pytest.fixture
def signer(server: FakeApiServer) -> Iterator[Signer]:
    with Signer(server) as running:
        yield running


@contextlib.contextmanager
def in_background(run: Callable[[], Any]) -> Iterator[Future[Any]]:
    """Run `run` in a thread; its result (or exception) comes back through the future."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(run)


def wait_for_watch(server: FakeApiServer, future: Future[Any], count: int = 1) -> None:
    """Block until the approver watches; surface its own error if it died before that."""
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
    server, approver, log
):
    csrs = [
        server.create(genuine(NODES[0])),
        server.create(genuine(NODES[1], key="rsa-2048")),
        server.create(genuine(NODES[2], usages=SERVING_USAGES_WITH_ENCIPHERMENT)),
    ]

    approvals = approver().run(["node-0", "node-1", "node-2"], 10, issue_grace_seconds=0)

    assert approvals == {
        f"node-{i}": Approval(csr=name_of(csr), not_after=None) for i, csr in enumerate(csrs)
    }
    for csr in csrs:
        [condition] = conditions(server, name_of(csr))
        assert (condition["type"], condition["status"]) == ("Approved", "True")
        assert condition["reason"] == APPROVED_REASON
        assert condition["message"].startswith(f"kubelet-bootstrap: {name_of(csr)}: genuine")
    assert server.counts() == Counter(list=1, approval=3)
    assert len(log) == 3


def test_other_signers_and_other_clusters_nodes_are_left_untouched(server, approver, log):
    untouched = [
        server.create(kubelet_client_csr("node-0")),
        server.create(kubelet_client_csr("node-1", bootstrap=False)),
        server.create(kubelet_serving_csr("elsewhere-7", ips=("10.9.0.7",))),
        server.create(genuine(NODES[1], signer="example.com/not-kubelet-serving")),
    ]
    mine = server.create(genuine(NODES[0]))

    approvals = approver().run(["node-0"], 10, issue_grace_seconds=0)

    assert approvals == {"node-0": Approval(name_of(mine))}
    assert [server.get(name_of(csr)) for csr in untouched] == untouched
    assert server.counts() == Counter(list=1, approval=1)
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

    approvals = approver().run(["node-2"], 10, issue_grace_seconds=0)

    assert server.list() == before
    assert approvals == {"node-2": Approval(name_of(issued), not_after_of(server, name_of(issued)))}
    assert server.counts() == Counter(list=1)
    assert log == []


def test_an_approval_that_loses_a_race_is_read_again_and_approved(server, approver, log):
    csr = server.create(genuine(NODES[0]))
    server.conflict_next_approval(name_of(csr))

    approvals = approver().run(["node-0"], 10, issue_grace_seconds=0)

    assert approvals["node-0"].csr == name_of(csr)
    assert [c["type"] for c in conditions(server, name_of(csr))] == ["Approved"]
    # The 409, then one get to read it again, then the approval that lands.
    assert server.counts() == Counter(list=1, approval=2, get=1)
    assert log == [f"node-0: serving CSR {name_of(csr)} approved (1/3)"]


def test_timeout_names_every_waiting_node_and_keeps_the_approvals_made(server, approver):
    csr = server.create(genuine(NODES[0]))

    with pytest.raises(ApprovalTimeoutError) as raised:
        approver().run(["node-0", "node-1", "node-2"], 1, issue_grace_seconds=0)

    error = raised.value
    assert error.waiting == ["node-1", "node-2"]
    message = str(error)
    assert "after 1s for 2 node(s): node-1, node-2" in message
    for waiting in ("node-1", "node-2"):
        assert f"look at `journalctl -u kubelet` on {waiting} and `kubectl get csr`" in message
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

    approvals = approver().run(["node-0", "node-1", "node-2"], 10)  # default issuance grace

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
    for name, days in (("csr-bbbbb", 300), ("csr-ccccc", 30)):
        server.create(genuine(NODES[0], name=name))
        server.approve(name)
        server.issue(name, lifetime=datetime.timedelta(days=days))
    server.reset_counts()
    started = time.monotonic()

    approvals = approver().run(["node-0"], 30)

    assert approvals == {"node-0": Approval("csr-bbbbb", not_after_of(server, "csr-bbbbb"))}
    assert time.monotonic() - started < 1
    assert server.counts() == Counter(list=1)


# --- scale ---------------------------------------------------------------------------------------


def test_a_thousand_pending_requests_cost_one_list_and_one_approval_each(server, log, thousand):
    nodes, csrs = thousand
    for csr in csrs:
        server.create(csr)
    approver = ServingCsrApprover(
        certificates_api(server.kubeconfig()), inventory_of(nodes), log=log.append
    )

    approvals = approver.run([entry["name"] for entry in nodes], 60, issue_grace_seconds=0)

    assert server.counts() == Counter(list=1, approval=1000)
    assert len(approvals) == 1000
    assert all(
        [c["type"] for c in csr["status"]["conditions"]] == ["Approved"] for csr in server.list()
    )
    assert log[-1].endswith("approved (1000/1000)")


# --- watching ------------------------------------------------------------------------------------

PROGRESS = re.compile(r"^node-\d: serving CSR csr-[b-z2-9]{5} approved \((\d)/3\)$")


def test_requests_created_while_watching_are_approved_with_progress_lines(server, approver, log):
    first = server.create(genuine(NODES[0]))
    run = approver()

    with in_background(lambda: run.run(["node-0", "node-1", "node-2"], 10, 0)) as future:
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


def test_a_watch_bookmark_does_not_stop_the_approver(server, approver):
    """The client yields BOOKMARK objects as plain dicts (watch.py does not decode them), and a
    real API server sends one about two seconds before every watch's timeoutSeconds: the
    approver takes the resourceVersion from the raw event and goes on."""
    run = approver()

    with in_background(lambda: run.run(["node-0"], 10, 0)) as future:
        wait_for_watch(server, future)
        server.bookmark()
        csr = server.create(genuine(NODES[0]))
        approvals = future.result(timeout=10)

    assert approvals["node-0"].csr == name_of(csr)


def test_an_expired_watch_lists_again_and_goes_on(server, approver):
    server.fail_next("watch", code=410, reason="Expired", message="too old resource version")
    run = approver()

    with in_background(lambda: run.run(["node-0"], 10, 0)) as future:
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
        in_background(lambda: run.run(["node-0", "node-1"], 2, 0)) as future,
        pytest.raises(ApprovalTimeoutError) as raised,
    ):
        future.result(timeout=10)

    assert time.monotonic() - started < 3.5
    assert raised.value.waiting == ["node-0", "node-1"]
    assert "for 2 node(s): node-0, node-1" in str(raised.value)


# --- hostile requests ----------------------------------------------------------------------------


def test_hostile_requests_are_denied_at_the_server_and_the_genuine_one_still_approved(
    server, approver, log
):
    built = hostile_serving_csrs(NODE, IP, other_node=OTHER, other_ip=OTHER_IP)
    hostile = {label: server.create(csr) for label, csr in built.items()}
    nodes = [
        {"name": NODE, "ips": [IP], "dns_names": []},
        {"name": OTHER, "ips": [OTHER_IP], "dns_names": []},
    ]
    run = approver(nodes)

    with in_background(lambda: run.run([NODE], 10, 0)) as future:
        wait_for_watch(server, future)  # every hostile request was judged in the list
        csr = server.create(kubelet_serving_csr(NODE, ips=(IP,)))
        approvals = future.result(timeout=10)

    assert approvals == {"node-0": Approval(name_of(csr))}
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


def test_one_malformed_request_does_not_stop_the_approval_of_the_others(server, approver):
    """A node's CSR with two SAN extensions is denied; it does not stop the run for the others."""
    hostile = server.create(duplicate_san_request("node-0", "10.0.0.1", "kubernetes"))
    others = [server.create(genuine(entry)) for entry in NODES[1:]]

    approvals = approver().run(["node-1", "node-2"], 5, issue_grace_seconds=0)

    assert {a.csr for a in approvals.values()} == {name_of(csr) for csr in others}
    assert [c["type"] for c in conditions(server, name_of(hostile))] == ["Denied"]


# --- the dynamic provider ------------------------------------------------------------------------


def props(server: FakeApiServer, nodes: list[Json] = NODES, timeout: int = 10) -> Json:
    return {"kubeconfig": server.kubeconfig(), "nodes": nodes, "timeout_seconds": timeout}


def test_create_approves_every_node_and_reports_not_after_once_issued(server, signer, capsys):
    csrs = [server.create(genuine(entry)) for entry in NODES]

    result = ServingCsrApprovalProvider().create(props(server))

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


def test_create_reports_no_not_after_when_nothing_issues(server):
    csr = server.create(genuine(NODES[0]))

    result = ServingCsrApprovalProvider().create(props(server, NODES[:1], timeout=1))

    assert result.outs["approved"] == {"node-0": {"csr": name_of(csr), "not_after": None}}


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

    result = ServingCsrApprovalProvider().update(RESOURCE_ID, olds, news)

    assert result.outs["approved"] == {
        "node-0": {"csr": "csr-old00", "not_after": "2027-01-01T00:00:00Z"},
        "node-2": {"csr": name_of(new), "not_after": not_after_of(server, name_of(new))},
    }
    assert server.counts()["approval"] == 1


def test_read_reports_the_managed_nodes_pending_requests_and_approves_nothing(server):
    waiting = server.create(genuine(NODES[0]))
    hostile = server.create(genuine(NODES[1], dns=("kubernetes.default.svc",)))
    done = server.create(genuine(NODES[2]))
    server.approve(name_of(done))
    server.create(kubelet_client_csr("node-0"))
    server.create(kubelet_serving_csr("elsewhere-7", ips=("10.9.0.7",)))
    server.reset_counts()
    state = {**props(server), "approved": {}, "pending": []}

    result = ServingCsrApprovalProvider().read(RESOURCE_ID, state)

    assert result.id == RESOURCE_ID
    assert result.outs["pending"] == sorted([name_of(waiting), name_of(hostile)])
    assert server.counts() == Counter(list=1)


@pytest.mark.parametrize(
    ("change", "changes"),
    [
        pytest.param({}, False, id="nothing-changed"),
        pytest.param({"pending": ["csr-x7k2p"]}, True, id="pending-after-refresh"),
        pytest.param({"timeout_seconds": 60}, True, id="timeout"),
        pytest.param({"nodes": [*NODES, node(3)]}, True, id="node-added"),
        pytest.param({"kubeconfig": "other"}, True, id="kubeconfig"),
    ],
)
def test_diff_shows_a_change_for_pending_requests_and_none_when_nothing_changed(
    change: Json, changes: bool
):
    olds = {"kubeconfig": "k", "nodes": NODES, "timeout_seconds": 300}
    olds |= {"approved": {"node-0": {"csr": "csr-a", "not_after": None}}, "pending": []}
    news = {"kubeconfig": "k", "nodes": NODES, "timeout_seconds": 300}
    news |= {"approved": None, "pending": None}
    for key in ("kubeconfig", "nodes", "timeout_seconds"):
        news[key] = change.get(key, news[key])
    olds["pending"] = change.get("pending", [])

    result = ServingCsrApprovalProvider().diff(RESOURCE_ID, olds, news)

    assert result.changes is changes
    assert result.replaces == []


# What `python -m pulumi.dynamic` does: started in the project directory, it unpickles the
# provider from the state and calls it. The props travel on stdin.
_LOAD_AND_CREATE = """
import base64, json, sys
import dill
provider = dill.loads(base64.b64decode(sys.argv[1]))
result = provider.create(json.load(sys.stdin))
print(json.dumps({"id": result.id, "outs": result.outs}))
"""


def test_provider_survives_dill_pickling_and_creates_in_a_fresh_process(server, signer):
    csr = server.create(genuine(NODES[0]))
    pickled = serialize_provider(ServingCsrApprovalProvider())

    completed = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_CREATE, pickled],
        input=json.dumps(props(server, NODES[:1])),
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    created = json.loads(completed.stdout)
    assert created["id"] == RESOURCE_ID
    assert created["outs"]["approved"] == {
        "node-0": {"csr": name_of(csr), "not_after": not_after_of(server, name_of(csr))}
    }
    assert f"node-0: serving CSR {name_of(csr)} approved (1/1)" in completed.stderr
    assert not shows_secret(server.token, completed.stderr)


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
        ServingCsrApprovalProvider().create(props(server, NODES[:2], timeout=1))

    logged = capsys.readouterr()
    assert "approved (1/2)" in logged.err and "denied" in logged.err
    for text in (logged.out, logged.err, error_text(raised.value)):
        assert not shows_secret(server.token, text)
        assert "certificate-authority-data" not in text


def test_the_token_is_not_in_an_authentication_error(server):
    wrong = "wrong-token-0123456789abcdef"

    with pytest.raises(client.exceptions.ApiException) as raised:
        ServingCsrApprovalProvider().create(
            {**props(server), "kubeconfig": server.kubeconfig(wrong)}
        )

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
        ServingCsrApprovalProvider().create({**props(server), "kubeconfig": kubeconfig})

    assert not shows_secret(server.token, error_text(raised.value)), str(raised.value)
