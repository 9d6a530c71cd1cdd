"""A fake kubelet HTTPS API (the one on port 10250), for testing the verification step.

The verification step proves the kubelets are locked down the way the tutorial configures
them: `authentication.anonymous.enabled: false`, `authentication.webhook.enabled: true`,
`authorization.mode: Webhook`, and a serving certificate signed by the cluster CA (through
serverTLSBootstrap). Against such a kubelet an anonymous `GET /metrics` is a 401, and a
ServiceAccount token is a 200 only if the API server's SubjectAccessReview allows
`get nodes/metrics`. This fake answers exactly that way, with the kubelet's bodies:

- no usable bearer token: 401 `Unauthorized` (or, with anonymous auth enabled, the request is
  `system:anonymous` and goes on to authorization);
- a bearer token the API server does not authenticate (TokenReview): 401 `Unauthorized`, even
  with anonymous auth enabled, as the kubelet's union authenticator fails on an invalid token;
- authenticated but not authorized: 403 `Forbidden (user=..., verb=get, resource=nodes,
  subresource=metrics)`;
- authorized: `/metrics` in the Prometheus text format, `/healthz`, `/pods`; 404 otherwise.

Authentication asks a callback, normally `FakeApiServer.review_token` (what the kubelet's
webhook TokenReview asks the real API server). Authorization asks another, normally
`FakeApiServer.subject_access_review` (its SubjectAccessReview, answered by the cluster's RBAC),
and also allows a configurable set of usernames and `system:masters`. The knobs `anonymous_auth` and
`authorization_mode="AlwaysAllow"` make the misconfigured kubelet the verification must catch
(both are the kubelet's defaults when it runs without a config file). Client certificates,
TokenReview/SubjectAccessReview caching and the kubelet's other endpoints are not modelled.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.fake_apiserver import FakeApiServer
from tests.fake_http import TlsHttpServer, TlsRequestHandler, User
from tests.fake_nodes import FAKE_KUBELET_VERSION
from tests.fake_pki import CertificateAuthority, private_key_pem, server_context_from_pem
from tests.fake_store import utc_now

ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A token -> who it is (a User, or just a username), or None if it does not authenticate.
Authenticator = Callable[[str], User | str | None]
# (user, verb, resource, subresource) -> whether the cluster allows it.
Authorizer = Callable[[User, str, str, str], bool]
AuthorizationMode = Literal["Webhook", "AlwaysAllow"]

# HTTP method -> the verb the kubelet authorizes (pkg/kubelet/server/auth.go).
_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update"}
_VERBS |= {"PATCH": "patch", "DELETE": "delete"}
# Path prefix -> subresource of nodes the kubelet authorizes; anything else is "proxy".
_SUBRESOURCES = {"/stats": "stats", "/metrics": "metrics", "/logs": "log", "/spec": "spec"}


def _no_tokens(token: str) -> None:
    return None


def _no_grants(user: User, verb: str, resource: str, subresource: str) -> bool:
    return False


@dataclass(frozen=True)
class KubeletRequest:
    """One request the fake kubelet answered, for tests to assert who got what."""

    method: str
    path: str
    user: str | None  # who it authenticated as; None when it was a 401
    code: int


class FakeKubelet:
    """`with FakeKubelet(server.ca, authenticate=server.review_token) as kubelet:`.

    `ca` signs the serving certificate (IP SANs `ips`, DNS SAN `node_name`, subject
    `system:node:<node_name>` / `system:nodes`, as kubelet-serving certificates are); None
    makes it self-signed, as a kubelet without serverTLSBootstrap does, so verification
    against the cluster CA fails while the names still match. `certificate`, PEM certificate
    and key, is served as it is instead: the one the signer issued for the kubelet's own CSR.
    `authorize` is the cluster's SubjectAccessReview; `authorized` is a set of usernames
    allowed everything besides, which can be changed while serving.
    """

    address = "127.0.0.1"

    def __init__(
        self,
        ca: CertificateAuthority | None,
        *,
        authenticate: Authenticator = _no_tokens,
        authorize: Authorizer = _no_grants,
        authorized: Iterable[str] = (),
        anonymous_auth: bool = False,
        authorization_mode: AuthorizationMode = "Webhook",
        node_name: str = "node-0",
        ips: Sequence[str] = ("127.0.0.1",),
        certificate: tuple[bytes, bytes] | None = None,
    ) -> None:
        self.node_name = node_name
        self.authorized = set(authorized)
        self.anonymous_auth = anonymous_auth
        self.authorization_mode = authorization_mode
        self._authenticate_token = authenticate
        self._authorize = authorize
        if certificate is not None:
            self.certificate_pem, key_pem = certificate
        elif ca is None:
            self.certificate_pem, key_pem = self_signed_certificate(node_name, ips)
        else:
            self.certificate_pem, key_pem = ca.issue_server_certificate(
                ips=ips,
                dns=[node_name],
                common_name=f"system:node:{node_name}",
                organization="system:nodes",
            )
        self._context = server_context_from_pem(self.certificate_pem, key_pem)
        self._counts: Counter[str] = Counter()
        self._requests: list[KubeletRequest] = []
        self._lock = threading.Lock()
        self._httpd: _KubeletHttpServer | None = None

    @classmethod
    def for_cluster(
        cls, server: FakeApiServer, *, self_signed: bool = False, **kwargs: Any
    ) -> FakeKubelet:
        """A kubelet of `server`'s cluster: certificate from its CA, tokens it reviews, access
        its RBAC grants."""
        ca = None if self_signed else server.ca
        kwargs.setdefault("authorize", server.subject_access_review)
        return cls(ca, authenticate=server.review_token, **kwargs)

    # lifecycle

    def start(self) -> FakeKubelet:
        """Serve HTTPS on 127.0.0.1, an ephemeral port (`port`)."""
        if self._httpd is not None:
            raise RuntimeError("the fake kubelet is already serving")
        self._httpd = _KubeletHttpServer(self, self._context)
        self._httpd.serve_in_background(f"fake-kubelet-{self.node_name}")
        return self

    def stop(self) -> None:
        """Stop accepting, cut idle keep-alive connections, join every thread."""
        if self._httpd is None:
            return
        self._httpd.stop_serving()
        self._httpd = None

    def __enter__(self) -> FakeKubelet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake kubelet is not started")
        return self._httpd.server_port

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    # what happened

    def counts(self) -> Counter[str]:
        """Answers so far by outcome: unauthorized, forbidden, or the subresource served
        (metrics, proxy, ...) and not-found; a copy."""
        with self._lock:
            return Counter(self._counts)

    def requests(self) -> list[KubeletRequest]:
        with self._lock:
            return list(self._requests)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self._requests.clear()

    def _record(self, outcome: str, request: KubeletRequest) -> None:
        with self._lock:
            self._counts[outcome] += 1
            self._requests.append(request)

    # authentication and authorization, as the kubelet's filter does them

    def authenticate(self, authorization: str | None) -> User | None:
        """The user an Authorization header authenticates as, or None (a 401)."""
        token = _bearer_token(authorization or "")
        if token is None:
            return ANONYMOUS if self.anonymous_auth else None
        user = self._authenticate_token(token)
        if isinstance(user, str):
            return User(user, ("system:authenticated",))
        return user

    def authorize(self, user: User, verb: str, subresource: str) -> bool:
        """The SubjectAccessReview for `verb` on nodes/`subresource` of this node."""
        if self.authorization_mode == "AlwaysAllow":
            return True
        if user.username in self.authorized or "system:masters" in user.groups:
            return True
        return self._authorize(user, verb, "nodes", subresource)

    def metrics(self) -> str:
        """A few lines of what a kubelet's /metrics serves, in the Prometheus text format."""
        return (
            "# HELP kubelet_node_name [ALPHA] The node's name. The count is always 1.\n"
            "# TYPE kubelet_node_name gauge\n"
            f'kubelet_node_name{{node="{self.node_name}"}} 1\n'
            "# HELP kubelet_running_pods [ALPHA] Number of pods that have a running pod "
            "sandbox\n"
            "# TYPE kubelet_running_pods gauge\n"
            "kubelet_running_pods 0\n"
            "# HELP kubernetes_build_info [ALPHA] A metric with a constant '1' value labeled by "
            "major, minor, git version, git commit, git tree state, build date, Go version, "
            "and compiler from which Kubernetes was built, and platform on which it is "
            "running.\n"
            "# TYPE kubernetes_build_info gauge\n"
            f'kubernetes_build_info{{git_version="{FAKE_KUBELET_VERSION}",'
            'platform="linux/amd64"} 1\n'
        )


def _bearer_token(header: str) -> str | None:
    """The token of `Authorization: Bearer <token>`, parsed as Go's bearertoken does."""
    parts = header.strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


def _subresource(path: str) -> str:
    for prefix, subresource in _SUBRESOURCES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return subresource
    return "proxy"


def self_signed_certificate(node_name: str, ips: Sequence[str]) -> tuple[bytes, bytes]:
    """A self-signed serving certificate named like a kubelet's own (`<host>@<unix time>`),
    with the same SANs a CA-signed one gets: only its issuer is wrong."""
    now = utc_now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@{int(now.timestamp())}")]
    )
    sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([*sans, x509.DNSName(node_name)]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), private_key_pem(key)


class _KubeletHttpServer(TlsHttpServer):
    def __init__(self, kubelet: FakeKubelet, context: ssl.SSLContext) -> None:
        self.kubelet = kubelet
        super().__init__(context, _KubeletHandler)


class _KubeletHandler(TlsRequestHandler):
    """The kubelet's auth filter, then its handlers; bodies and codes as go-restful writes."""

    server: _KubeletHttpServer

    def _handle(self, method: str) -> None:
        kubelet = self.server.kubelet
        path = urlsplit(self.path).path
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        user = kubelet.authenticate(self.headers.get("Authorization"))
        if user is None:
            self._answer("unauthorized", method, path, None, 401, "Unauthorized")
            return
        verb, subresource = _VERBS[method], _subresource(path)
        if not kubelet.authorize(user, verb, subresource):
            message = (
                f"Forbidden (user={user.username}, verb={verb}, resource=nodes, "
                f"subresource={subresource})"
            )
            self._answer("forbidden", method, path, user.username, 403, message)
            return
        if method != "GET":
            self._answer("not-allowed", method, path, user.username, 405, "Method Not Allowed")
        elif path == "/metrics":
            body = kubelet.metrics()
            self._answer(subresource, method, path, user.username, 200, body, METRICS_CONTENT_TYPE)
        elif path == "/healthz":
            self._answer(subresource, method, path, user.username, 200, "ok")
        elif path == "/pods":
            pods = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []})
            self._answer(subresource, method, path, user.username, 200, pods, "application/json")
        else:
            self._answer("not-found", method, path, user.username, 404, "404 page not found\n")

    def _answer(
        self,
        outcome: str,
        method: str,
        path: str,
        user: str | None,
        code: int,
        body: str,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        self.server.kubelet._record(outcome, KubeletRequest(method, path, user, code))
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
