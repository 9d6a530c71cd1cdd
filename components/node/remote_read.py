"""Runs one read-only script as root on a node over SSH, as pulumi-command would connect.

Used by `pulumi refresh` (components.node.drift), which pulumi-command's commands never do:
they are not read back. The host key is pinned as for the commands (the node's, else
`ssh.hostKey`; none only where settings accepted unverified hosts), through the bastion when
there is one, and `ssh.become` runs the script through sudo the same way.
"""

from __future__ import annotations

import base64
import io
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

CONNECT_SECONDS = 20
COMMAND_SECONDS = 60


class RemoteReadError(Exception):
    """The node could not be read; the message names the host and never holds a secret."""


@dataclass(frozen=True)
class Endpoint:
    """One SSH hop: where it is, who logs in, and its pinned host key (`type base64`)."""

    host: str
    port: int
    user: str
    host_key: str | None


def read_as_root(target: Endpoint, bastion: Endpoint | None, private_key: str, command: str) -> str:
    """The stdout of `command` (already wrapped for `ssh.become`) on `target`; a
    RemoteReadError when it cannot connect, log in or the command fails."""
    import paramiko

    key = _private_key(private_key)
    where = _where(target) + (f" (through {_where(bastion)})" if bastion else "")
    try:
        with _transport(target, bastion, key) as transport:
            channel = transport.open_session(timeout=CONNECT_SECONDS)
            channel.settimeout(COMMAND_SECONDS)
            channel.exec_command(command)
            stdout = channel.makefile("rb").read().decode(errors="replace")
            stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
            if not channel.status_event.wait(COMMAND_SECONDS):
                raise RemoteReadError(f"{where}: no exit status within {COMMAND_SECONDS} s")
            status = channel.recv_exit_status()
    # paramiko raises EOFError for a server that closed the connection during the handshake.
    except (OSError, EOFError, paramiko.SSHException) as error:
        raise RemoteReadError(f"{where}: {str(error) or type(error).__name__}") from None
    if status != 0:
        last = stderr.strip().splitlines()[-1:] or ["no error output"]
        raise RemoteReadError(f"{where}: the check exited {status}: {last[0]}")
    return stdout


@contextmanager
def _transport(target: Endpoint, bastion: Endpoint | None, key: Any) -> Iterator[Any]:
    """An authenticated transport to `target`, through `bastion` when there is one."""
    with ExitStack() as hops:
        if bastion is None:
            sock = socket.create_connection((target.host, target.port), timeout=CONNECT_SECONDS)
        else:
            first = socket.create_connection((bastion.host, bastion.port), timeout=CONNECT_SECONDS)
            hop = hops.enter_context(_logged_in(first, bastion, key))
            sock = hop.open_channel(
                "direct-tcpip",
                (target.host, target.port),
                ("127.0.0.1", 0),
                timeout=CONNECT_SECONDS,
            )
        yield hops.enter_context(_logged_in(sock, target, key))


@contextmanager
def _logged_in(sock: Any, endpoint: Endpoint, key: Any) -> Iterator[Any]:
    import paramiko

    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = CONNECT_SECONDS
        transport.auth_timeout = CONNECT_SECONDS
        pinned = _pinned(endpoint.host_key)
        if pinned is not None:
            # Settings pin ed25519 or ecdsa keys only (an ssh-rsa key is refused there).
            transport.get_security_options().key_types = (pinned[0],)
        transport.start_client(timeout=CONNECT_SECONDS)
        offered = transport.get_remote_server_key()
        if pinned is not None and (offered.get_name(), offered.asbytes()) != pinned:
            raise RemoteReadError(
                f"{_where(endpoint)}: its host key is not the pinned one "
                f"({offered.get_name()} {offered.get_base64()[:16]}...): refused"
            )
        transport.auth_publickey(endpoint.user, key)
        yield transport
    finally:
        transport.close()


def _pinned(host_key: str | None) -> tuple[str, bytes] | None:
    if not host_key:
        return None
    kind, data = host_key.split()[:2]
    return kind, base64.b64decode(data)


def _private_key(text: str) -> Any:
    """The key, whichever type it is; the error never quotes it."""
    import paramiko

    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        # paramiko reports a key of another type, or a damaged one, in several ways.
        except (paramiko.SSHException, ValueError, IndexError, TypeError):
            continue
    raise RemoteReadError(
        "the SSH private key (ssh.privateKey or ssh.privateKeyFile) is not an Ed25519, ECDSA "
        "or RSA private key without a passphrase"
    )


def _where(endpoint: Endpoint) -> str:
    return f"ssh {endpoint.user}@{endpoint.host}:{endpoint.port}"
