"""The refresh's SSH read (components/node/remote_read.py) against a real SSH server on
loopback (tests/ssh_server.py): a pinned host key, through a bastion, as sudo would wrap it,
and each way it can fail, with a message that names the host and never the key."""

from __future__ import annotations

import io
import re
import socket
import threading
from collections.abc import Iterator

import paramiko
import pytest

from components.node.remote_read import Endpoint, RemoteReadError, read_as_root
from components.node.ssh import as_root
from tests.factories import make_ssh_key
from tests.ssh_server import SshServer, ed25519_key, ssh_server


@pytest.fixture
def client_key(ssh_key: str) -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key(io.StringIO(ssh_key))


@pytest.fixture
def node(client_key: paramiko.PKey) -> Iterator[SshServer]:
    with ssh_server("root", client_key) as server:
        yield server


def endpoint(server: SshServer, host_key: str | None = None) -> Endpoint:
    return Endpoint("127.0.0.1", server.port, server.user, host_key or server.pinned)


def test_a_pinned_node_runs_the_command_and_gives_its_output(node: SshServer, ssh_key: str) -> None:
    output = read_as_root(endpoint(node), None, ssh_key, "echo kubelet active")

    assert output == "kubelet active\n"
    assert node.commands == ["echo kubelet active"]


def test_a_node_whose_host_key_is_not_the_pinned_one_is_refused_before_logging_in(
    node: SshServer, ssh_key: str
) -> None:
    other = ed25519_key()

    with pytest.raises(RemoteReadError, match="its host key is not the pinned one") as refused:
        read_as_root(
            endpoint(node, f"{other.get_name()} {other.get_base64()}"), None, ssh_key, "true"
        )

    assert f"ssh root@127.0.0.1:{node.port}" in str(refused.value)
    assert node.commands == []


def test_without_a_pinned_key_any_host_key_is_accepted(node: SshServer, ssh_key: str) -> None:
    """Only where settings allowed it (`ssh.acceptUnverifiedHostKeys`), as pulumi-command."""
    unpinned = Endpoint("127.0.0.1", node.port, "root", None)

    assert read_as_root(unpinned, None, ssh_key, "echo ok") == "ok\n"


def test_through_a_bastion_the_node_is_reached_by_a_tunnel(
    node: SshServer, client_key: paramiko.PKey, ssh_key: str
) -> None:
    with ssh_server("jump", client_key) as bastion:
        output = read_as_root(endpoint(node), endpoint(bastion), ssh_key, "echo through")

    assert output == "through\n"
    assert list(bastion.forwarded.values()) == [("127.0.0.1", node.port)]
    assert bastion.commands == [] and node.commands == ["echo through"]


def test_a_command_that_fails_is_an_error_with_its_last_line(node: SshServer, ssh_key: str) -> None:
    script = as_root("echo one >&2; echo 'sudo: a password is required' >&2; exit 1", "sudo")
    failing = script.replace("sudo -n sh -c", "sh -c")  # the server's user is root already

    with pytest.raises(RemoteReadError, match="the check exited 1: sudo: a password is required"):
        read_as_root(endpoint(node), None, ssh_key, failing)


def test_a_key_the_node_does_not_know_and_a_closed_port_are_errors(
    node: SshServer, ssh_key: str
) -> None:
    stranger = make_ssh_key()

    with pytest.raises(
        RemoteReadError, match=re.escape(f"ssh root@127.0.0.1:{node.port}: ")
    ) as denied:
        read_as_root(endpoint(node), None, stranger, "true")
    closed = Endpoint("127.0.0.1", 1, "root", node.pinned)
    with pytest.raises(RemoteReadError, match=re.escape("ssh root@127.0.0.1:1: ")):
        read_as_root(closed, None, ssh_key, "true")

    assert "PRIVATE KEY" not in str(denied.value)
    assert node.commands == []


def test_a_server_that_hangs_up_during_the_handshake_is_an_error_not_a_crash(
    ssh_key: str,
) -> None:
    """paramiko raises EOFError there; the refresh must say "not checked", not fail."""
    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        connection, _ = listener.accept()
        connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    port = listener.getsockname()[1]
    try:
        with pytest.raises(RemoteReadError, match=re.escape(f"ssh root@127.0.0.1:{port}: ")):
            read_as_root(Endpoint("127.0.0.1", port, "root", None), None, ssh_key, "true")
    finally:
        listener.close()
