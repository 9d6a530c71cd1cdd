"""A fake kube-apiserver over HTTPS, for tests: `with FakeApiServer() as server:`.

It exists so the program's clients (the CSR approver, the verification step, token issue,
the drain) can be tested against the official `kubernetes` client end to end, TLS and bearer
tokens included, without a cluster. This module is the server: its lifecycle, URL, CA and
kubeconfig, the bearer tokens it accepts, request counting and fault injection, and the
routing of each request to the family that serves it, each of which follows the real API
where a client can observe it:

- CertificateSigningRequests, the /approval subresource and the signer: `tests.fake_csrs`;
- Nodes, their readiness and selectors: `tests.fake_nodes`;
- ServiceAccounts, TokenRequest and the TokenReview of the tokens it issues:
  `tests.fake_accounts`;
- ClusterRoleBindings and the SubjectAccessReview a kubelet's webhook authorizer asks
  (`subject_access_review` is the same question as a hook): `tests.fake_rbac`;
- bootstrap token Secrets, node Leases and the tokencleaner (`server.tokens`):
  `tests.fake_tokens`;
- Pods, PodDisruptionBudgets, evictions, Node PATCH and DELETE, for draining a node
  (`server.workloads`): `tests.fake_workloads`.

They share one resourceVersion, as etcd's revision is shared, and one storage and watch cache
(`tests.fake_store`); errors are `Status` objects (`tests.fake_status`), so the client raises
`ApiException` with the right `status`; watches are chunked streams (`tests.fake_http`); the
cluster CA is `tests.fake_pki`'s.

`hold_next` plays a network fault rather than the API server: a connection that a NAT or load
balancer dropped without telling either end. The request is read and then nothing more comes
back (a watch gets its response headers first, as a stream dropped midway), and the connection
stays open until the hold ends, so only a client-side timeout gets the client out.

Requests to the fake itself are not authorized: every token it accepts acts as a cluster
admin.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import yaml
from cryptography import x509

from tests.fake_accounts import DEFAULT_API_AUDIENCES, FakeAccounts, IssuedToken, account_route
from tests.fake_csrs import FakeCsrs, csr_route
from tests.fake_http import ApiRequestHandler, Query, Route, TlsHttpServer, User, parse_body
from tests.fake_nodes import KUBELET_PORT, FakeNodes, node_route, node_selector
from tests.fake_pki import CertificateAuthority
from tests.fake_rbac import FakeRbac, rbac_route
from tests.fake_status import ApiError, Json, no_such_resource, unauthorized
from tests.fake_store import Clock, Revision, utc_now
from tests.fake_tokens import FakeTokens, token_route
from tests.fake_workloads import FakeWorkloads, workload_route


def route(method: str, path: str, query: Query) -> Route:
    """Map a request to the kind it is counted as; each family maps its own paths.

    CSRs: list, watch, create, get, delete, update, approval; node-list, node-watch,
    node-get; serviceaccount-create, serviceaccount-get, serviceaccount-delete, token-request;
    clusterrolebinding-create, -list, -get, -delete; subjectaccessreview; secret-create,
    secret-get, secret-delete, lease-get. (The workloads' requests are mapped before these.)
    """
    path = path.rstrip("/")
    found = (
        token_route(method, path)
        or node_route(method, path, query)
        or account_route(method, path)
        or rbac_route(method, path)
        or csr_route(method, path, query)
    )
    if found is None:
        raise no_such_resource()
    return found


@dataclass
class _Fault:
    error: ApiError
    times: int


@dataclass
class _Hold:
    seconds: float
    times: int


class _Handler(ApiRequestHandler):
    """One connection; dispatches requests to the FakeApiServer that owns the HTTP server."""

    server: _HttpServer

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        raw_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            user = fake._authenticate(self.headers.get("Authorization", ""))
            workload = workload_route(method, url.path.rstrip("/"))
            if workload is not None:
                fake._record(workload[0])
                fake._inject_fault(workload[0])
                content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                body = json.loads(raw_body or b"null") if raw_body else None
                code, payload = fake.workloads.serve(*workload, body, query, content_type)
                self.send_json(code, payload, fake.body_delays.get(workload[0], 0.0))
                return
            target = route(method, url.path, query)
            fake._record(target.kind)
            fake._inject_fault(target.kind)
            if fake._hold(target.kind, self.send_watch_headers):
                self.close_connection = True
                return
            if target.kind == "watch":
                self.watch(fake.store, query, fake.max_watch_seconds)
                return
            if target.kind == "node-watch":
                self.watch(fake.node_store, query, fake.max_watch_seconds, node_selector(query))
                return
            code, payload = fake._serve(target, parse_body(raw_body, method), user, query)
        except ApiError as error:
            code, payload = error.code, error.status()
        self.send_json(code, payload)


class _HttpServer(TlsHttpServer):
    """The fake API server's HTTP server: handlers reach the FakeApiServer as `server.fake`."""

    def __init__(self, fake: FakeApiServer, context: ssl.SSLContext) -> None:
        self.fake = fake
        super().__init__(context, _Handler)


class FakeApiServer:
    """The fake API server: `with FakeApiServer() as server:` then `server.kubeconfig()`.

    Test hooks act on the stores directly (no HTTP, not counted): create, get, list, delete,
    approve, deny, issue, bump, conflict_next_approval, compact, bookmark, fail_next,
    hold_next; for the verification step add_node, set_node_ready, set_node_unknown,
    bump_node, delete_node, get_node, list_nodes, add_service_account, delete_service_account,
    service_accounts, review_token, token_subject; add_cluster_role_binding,
    cluster_role_bindings, set_cluster_role, subject_access_review. Each family's own hooks
    are on `csrs`, `nodes`, `accounts`, `rbac`, `tokens` and `workloads`.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        clock: Clock = utc_now,
        max_watch_seconds: float = 60.0,
        signing_duration: datetime.timedelta = datetime.timedelta(days=365),
        api_audiences: Sequence[str] = DEFAULT_API_AUDIENCES,
    ) -> None:
        self.token = token or secrets.token_hex(16)
        self.max_watch_seconds = max_watch_seconds
        self._revision = Revision()
        self.ca = CertificateAuthority.create(clock())
        self.csrs = FakeCsrs(clock, self._revision, self.ca, signing_duration)
        self.store = self.csrs.store
        self.nodes = FakeNodes(clock, self._revision)
        self.node_store = self.nodes.store
        self.accounts = FakeAccounts(clock, self._revision, api_audiences)
        self.rbac = FakeRbac(clock, self._revision)
        self.tokens = FakeTokens(clock, self._revision, self.accounts.uid)
        self.workloads = FakeWorkloads(self.node_store, self._revision)
        self._users = {self.token: User("kubernetes-admin")}
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._faults: dict[str, _Fault] = {}
        self._holds: dict[str, _Hold] = {}
        self.body_delays: dict[str, float] = {}
        self._released = threading.Event()
        self._httpd: _HttpServer | None = None

    # lifecycle

    def start(self) -> FakeApiServer:
        """Serve on 127.0.0.1, an ephemeral port; a stopped server cannot be started again."""
        if self.store.closed:
            raise RuntimeError("a stopped FakeApiServer cannot be restarted; make a new one")
        self._httpd = _HttpServer(self, self.ca.server_context())
        self._httpd.serve_in_background("fake-apiserver")
        return self

    def stop(self) -> None:
        """End watch streams, stop accepting, cut idle connections, join every thread."""
        if self._httpd is None:
            return
        self._released.set()
        self.store.close(timeout=2.0)
        self.node_store.close(timeout=2.0)
        self._httpd.stop_serving()
        self._httpd = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake API server is not started")
        return f"https://127.0.0.1:{self._httpd.server_port}"

    @property
    def ca_pem(self) -> bytes:
        return self.ca.ca_pem

    def add_token(self, token: str, user: User) -> None:
        """Accept another bearer token, authenticating as `user` (e.g. a node)."""
        self._users[token] = user

    def revoke_token(self, token: str) -> None:
        """Stop accepting `token`, as a rotated credential's old one is: 401 from now on."""
        del self._users[token]

    def kubeconfig(self, token: str | None = None) -> str:
        """A kubeconfig YAML for this server: CA embedded, bearer token (default: the admin's)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fake",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "approver", "user": {"token": token or self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "approver"}}],
            "current-context": "fake",
        }
        return yaml.safe_dump(config, sort_keys=False)

    # request counting and fault injection

    def counts(self) -> Counter[str]:
        """Requests served so far by kind (list, watch, get, create, delete, update, approval,
        unauthorized; node-list, node-watch, node-get, serviceaccount-get, token-request);
        a copy."""
        with self._counts_lock:
            return Counter(self._counts)

    def reset_counts(self) -> None:
        with self._counts_lock:
            self._counts.clear()

    def delay_bodies(self, kind: str, seconds: float) -> None:
        """Send the body of each answer to `kind` (a workload request) `seconds` after its
        headers, as a busy server or network may."""
        self.body_delays[kind] = seconds

    def fail_next(
        self,
        kind: str,
        code: int = 500,
        reason: str = "InternalError",
        message: str = "injected failure",
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests of `kind` with an error Status (e.g. 503, 429)."""
        with self._counts_lock:
            self._faults[kind] = _Fault(ApiError(code, reason, message, {}), times)

    def hold_next(self, kind: str, seconds: float = 30.0, times: int = 1) -> None:
        """Go silent on the next `times` requests of `kind` for `seconds` (or until stop()).

        A dropped connection: the request is counted, a watch gets its 200 and headers (its
        stream then carries nothing, not even its end at timeoutSeconds), anything else gets
        no answer at all. When the hold ends the connection is closed without an answer.
        """
        with self._counts_lock:
            self._holds[kind] = _Hold(seconds, times)

    def _hold(self, kind: str, send_watch_headers: Callable[[], None]) -> bool:
        """Hold this request if `hold_next` asked for it: True once the hold is over."""
        with self._counts_lock:
            hold = self._holds.get(kind)
            if hold is None:
                return False
            hold.times -= 1
            if hold.times <= 0:
                del self._holds[kind]
        if kind in ("watch", "node-watch"):
            send_watch_headers()
        self._released.wait(hold.seconds)
        return True

    def _record(self, kind: str) -> None:
        with self._counts_lock:
            self._counts[kind] += 1

    def _inject_fault(self, kind: str) -> None:
        with self._counts_lock:
            fault = self._faults.get(kind)
            if fault is None:
                return
            fault.times -= 1
            if fault.times <= 0:
                del self._faults[kind]
        raise fault.error

    def _authenticate(self, header: str) -> User:
        scheme, _, token = header.partition(" ")
        user = self._users.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            self._record("unauthorized")
            raise unauthorized()
        return user

    def _serve(self, target: Route, body: Json, user: User, query: Query) -> tuple[int, Json]:
        """Answer one non-watch request from its family: (HTTP code, JSON body)."""
        kind = target.kind
        if kind.startswith("node-"):
            return self.nodes.serve(target, query)
        if kind.startswith("serviceaccount-") or kind == "token-request":
            return self.accounts.serve(target, body)
        if kind.startswith("clusterrolebinding-") or kind == "subjectaccessreview":
            return self.rbac.serve(target, body)
        if kind.startswith(("secret-", "lease-")):
            return self.tokens.serve(target, body)
        return self.csrs.serve(target, body, user)

    # --- CSRs (tests.fake_csrs) ---

    @property
    def resource_version(self) -> int:
        return self.store.resource_version

    def create(self, csr: Json) -> Json:
        """Store a CSR as given (no validation, spec.username/groups kept): the stored object."""
        return self.store.create(csr)

    def get(self, name: str) -> Json:
        return self.store.get(name)

    def list(self) -> list[Json]:
        return self.store.list()[0]

    def delete(self, name: str) -> Json:
        return self.store.delete(name)

    def approve(
        self, name: str, reason: str = "TestApprove", message: str = "approved by the test"
    ) -> Json:
        return self.csrs.approve(name, reason, message)

    def deny(
        self, name: str, reason: str = "TestDeny", message: str = "denied by the test"
    ) -> Json:
        return self.csrs.deny(name, reason, message)

    def issue(
        self,
        name: str,
        *,
        lifetime: datetime.timedelta | None = None,
        require_approved: bool = True,
    ) -> x509.Certificate:
        """Play the signer: sign the request with the test CA into status.certificate."""
        return self.csrs.issue(name, lifetime=lifetime, require_approved=require_approved)

    def bump(self, name: str) -> Json:
        """Simulate a concurrent writer: the object gets a new resourceVersion (MODIFIED)."""
        return self.store.bump(name)

    def conflict_next_approval(self, name: str) -> None:
        """Make the next approval of `name` lose a race: the object is bumped just before it."""
        self.store.conflict_next_approval(name)

    def compact(self) -> int:
        """Compact history at the current resourceVersion (returned); older watches get 410.

        Like etcd compaction it applies to every kind: CSR and Node watches alike.
        """
        self.node_store.compact()
        return self.store.compact()

    def bookmark(self) -> None:
        self.store.bookmark()

    def wait_for_watchers(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until `count` watch streams are open (so a test can change things after)."""
        if not self.store.wait_for_watchers(count, timeout):
            raise TimeoutError(f"{count} watch(es) not open after {timeout}s")

    # --- Nodes (tests.fake_nodes): the tests play the kubelets and the lifecycle controller ---

    def add_node(
        self,
        name: str,
        *,
        ready: bool,
        addresses: Sequence[tuple[str, str]] | None = None,
        kubelet_port: int = KUBELET_PORT,
        labels: dict[str, str] | None = None,
    ) -> Json:
        """Register a Node as its kubelet does (ADDED): the stored object."""
        return self.nodes.add(
            name, ready=ready, addresses=addresses, kubelet_port=kubelet_port, labels=labels
        )

    def set_node_ready(self, name: str, ready: bool) -> Json:
        """The kubelet posts its status: Ready True (KubeletReady) or False (KubeletNotReady)."""
        return self.nodes.set_ready(name, ready)

    def set_node_unknown(self, name: str) -> Json:
        """The node lifecycle controller gave up on the kubelet: every condition Unknown."""
        return self.nodes.set_unknown(name)

    def bump_node(self, name: str) -> Json:
        """A MODIFIED event that changes nothing a readiness check should look at."""
        return self.node_store.bump(name)

    def delete_node(self, name: str) -> Json:
        return self.node_store.delete(name)

    def get_node(self, name: str) -> Json:
        return self.node_store.get(name)

    def list_nodes(self) -> list[Json]:
        return self.node_store.list()[0]

    def wait_for_node_watchers(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until `count` Node watch streams are open."""
        if not self.node_store.wait_for_watchers(count, timeout):
            raise TimeoutError(f"{count} node watch(es) not open after {timeout}s")

    # --- ServiceAccounts and tokens (tests.fake_accounts) ---

    def add_service_account(
        self, namespace: str, name: str, labels: dict[str, str] | None = None
    ) -> Json:
        """Create a ServiceAccount (409 AlreadyExists if it does): the stored object."""
        metadata: Json = {"name": name, **({"labels": labels} if labels else {})}
        return self.accounts.create(namespace, {"metadata": metadata})

    def delete_service_account(self, namespace: str, name: str) -> Json:
        """Delete a ServiceAccount: the deleted object. Its tokens stop authenticating at once."""
        return self.accounts.delete(namespace, name)

    def service_accounts(self) -> list[tuple[str, str]]:
        """(namespace, name) of every ServiceAccount, sorted."""
        return self.accounts.names()

    @property
    def issued_tokens(self) -> dict[str, IssuedToken]:
        """Every token TokenRequest handed out, by token; a copy."""
        return self.accounts.issued

    def review_token(self, token: str, audiences: Sequence[str] | None = None) -> User | None:
        """What a TokenReview answers: the user a bearer token authenticates as, or None.

        This is what a kubelet with webhook authentication asks (it sends no audiences, so the
        token must be for one of `api_audiences`). Static tokens (`token`, `add_token`) pass
        as they are; a ServiceAccount token must be unexpired, for one of the audiences, and
        its ServiceAccount must still exist (the same one: a re-created account has a new uid).
        """
        if token in self._users:
            return self._users[token]
        return self.accounts.review(token, audiences)

    def token_subject(self, token: str, audiences: Sequence[str] | None = None) -> str | None:
        """The username `review_token` authenticates, e.g. `system:serviceaccount:ns:name`."""
        user = self.review_token(token, audiences)
        return user.username if user else None

    # --- RBAC (tests.fake_rbac): what a kubelet's webhook authorizer asks ---

    def add_cluster_role_binding(
        self,
        name: str,
        cluster_role: str,
        subjects: list[Json],
        labels: dict[str, str] | None = None,
    ) -> Json:
        """Bind `cluster_role` to `subjects`, as `kubectl create clusterrolebinding` does."""
        return self.rbac.add_binding(name, cluster_role, subjects, labels)

    def cluster_role_bindings(self) -> list[str]:
        """The names of every ClusterRoleBinding, sorted."""
        return [binding["metadata"]["name"] for binding in self.rbac.list_bindings()]

    def set_cluster_role(self, name: str, rules: list[Json]) -> None:
        self.rbac.set_cluster_role(name, rules)

    def subject_access_review(
        self, user: User, verb: str, resource: str, subresource: str = ""
    ) -> bool:
        """Whether RBAC allows `user` to `verb` the core `resource`/`subresource` now."""
        return self.rbac.allows(user.username, user.groups, verb, resource, subresource)
