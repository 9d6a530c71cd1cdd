"""The value checks behind the settings model, one per kind of value.

Each check takes a raw value from the stack and returns it checked (or read, for the files it
names), or fails with a message that names the value, and never a secret's content. The model
in `components.settings.model` attaches them to its keys through the annotated types below.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from cryptography import x509
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from components.settings.durations import parse_duration

_DNS_1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_ABSOLUTE_PATH = re.compile(r"^/[^\0\s'\"\\$`]*$")
_HOST_KEY_TYPE = re.compile(r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521))$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def fail(message: str) -> PydanticCustomError:
    """The error a check raises; `settings` reports its message after the key's path."""
    return PydanticCustomError("invalid", message)


def _ip(value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    # A scoped IPv6 address (fe80::1%eth0) is no address a kubelet binds or a certificate names.
    if address is None or getattr(address, "scope_id", None):
        raise fail(f"{value!r} is not an IP address")
    return str(address)


def _dns_name(value: str) -> str:
    if value.endswith(".") and _DNS_1123_SUBDOMAIN.match(value[:-1]):
        raise fail(f"{value!r} ends with a dot: write {value[:-1]!r} (no trailing dot here)")
    if len(value) > 253 or not _DNS_1123_SUBDOMAIN.match(value):
        raise fail(f"{value!r} is not a DNS-1123 name (lowercase letters, digits, '-' and '.')")
    if any(len(label) > 63 for label in value.split(".")):
        raise fail(f"{value!r} has a label longer than 63 characters")
    return value


def _runtime_endpoint(value: str) -> str:
    """The CRI socket, as the kubelet's containerRuntimeEndpoint takes it: a unix:/// URL."""
    if not re.fullmatch(r"unix:///[^\s'\"]+", value):
        socket = value.removeprefix("unix://") if value.startswith("/") else value
        hint = f": write unix://{socket}" if socket.startswith("/") else ""
        raise fail(
            f"{value!r} is not a unix socket URL like unix:///run/containerd/containerd.sock{hint}"
        )
    return value


def _node_name(value: str) -> str:
    """The kubelet puts its node name in the `kubernetes.io/hostname` label: 63 at most."""
    if len(value) > 63:
        raise fail(
            f"{value!r} is longer than 63 characters; a node name is also its "
            "kubernetes.io/hostname label"
        )
    return _dns_name(value)


def _host(value: str) -> str:
    try:
        return _ip(value)
    except PydanticCustomError:
        pass
    if len(value) > 253 or not _DNS_1123_SUBDOMAIN.match(value):
        raise fail(f"{value!r} is neither an IP address nor a DNS name")
    return _dns_name(value)


def is_host(value: Any) -> bool:
    """Whether `value` is an IP address or a DNS name, as a node's address must be."""
    try:
        _host(value)
    except (PydanticCustomError, TypeError):
        return False
    return isinstance(value, str)


def _ssh_host(port_key: str) -> Callable[[str], str]:
    """A host to SSH to; given as `host:port`, it names the key the port belongs in."""

    def check(value: str) -> str:
        try:
            return _ip(value)  # an IPv6 address may end in ':digits' too
        except PydanticCustomError:
            pass
        host, colon, port = value.rpartition(":")
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if colon and port.isdigit() and _is_host(bare):
            raise fail(f"{value!r} has a port; give the host alone and the port in {port_key}")
        return _host(value)

    return check


def _is_host(value: str) -> bool:
    try:
        _host(value)
    except PydanticCustomError:
        return False
    return True


def _san(value: str) -> str:
    if "*" in value:
        raise fail(f"{value!r} is a wildcard; a kubelet serving certificate names one host")
    return _host(value.rstrip(".").lower())


def _absolute_path(value: str) -> str:
    if not _ABSOLUTE_PATH.match(value):
        raise fail(f"{value!r} is not an absolute path without spaces or shell characters")
    return value


def _resolv_conf(value: str) -> str:
    if value != "auto" and not _ABSOLUTE_PATH.match(value):
        raise fail(
            f"{value!r} is neither 'auto' nor an absolute path without spaces or shell characters"
        )
    return value


# Where systemd looks for units (systemd.unit(5)); a unit elsewhere is never found.
UNIT_DIRECTORIES = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9:_.-]+\.service$")


def _unit_file(value: str) -> str:
    """The kubelet's unit: its file name is the unit name every systemctl call uses."""
    directory, _, name = _absolute_path(value).rpartition("/")
    if not _SERVICE_NAME.match(name):
        raise fail(f"{value!r} is not a systemd service unit (a name ending in .service)")
    if directory not in UNIT_DIRECTORIES:
        raise fail(
            f"{value!r} is not in a directory systemd loads units from "
            f"({', '.join(UNIT_DIRECTORIES)})"
        )
    return value


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise fail(f"{value!r} is not an https URL (like https://10.0.0.10:6443)")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise fail(f"{value!r} has an invalid port") from None
    return value.rstrip("/")


def _host_key(value: str) -> str:
    """An OpenSSH public host key line, as `ssh-keyscan` prints it after the host name.

    Not an RSA one: for an `ssh-rsa` host key pulumi-command offers only the SHA-1 `ssh-rsa`
    signature algorithm, which OpenSSH 8.8 and later refuse, so the connection would fail.
    """
    parts = value.split()
    if len(parts) < 2 or not _HOST_KEY_TYPE.match(parts[0]) or not _BASE64.match(parts[1]):
        raise fail(
            f"{value!r} is not an SSH public host key like 'ssh-ed25519 AAAAC3Nz...' "
            "(ssh-keyscan -t ed25519 <host> prints it)"
        )
    if parts[0] == "ssh-rsa":
        raise fail(
            "is an ssh-rsa key: pulumi-command checks it with the SHA-1 ssh-rsa algorithm, which "
            "OpenSSH 8.8+ refuses; give the host's ed25519 key (ssh-keyscan -t ed25519 <host>)"
        )
    return value


def _has_unit(value: Any) -> Any:
    """A bare number (`ttl: 24`) is the likeliest mistake: say which unit to add."""
    if type(value) is int or (isinstance(value, str) and value.isdigit()):
        raise fail(f"{value!r} has no unit; write {value}h (or {value}m, {value}s)")
    return value


def _duration(value: str) -> str:
    seconds = parse_duration(value)
    if seconds is None:
        raise fail(f"{value!r} is not a duration (like 24h, 90m or 1h30m)")
    if not 0 < seconds <= 7 * 24 * 3600:
        raise fail(f"{value!r} must be more than 0s and at most 168h")
    return value


def _local_file(value: str) -> Path:
    if "\n" in value or "PRIVATE KEY" in value:
        raise fail("is content, not a path (the value is not shown)")
    path = Path(os.path.expanduser(value))
    try:
        exists = path.is_file()
    except OSError:  # a name too long for the file system
        exists = False
    if not exists:
        raise fail(f"{value!r} does not exist or is not a file")
    return path


class CaCertificate(BaseModel):
    """The cluster CA certificate, read from `caCertFile` and checked to be a CA."""

    pem: str


def _load_ca(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    path = _local_file(value)
    data = path.read_bytes()
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise fail(f"{value!r} is not a PEM certificate") from None
    if len(certs) != 1:
        raise fail(f"{value!r} holds {len(certs)} certificates; give exactly the cluster CA")
    try:
        is_ca = certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise fail(f"{value!r} is not a CA certificate (basicConstraints CA:TRUE is missing)")
    return CaCertificate(pem=data.decode("ascii"))


def _batch_size(value: Any) -> int | str:
    """A count of nodes, or a percentage of them; `pulumi config set` may give either as text."""
    text = (
        str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    )
    if text.isdigit() and int(text) >= 1:
        return int(text)
    if text.endswith("%") and text[:-1].isdigit() and 1 <= int(text[:-1]) <= 100:
        return f"{int(text[:-1])}%"
    raise fail(f"{value!r} is neither a count of nodes (1 or more) nor a percentage (1% to 100%)")


def _load_private_key_file(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return SecretStr(_local_file(value).read_text())


def _check_private_key(value: SecretStr | None) -> SecretStr | None:
    if value is not None and "PRIVATE KEY-----" not in value.get_secret_value():
        raise fail("is not a PEM or OpenSSH private key (the content is not shown)")
    return value


IpAddress = Annotated[str, AfterValidator(_ip)]
DnsName = Annotated[str, AfterValidator(_dns_name)]
NodeName = Annotated[str, AfterValidator(_node_name)]
RuntimeEndpoint = Annotated[str, AfterValidator(_runtime_endpoint)]
SubjectAltName = Annotated[str, AfterValidator(_san)]
AbsolutePath = Annotated[str, AfterValidator(_absolute_path)]
UnitFile = Annotated[str, AfterValidator(_unit_file)]
ResolvConf = Annotated[str, AfterValidator(_resolv_conf)]
HttpsUrl = Annotated[str, AfterValidator(_https_url)]
SshHost = Annotated[str, AfterValidator(_ssh_host("ssh.port"))]
BastionHost = Annotated[str, AfterValidator(_ssh_host("ssh.bastion.port"))]
Duration = Annotated[str, BeforeValidator(_has_unit), AfterValidator(_duration)]
Port = Annotated[int, Field(ge=1, le=65535)]
BatchSize = Annotated[int | str, BeforeValidator(_batch_size)]
HostKey = Annotated[str, AfterValidator(_host_key)]
CaCertificateFile = Annotated[CaCertificate, BeforeValidator(_load_ca)]
PrivateKey = Annotated[SecretStr, AfterValidator(_check_private_key)]
PrivateKeyFile = Annotated[PrivateKey | None, BeforeValidator(_load_private_key_file)]
