"""An SSH server on loopback, for the refresh's SSH read (components/node/remote_read.py).

paramiko's own server side: one public key may log in as one user; `exec` runs the command
with `sh -c` on this machine and returns its output and exit status; a `direct-tcpip` channel
(a bastion's) is forwarded to the address it names. Each server has its own Ed25519 host key.
"""

from __future__ import annotations

import io
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import paramiko

from tests.factories import make_ssh_key


def ed25519_key() -> paramiko.Ed25519Key:
    return paramiko.Ed25519Key.from_private_key(io.StringIO(make_ssh_key()))


@dataclass
class SshServer:
    user: str
    client_key: paramiko.PKey
    host_key: paramiko.Ed25519Key = field(default_factory=ed25519_key)
    commands: list[str] = field(default_factory=list)
    forwarded: dict[int, tuple[str, int]] = field(default_factory=dict)
    """Each direct-tcpip channel's destination, by channel id."""
    port: int = 0

    @property
    def pinned(self) -> str:
        """Its host key as `ssh.hostKey` pins it."""
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"


class _Handler(paramiko.ServerInterface):
    def __init__(self, server: SshServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == self.server.user and key == self.server.client_key:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        self.server.forwarded[chanid] = destination
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
        self.server.commands.append(command.decode())
        threading.Thread(target=_run, args=(channel, command.decode()), daemon=True).start()
        return True


def _run(channel: Any, command: str) -> None:
    result = subprocess.run(["sh", "-c", command], capture_output=True, timeout=60, check=False)
    channel.sendall(result.stdout)
    channel.sendall_stderr(result.stderr)
    channel.send_exit_status(result.returncode)
    # EOF, not close: a close can reach the client before the server's reply to its exec
    # request (paramiko answers once check_channel_exec_request returns), failing the exec.
    channel.shutdown_write()


def _pipe(source: Any, sink: Any) -> None:
    try:
        while data := source.recv(32768):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        sink.close()


def _serve(listener: socket.socket, server: SshServer) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        transport = paramiko.Transport(connection)
        transport.add_server_key(server.host_key)
        try:
            transport.start_server(server=_Handler(server))
        except (paramiko.SSHException, EOFError, OSError):
            continue
        threading.Thread(target=_forward_channels, args=(transport, server), daemon=True).start()


def _forward_channels(transport: paramiko.Transport, server: SshServer) -> None:
    """Forwards each direct-tcpip channel to its destination; session channels run by
    themselves (`check_channel_exec_request`)."""
    while transport.is_active():
        channel = transport.accept(timeout=1)
        if channel is None or channel.get_id() not in server.forwarded:
            continue
        upstream = socket.create_connection(server.forwarded[channel.get_id()], timeout=10)
        upstream.settimeout(None)  # a quiet tunnel stays open
        threading.Thread(target=_pipe, args=(channel, upstream), daemon=True).start()
        threading.Thread(target=_pipe, args=(upstream, channel), daemon=True).start()


@contextmanager
def ssh_server(user: str, client_key: paramiko.PKey) -> Iterator[SshServer]:
    """A server on 127.0.0.1 at `.port` until the context ends."""
    server = SshServer(user, client_key)
    listener = socket.create_server(("127.0.0.1", 0))
    server.port = listener.getsockname()[1]
    threading.Thread(target=_serve, args=(listener, server), daemon=True).start()
    try:
        yield server
    finally:
        listener.close()
