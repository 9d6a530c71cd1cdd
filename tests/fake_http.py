"""The HTTP side of the fakes: a TLS server, its request handlers, and what a request says.

`TlsHttpServer` and `TlsRequestHandler` serve HTTP/1.1 over TLS on 127.0.0.1 for the fake
API server and the fake kubelets alike. `ApiRequestHandler` answers the way kube-apiserver
does on the wire: JSON bodies with a Content-Length, and a WATCH as a chunked stream of
newline-delimited JSON events that ends at `timeoutSeconds` (or when the server stops); a
watch from a compacted resourceVersion gets an `ERROR` event with the 410 `Expired` Status
inside a 200 stream, exactly as the watch cache answers (the official client retries once,
then raises ApiException(410)).

A request is read into a `Route` (the kind it is counted as, and the object it names) and the
`User` its bearer token authenticates as; the query parameters are read as the API server
reads them (`watch`, `timeoutSeconds`, `resourceVersion`), and a malformed one is a 400.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_status import ApiError, Json, bad_request
from tests.fake_store import ObjectStore

Query = dict[str, list[str]]


@dataclass(frozen=True)
class Route:
    """What a request asks for: a counted `kind`, the object name and namespace, if any."""

    kind: str
    name: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class User:
    """Who a bearer token authenticates as; the API server copies it into a new CSR's spec."""

    username: str
    groups: tuple[str, ...] = ("system:masters", "system:authenticated")
    uid: str = ""


# --- the query and the body, read as the API server reads them -----------------------------------


def flag(query: Query, key: str) -> bool:
    return query.get(key, ["false"])[0].lower() in ("true", "1")


def _seconds(query: Query, key: str, default: float) -> float:
    value = query.get(key, [""])[0]
    if not value:
        return default
    try:
        return float(value)
    except ValueError as error:
        raise bad_request(f'invalid {key} "{value}"') from error


def _resource_version(query: Query) -> int | None:
    value = query.get("resourceVersion", [""])[0]
    if value in ("", "0"):
        return None
    if not value.isdigit():
        raise bad_request(f'invalid resource version "{value}"')
    return int(value)


def parse_body(raw: bytes, method: str) -> Json:
    if method not in ("POST", "PUT"):
        return {}
    try:
        body = json.loads(raw or b"null")
    except json.JSONDecodeError as error:
        raise bad_request(f"couldn't get version/kind; json parse error: {error}") from error
    if not isinstance(body, dict):
        raise bad_request("the body of the request was in an unknown format")
    return body


# --- the server and its handlers -----------------------------------------------------------------


class TlsRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 over a connection of a TlsHttpServer: handshake in its own thread, no logging."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # watch events are small writes that must leave at once

    def setup(self) -> None:
        # The TLS handshake runs here, in the connection's thread, not in the accept loop.
        self.request.settimeout(5)
        self.request.do_handshake()
        self.request.settimeout(None)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request counter is the log tests read."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        """Answer one request; subclasses implement it."""
        raise NotImplementedError


class ApiRequestHandler(TlsRequestHandler):
    """A handler that answers as the API server does: JSON bodies and chunked watch streams."""

    def send_json(self, code: int, payload: Json, body_delay: float = 0.0) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body_delay:
            self.wfile.flush()
            time.sleep(body_delay)
        self.wfile.write(data)

    def watch(
        self,
        store: ObjectStore,
        query: Query,
        max_seconds: float,
        accepts: Callable[[Json], bool] | None = None,
    ) -> None:
        """Chunked newline-delimited JSON events until timeoutSeconds or server stop."""
        since = _resource_version(query)
        timeout = _seconds(query, "timeoutSeconds", max_seconds)
        self.send_watch_headers()
        try:
            bookmarks = flag(query, "allowWatchBookmarks")
            watcher = store.subscribe(since, bookmarks=bookmarks, accepts=accepts)
        except ApiError as error:  # too old: the watch cache answers with an ERROR event
            self._write_chunk({"type": "ERROR", "object": error.status()})
            self.wfile.write(b"0\r\n\r\n")
            return
        try:
            for event in watcher.stream(time.monotonic() + timeout):
                self._write_chunk(event)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away (or stop() cut the connection)
            self.close_connection = True
        finally:
            store.unsubscribe(watcher)

    def send_watch_headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _write_chunk(self, event: Json) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))


class TlsHttpServer(ThreadingHTTPServer):
    """ThreadingHTTPServer over TLS that remembers its connections so stop() can cut them.

    Binds 127.0.0.1 on an ephemeral port. Shared by the fake API server and the fake kubelet.
    """

    daemon_threads = False  # server_close() joins every connection thread
    block_on_close = True

    def __init__(self, context: ssl.SSLContext, handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]

    def serve_in_background(self, name: str) -> None:
        """Serve from a thread of its own until `stop_serving`."""
        self._serving = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._serving.start()

    def stop_serving(self) -> None:
        """Stop accepting, cut idle keep-alive connections, join every thread."""
        self.shutdown()
        self.cut_connections()
        self.server_close()
        self._serving.join()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Unblock threads reading idle keep-alive connections (shutdown, not close)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection-level failures (TLS refused, client gone) are normal in tests."""
