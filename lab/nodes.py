"""The lab's SSH nodes: worker-node stand-ins on this machine that a real ssh client can reach.

Each node is a network namespace behind one host bridge, with its own hostname, its own root
(an overlay of the host's `/`, so writes stay in the node) and a real OpenSSH server chrooted
into that root. The program's remote commands thus run as they would on a worker, and a test
can look at what they left behind in the node's upper dir.

This one file has two roles, so that the lab stays one stdlib-only module:
on the host it builds and removes the nodes (`python -m lab.nodes up --count 3` / `down`) and
offers helpers for tests; copied into a node it is that node's `systemctl`, `journalctl`,
`swapoff` and `swapon` (chosen by the name it is called under), because a node has no systemd
of its own and must never switch off the host's swap. Every stand-in call is logged in the node.

Limits: units run without a supervisor (`Restart=` is ignored, no exit status is kept, a dead
main process reads as `inactive`), `daemon-reload` is a no-op because units are read at each
start, ExecStart gets no `$VAR` expansion and `EnvironmentFile=` is ignored.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# --- the lab network: private addresses on a bridge that only this machine has --------------------

BRIDGE = "kblab0"
HOST_ADDRESS = "10.77.0.1"
PREFIX_LENGTH = 24
NETNS_PREFIX = "kblab-node"
VETH_PREFIX = "kblab-v"
SSH_PORT = 22
MAX_NODES = 200

# Like lab/paths.py (not imported: this file must also run alone inside a node), `LAB_DIR`
# moves the lab's directory; the nodes live in its `nodes/` unless --state-dir says otherwise.
DEFAULT_STATE_DIR = (
    Path(os.environ.get("LAB_DIR", Path(__file__).resolve().parent.parent / ".lab")) / "nodes"
)
SSHD = "/usr/sbin/sshd"
SSHD_PRIVSEP_DIR = Path("/run/sshd")
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SSHD_START_TIMEOUT = 30.0
PROCESS_STOP_TIMEOUT = 10.0
HOST_TOOLS = ("ip", "nsenter", "unshare", "mount", "umount", "chroot", "ssh-keygen", "sysctl")

# --- inside a node: where the stand-ins keep their state (paths in the node's root) ---------------

CALL_LOG = Path("/var/log/lab-systemctl.log")
UNIT_DIR = Path("/etc/systemd/system")
SERVICE_RUN_DIR = Path("/run/lab-systemd")
UNIT_LOG_DIR = Path("/var/log/lab-units")
STAND_IN_SCRIPT = Path("/usr/lib/kblab/nodes.py")
STAND_IN_LINKS = {
    "systemctl": Path("/usr/bin/systemctl"),
    "journalctl": Path("/usr/bin/journalctl"),
    "swapoff": Path("/usr/sbin/swapoff"),
    "swapon": Path("/usr/sbin/swapon"),
}
UNIT_TYPES = ("service", "socket", "target", "swap", "mount", "automount", "timer", "path", "slice")


class LabError(RuntimeError):
    """The lab could not be built or removed; the message says which step and why."""


@dataclass(frozen=True)
class Node:
    """One lab node, numbered from 1; every name and address derives from the number."""

    index: int

    @property
    def name(self) -> str:
        return f"{NETNS_PREFIX}{self.index}"

    @property
    def netns(self) -> str:
        return self.name

    @property
    def address(self) -> str:
        return f"10.77.0.{10 + self.index}"

    @property
    def veth(self) -> str:
        return f"{VETH_PREFIX}{self.index}"


# --- state dir layout -----------------------------------------------------------------------------


def node_dir(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The host directory holding one node's keys, config, logs and overlay layers."""
    return Path(state_dir).resolve() / name


def node_root(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The node's `/` as the host sees it (the overlay mount point)."""
    return node_dir(name, state_dir) / "root"


def node_upper(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The overlay's upper dir: exactly what the node changed relative to the host."""
    return node_dir(name, state_dir) / "upper"


def client_key_path(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The lab's SSH client private key, the one every node authorizes for root."""
    return Path(state_dir).resolve() / "client" / "id_ed25519"


def state_file(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """The JSON file describing the running nodes (name, address, port, pinned host key)."""
    return Path(state_dir).resolve() / "nodes.json"


def known_hosts_file(state_dir: Path = DEFAULT_STATE_DIR) -> Path:
    """A known_hosts file with every node's host key, for `ssh -o UserKnownHostsFile=`."""
    return Path(state_dir).resolve() / "known_hosts"


def in_node(root: Path, path: Path) -> Path:
    """Maps an absolute path inside a node to the host path under the node's root."""
    return root / path.relative_to("/")


# --- running host commands ------------------------------------------------------------------------


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a host command, capturing output; a failure raises with its stderr, so a broken
    step names itself instead of leaving a half-built lab."""
    result = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, check=False, env=env
    )
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise LabError(f"`{shlex.join(argv)}` failed with {result.returncode}: {detail}")
    return result


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Runs `ip`, inside a node's network namespace when one is given, and returns its output."""
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return run([*prefix, *args], check=check).stdout


def require_host() -> None:
    """Fails early, with the reason, where the lab cannot work: not root, or a tool missing."""
    if os.geteuid() != 0:
        raise LabError("the lab nodes need root (network namespaces, mounts, sshd)")
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LabError(f"the lab nodes need these host tools: {', '.join(missing)}")


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None when the file is missing, empty or garbled (a crash)."""
    try:
        first = path.read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.isdigit() else None


def ensure_openssh() -> None:
    """Installs Debian's openssh-server when sshd is missing, since the nodes run the real one."""
    if Path(SSHD).exists():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "openssh-server"], env=env)
    stop_packaged_sshd()


def stop_packaged_sshd() -> None:
    """Stops an sshd the package's install script may have started on the host's addresses:
    the lab must not open the host's port 22."""
    pid = read_pid(Path("/run/sshd.pid"))
    if pid is not None and Path(f"/proc/{pid}/exe").resolve() == Path(SSHD):
        stop_processes(lambda: [pid] if is_alive(pid) else [], "the packaged sshd")


# --- keys and the state dir -----------------------------------------------------------------------


def check_state_dir(state_dir: Path) -> None:
    """Refuses a state dir that sshd would refuse as a chroot (any path component not root's or
    writable by group or others, as under /tmp) or that an overlay mount option cannot name."""
    if any(char in str(state_dir) for char in ",:\\ "):
        raise LabError(f"state dir {state_dir}: no commas, colons, backslashes or spaces allowed")
    for part in [state_dir, *state_dir.parents]:
        if not part.exists():
            continue
        stat = part.stat()
        if stat.st_uid != 0 or stat.st_mode & 0o022:
            raise LabError(
                f"state dir {state_dir}: {part} is not root's or is writable by group or others, "
                "so sshd would refuse to chroot below it (choose a dir outside /tmp)"
            )


def make_dir(path: Path, mode: int = 0o755) -> Path:
    """Creates a directory with an exact mode (umask aside), because sshd checks the modes."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    return path


def public_key(private_key: Path) -> str:
    """The `ssh-ed25519 AAAA...` part of a key's public line, without the comment."""
    fields = private_key.with_name(private_key.name + ".pub").read_text().split()
    return " ".join(fields[:2])


def ensure_key(private_key: Path, comment: str) -> str:
    """Creates an ed25519 key pair once and returns its public key; keys outlive `down`, so a
    stack that pinned a node's host key keeps working across lab restarts."""
    if not private_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(private_key)])
    return public_key(private_key)


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Writes a file atomically with an exact mode, so readers never see half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


# --- network --------------------------------------------------------------------------------------


def check_subnet_free() -> None:
    """Refuses to build the bridge when 10.77.0.0/24 is already in use on this machine."""
    taken = [line for line in ip("-o", "-4", "addr", "show").splitlines() if " 10.77.0." in line]
    routes = ip("-4", "route", "show", "to", "match", HOST_ADDRESS).splitlines()
    taken += [line for line in routes if not line.startswith("default")]
    if taken:
        raise LabError(f"the lab subnet 10.77.0.0/24 is already in use: {taken}")


def disable_host_ipv6(ifname: str) -> None:
    """Keeps a lab interface off IPv6 so it sends nothing (no router solicitations, no DAD)."""
    knob = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
    if knob.exists():
        knob.write_text("1")


def create_bridge() -> None:
    """Creates the host side of the lab: a bridge holding the host's lab address, which does
    not forward what the nodes send elsewhere (until someone sets the global ip_forward)."""
    check_subnet_free()
    ip("link", "add", BRIDGE, "type", "bridge")
    disable_host_ipv6(BRIDGE)
    Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/forwarding").write_text("0")
    ip("addr", "add", f"{HOST_ADDRESS}/{PREFIX_LENGTH}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")


def create_node_network(node: Node) -> None:
    """Gives a node its network namespace, a veth into the bridge, its address and a default
    route via the host (which does not forward: a node reaches only the lab subnet)."""
    ip("netns", "add", node.netns)
    if Path("/proc/sys/net/ipv6").exists():
        run(
            [
                "ip",
                "netns",
                "exec",
                node.netns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]
        )
    ip("link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
    disable_host_ipv6(node.veth)
    ip("link", "set", node.veth, "master", BRIDGE, "up")
    ip("addr", "add", f"{node.address}/{PREFIX_LENGTH}", "dev", "eth0", netns=node.netns)
    ip("link", "set", "lo", "up", netns=node.netns)
    ip("link", "set", "eth0", "up", netns=node.netns)
    ip("route", "add", "default", "via", HOST_ADDRESS, netns=node.netns)


def lab_netns() -> list[str]:
    """The lab's network namespaces that exist now, whoever created them."""
    names = (line.split()[0] for line in ip("netns", "list").splitlines() if line.strip())
    return [name for name in names if name.startswith(NETNS_PREFIX)]


def lab_links() -> list[str]:
    """The lab's host interfaces that exist now: veths first, the bridge last."""
    names = [line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link").splitlines()]
    veths = [name for name in names if name.startswith(VETH_PREFIX)]
    return veths + [name for name in names if name == BRIDGE]


# --- the node's root ------------------------------------------------------------------------------


def bind_host_tree(source: str, target: Path) -> None:
    """Bind-mounts a host tree with its submounts, as a slave so that unmounting it in the node
    can never unmount anything on the host."""
    run(["mount", "--rbind", source, str(target)])
    run(["mount", "--make-rslave", str(target)])


def mount_node_root(node: Node, state_dir: Path) -> Path:
    """Mounts the node's `/`: an overlay of the host's `/` (writes land in the node's upper dir),
    the host's /proc, /dev (with /dev/kmsg) and cgroup hierarchies, a sysfs of the node's own
    network namespace, and a fresh /run so no node sees another's sockets or pid files."""
    base = node_dir(node.name, state_dir)
    root, upper, work = (make_dir(base / part) for part in ("root", "upper", "work"))
    overlay = f"lowerdir=/,upperdir={upper},workdir={work}"
    run(["mount", "-t", "overlay", "-o", overlay, node.name, str(root)])
    bind_host_tree("/proc", root / "proc")
    bind_host_tree("/dev", root / "dev")
    sysfs = ["mount", "-t", "sysfs", "-o", "nosuid,nodev,noexec", "sysfs", str(root / "sys")]
    run(["nsenter", f"--net=/run/netns/{node.netns}", *sysfs])
    bind_host_tree("/sys/fs/cgroup", root / "sys" / "fs" / "cgroup")
    tmpfs_options = "mode=0755,nosuid,nodev,size=256m"
    run(["mount", "-t", "tmpfs", "-o", tmpfs_options, "kblab-run", str(root / "run")])
    make_dir(root / "run" / "lock", 0o1777)
    return root


def install_stand_ins(root: Path) -> None:
    """Puts this file into the node as its systemctl, journalctl, swapoff and swapon, shadowing
    the host's binaries for this node only (the writes land in the node's upper dir)."""
    script = in_node(root, STAND_IN_SCRIPT)
    make_dir(script.parent)
    write_file(script, "#!/usr/bin/python3 -I\n" + Path(__file__).read_text(), 0o755)
    for link in STAND_IN_LINKS.values():
        target = in_node(root, link)
        target.unlink(missing_ok=True)
        target.symlink_to(STAND_IN_SCRIPT)


def prepare_node_files(node: Node, root: Path) -> None:
    """Writes what makes the node look like its own machine (hostname, hosts) and keeps name
    lookups inside it: no nameserver a node could reach, so a lookup fails at once instead of
    sending queries towards the host's DNS server."""
    write_file(root / "etc" / "hostname", f"{node.name}\n")
    write_file(root / "etc" / "hosts", f"127.0.0.1\tlocalhost\n{node.address}\t{node.name}\n")
    write_file(root / "etc" / "resolv.conf", "# lab node: no DNS\nnameserver 127.0.0.1\n")
    install_stand_ins(root)


# --- sshd -----------------------------------------------------------------------------------------


def sshd_config(node: Node, state_dir: Path, authorized_keys: Path) -> str:
    """A node's own sshd configuration: its address only, its host key, root by key only,
    chrooted into the node's root; no AcceptEnv, like Debian's default for PULUMI_* variables."""
    base = node_dir(node.name, state_dir)
    return "\n".join(
        [
            f"# Lab node {node.name}, written by lab/nodes.py; only this node's sshd reads it.",
            f"ListenAddress {node.address}:{SSH_PORT}",
            f"HostKey {base / 'ssh_host_ed25519_key'}",
            f"PidFile {base / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized_keys}",
            f"ChrootDirectory {base / 'root'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "X11Forwarding no",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def start_sshd(node: Node, state_dir: Path, authorized_keys: Path) -> None:
    """Starts the node's sshd inside its network namespace and a UTS namespace named after the
    node (so `hostname` in a session prints the node's name), and waits until it answers."""
    base = node_dir(node.name, state_dir)
    config = base / "sshd_config"
    write_file(config, sshd_config(node, state_dir, authorized_keys), 0o600)
    make_dir(SSHD_PRIVSEP_DIR)
    run([SSHD, "-t", "-f", str(config)])
    namespaces = ["ip", "netns", "exec", node.netns, "unshare", "--uts", "--"]
    start = 'hostname "$1" && exec "$2" -f "$3" -E "$4"'
    log = str(base / "sshd.log")
    run([*namespaces, "/bin/sh", "-c", start, "sh", node.name, SSHD, str(config), log])
    wait_for_ssh_banner(node, base / "sshd.log")


def wait_for_ssh_banner(node: Node, log: Path) -> None:
    """Waits until the node's sshd sends its banner, proving it listens on the node address."""
    deadline = time.monotonic() + SSHD_START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((node.address, SSH_PORT), timeout=2) as conn:
                if conn.recv(8).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.2)
    tail = log.read_text()[-2000:] if log.exists() else "(no log)"
    raise LabError(f"sshd of {node.name} did not answer on {node.address}:{SSH_PORT}: {tail}")


def sshd_pid(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> int:
    """The pid of a node's sshd listener, whose namespaces are the node's."""
    pid = read_pid(node_dir(name, state_dir) / "sshd.pid")
    if pid is None:
        raise LabError(f"{name} has no sshd pid file; is the lab up?")
    return pid


# --- up -------------------------------------------------------------------------------------------


def reset_node_layers(name: str, state_dir: Path) -> None:
    """Empties a node's upper and work dirs so each `up` starts from the host's files; refuses
    while anything is mounted there, since deleting through a mount would delete host files."""
    base = node_dir(name, state_dir)
    if mount_points_under(base):
        raise LabError(f"{base} still has mounts; run `python -m lab.nodes down` first")
    for part in ("upper", "work"):
        shutil.rmtree(base / part, ignore_errors=True)


def create_node(node: Node, state_dir: Path, authorized_keys: Path) -> dict[str, object]:
    """Builds one node end to end and returns its record for the state file."""
    reset_node_layers(node.name, state_dir)
    base = make_dir(node_dir(node.name, state_dir))
    host_key = ensure_key(base / "ssh_host_ed25519_key", f"root@{node.name}")
    create_node_network(node)
    root = mount_node_root(node, state_dir)
    prepare_node_files(node, root)
    start_sshd(node, state_dir, authorized_keys)
    return {
        "name": node.name,
        "address": node.address,
        "sshPort": SSH_PORT,
        "hostKey": host_key,
        "netns": node.netns,
        "root": str(root),
        "upper": str(base / "upper"),
    }


def write_state(state_dir: Path, client_key: Path, records: list[dict[str, object]]) -> None:
    """Records the nodes for tests and stacks: the JSON state file and a known_hosts file."""
    known_hosts = "".join(f"{rec['address']} {rec['hostKey']}\n" for rec in records)
    write_file(known_hosts_file(state_dir), known_hosts)
    state = {
        "bridge": BRIDGE,
        "hostAddress": HOST_ADDRESS,
        "clientKey": str(client_key),
        "clientPublicKey": public_key(client_key),
        "knownHosts": str(known_hosts_file(state_dir)),
        "nodes": records,
    }
    write_file(state_file(state_dir), json.dumps(state, indent=2) + "\n")


def up(count: int, state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, object]:
    """Creates `count` fresh lab nodes (removing any previous lab first) and returns the state;
    on failure removes what it built, keeping the logs in the state dir."""
    if not 1 <= count <= MAX_NODES:
        raise LabError(f"--count must be between 1 and {MAX_NODES}, not {count}")
    require_host()
    state_dir = Path(state_dir).resolve()
    down(state_dir)
    check_state_dir(state_dir)
    ensure_openssh()
    check_state_dir(make_dir(state_dir))  # again: parents made under a loose umask fail here
    client_key = client_key_path(state_dir)
    make_dir(client_key.parent, 0o700)
    authorized_keys = state_dir / "authorized_keys"
    write_file(authorized_keys, ensure_key(client_key, "kblab-client") + "\n", 0o644)
    try:
        create_bridge()
        records = [create_node(Node(i), state_dir, authorized_keys) for i in range(1, count + 1)]
        write_state(state_dir, client_key, records)
    except BaseException:
        down(state_dir)
        raise
    return load_state(state_dir)


def load_state(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, object]:
    """The state file written by `up`: bridge, client key and the nodes with their host keys."""
    return json.loads(state_file(state_dir).read_text())


# --- down -----------------------------------------------------------------------------------------


def proc_stat(pid: int) -> list[str] | None:
    """A process's /proc stat fields after its name (state first), or None once it is gone or a
    zombie, which is as good as gone since nobody may ever reap it."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields


def is_alive(pid: int) -> bool:
    """Whether a process still runs (zombies do not count)."""
    return proc_stat(pid) is not None


def send_signal(pids: Iterable[int], sig: signal.Signals) -> None:
    """Signals processes that may already be gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: Sequence[int], timeout: float) -> bool:
    """Waits until none of the processes runs; False on timeout."""
    deadline = time.monotonic() + timeout
    while any(is_alive(pid) for pid in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop_processes(list_pids: Callable[[], list[int]], what: str) -> None:
    """Stops processes (TERM, then KILL) until the listing comes back empty; re-lists because
    a dying process may have started others."""
    for _ in range(5):
        pids = [pid for pid in list_pids() if pid != os.getpid()]
        if not pids:
            return
        send_signal(pids, signal.SIGTERM)
        if not wait_gone(pids, PROCESS_STOP_TIMEOUT):
            send_signal(pids, signal.SIGKILL)
            wait_gone(pids, PROCESS_STOP_TIMEOUT)
    raise LabError(f"processes of {what} keep running: {list_pids()}")


def netns_pids(netns: str) -> list[int]:
    """Every process in a network namespace, whatever its root or parent."""
    return [int(pid) for pid in ip("netns", "pids", netns, check=False).split()]


def pids_rooted_under(path: Path) -> list[int]:
    """Processes whose root is inside the state dir (chrooted into a node), even if they left
    the node's network namespace or the namespace is gone."""
    prefix = str(path)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            root = os.readlink(entry / "root")
        except OSError:
            continue
        if root == prefix or root.startswith(prefix + "/"):
            found.append(int(entry.name))
    return found


def sshd_pids(state_dir: Path) -> list[int]:
    """The nodes' sshd listeners by their pid files, which find them even when their network
    namespace lost its name (the listener itself is not chrooted). sshd rewrites its command
    line into one string, which still names the node's config."""
    found = []
    for pid_path in state_dir.glob(f"{NETNS_PREFIX}*/sshd.pid"):
        pid = read_pid(pid_path)
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if exe == SSHD and str(pid_path.with_name("sshd_config")).encode() in cmdline:
            found.append(pid)
    return found


def unescape_mount_path(text: str) -> str:
    """Decodes the octal escapes (`\\040` for a space) of a /proc/self/mountinfo path."""
    return text.encode().decode("unicode_escape").encode("latin-1").decode()


def mount_points_under(path: Path) -> list[str]:
    """Mount points at or below a path, in mount order (parents and lower mounts first)."""
    prefix = str(path)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = unescape_mount_path(line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def unmount_under(path: Path) -> None:
    """Unmounts everything below a path, topmost first (like `umount -R`), lazily where a mount
    is still busy, and checks that nothing is left."""
    for point in reversed(mount_points_under(path)):
        if run(["umount", point], check=False).returncode != 0:
            run(["umount", "-l", point], check=False)
    left = mount_points_under(path)
    if left:
        raise LabError(f"could not unmount: {left}")


def down(state_dir: Path = DEFAULT_STATE_DIR, *, purge: bool = False) -> None:
    """Removes every lab node, leftovers of a crashed run included, in reverse order of `up`:
    processes, mounts, namespaces, interfaces. Safe to run any number of times. Keys and logs
    stay (and upper dirs, for a post-mortem) unless `purge`."""
    require_host()
    state_dir = Path(state_dir).resolve()
    for netns in lab_netns():
        stop_processes(lambda netns=netns: netns_pids(netns), netns)
    stop_processes(lambda: sshd_pids(state_dir), f"sshd of nodes in {state_dir}")
    stop_processes(lambda: pids_rooted_under(state_dir), f"chroots under {state_dir}")
    unmount_under(state_dir)
    for netns in lab_netns():
        ip("netns", "delete", netns)
    for link in lab_links():
        ip("link", "delete", link, check=False)
    state_file(state_dir).unlink(missing_ok=True)
    if purge and state_dir.exists():
        shutil.rmtree(state_dir)


# --- helpers for tests ----------------------------------------------------------------------------


def node_exec(
    name: str,
    argv: Sequence[str],
    *,
    state_dir: Path = DEFAULT_STATE_DIR,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs a command in a node the way its SSH sessions run (network, hostname, mounts, root),
    without going through ssh; returns the completed process, whatever its exit code."""
    pid = sshd_pid(name, state_dir)
    namespaces = ["nsenter", f"--target={pid}", "--net", "--uts", "--mount", "--"]
    command = [*namespaces, "chroot", str(node_root(name, state_dir)), *argv]
    env = {"PATH": SERVICE_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env)


def calls(name: str, state_dir: Path = DEFAULT_STATE_DIR) -> list[dict[str, object]]:
    """The node's stand-in calls in order, each `{"time": ..., "argv": ["systemctl", ...]}`."""
    log = in_node(node_root(name, state_dir), CALL_LOG)
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


# --- stand-ins, run inside a node -----------------------------------------------------------------


def now() -> str:
    """A UTC timestamp with milliseconds, for logs read by tests."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def log_call(argv: list[str]) -> None:
    """Appends one stand-in call to the node's call log (one JSON line; small appends are
    atomic, so concurrent sessions do not interleave)."""
    CALL_LOG.parent.mkdir(parents=True, exist_ok=True)
    with CALL_LOG.open("a") as log:
        log.write(json.dumps({"time": now(), "argv": argv}) + "\n")


class UnitError(Exception):
    """A unit cannot be used; carries systemctl's exit code for the failure."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Unit:
    """What the stand-in uses of a unit file and its drop-ins."""

    name: str
    path: Path
    description: str = ""
    exec_start: tuple[str, ...] = ()
    working_directory: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    wanted_by: tuple[str, ...] = ()


def unit_name(word: str) -> str:
    """`kubelet` -> `kubelet.service`, as systemctl completes a bare name."""
    return word if "." in word else f"{word}.service"


def unit_path(name: str) -> Path:
    """Where a unit's file lives in the node (only /etc/systemd/system is read)."""
    return UNIT_DIR / name


def is_masked(name: str) -> bool:
    """Whether the unit is masked (its file is a link to /dev/null)."""
    path = unit_path(name)
    return path.is_symlink() and os.readlink(path) == "/dev/null"


def logical_lines(text: str) -> Iterator[str]:
    """A unit file's lines with `\\` continuations joined and comments dropped, as systemd
    reads them."""
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line[:1] in ("#", ";") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        yield " ".join([*pending, line]).strip()
        pending = []
    if pending:
        yield " ".join(pending)


def unit_entries(text: str) -> Iterator[tuple[str, str, str]]:
    """(section, key, value) for each setting of a unit file, in file order."""
    section = ""
    for line in logical_lines(text):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line:
            key, value = line.split("=", 1)
            yield section, key.strip(), value.strip()


def parse_environment(value: str) -> dict[str, str]:
    """`Environment="A=1" B=2` as a dict."""
    pairs = (word.split("=", 1) for word in shlex.split(value) if "=" in word)
    return dict(pairs)


def load_unit(name: str) -> Unit:
    """Reads a unit file and its drop-ins (`<unit>.d/*.conf`) in systemd's order; an empty
    `ExecStart=` resets the command, as kubeadm's drop-in relies on."""
    path = unit_path(name)
    if is_masked(name):
        raise UnitError(f"Unit {name} is masked.", 1)
    if not path.is_file():
        raise UnitError(f"Unit {name} not found.", 5)
    files = [path, *sorted((UNIT_DIR / f"{name}.d").glob("*.conf"))]
    description, command, workdir = "", "", None
    environment: dict[str, str] = {}
    wanted_by: list[str] = []
    for section, key, value in (
        entry for file in files for entry in unit_entries(file.read_text())
    ):
        match (section, key):
            case ("Unit", "Description"):
                description = value
            case ("Service", "ExecStart"):
                command = value
            case ("Service", "WorkingDirectory"):
                workdir = value.lstrip("-") or None
            case ("Service", "Environment"):
                environment.update(parse_environment(value))
            case ("Install", "WantedBy"):
                wanted_by += value.split()
    exec_start = tuple(shlex.split(command.lstrip("-@:+!")))
    return Unit(name, path, description, exec_start, workdir, environment, tuple(wanted_by))


def pid_file(name: str) -> Path:
    """Where the stand-in keeps a running unit's main pid and start time (in the node's /run)."""
    return SERVICE_RUN_DIR / f"{name}.pid"


def unit_log(name: str) -> Path:
    """The unit's output, which `journalctl -u` shows."""
    return UNIT_LOG_DIR / f"{name}.log"


def append_unit_log(name: str, message: str) -> None:
    """Adds a line of the stand-in's own to the unit's log, as systemd's journal would."""
    UNIT_LOG_DIR.mkdir(parents=True, exist_ok=True)
    with unit_log(name).open("a") as log:
        log.write(f"{now()} lab-systemd: {name}: {message}\n")


def main_pid(name: str) -> int | None:
    """The unit's main pid if that very process (same start time) still runs."""
    try:
        pid_text, started = pid_file(name).read_text().split()
    except (OSError, ValueError):
        return None
    fields = proc_stat(int(pid_text))
    return int(pid_text) if fields is not None and fields[19] == started else None


def service_environment(unit: Unit) -> dict[str, str]:
    """A service's environment as systemd gives it: a fixed PATH, not the SSH session's."""
    return {"PATH": SERVICE_PATH, "LANG": "C.UTF-8", **unit.environment}


def spawn_service(unit: Unit) -> None:
    """Starts the unit's ExecStart detached (own session, so it outlives the SSH session), its
    output appended to the unit's log and its pid recorded. A failure to exec is logged, not
    returned, as systemd does for a Type=simple service."""
    workdir = unit.working_directory or "/"
    if not Path(workdir).is_dir():
        append_unit_log(
            unit.name,
            f"Changing to the requested working directory failed: "
            f"{workdir}: No such file or directory (status=200/CHDIR)",
        )
        return
    append_unit_log(unit.name, f"Starting: {shlex.join(unit.exec_start)}")
    with unit_log(unit.name).open("ab") as log:
        try:
            process = subprocess.Popen(
                unit.exec_start,
                cwd=workdir,
                env=service_environment(unit),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            append_unit_log(unit.name, f"Failed to execute: {error} (status=203/EXEC)")
            return
    fields = proc_stat(process.pid)
    SERVICE_RUN_DIR.mkdir(parents=True, exist_ok=True)
    pid_file(unit.name).write_text(f"{process.pid} {fields[19] if fields else 0}\n")


def start_unit(name: str) -> None:
    """`systemctl start`: does nothing when the unit already runs."""
    unit = load_unit(name)
    if not unit.exec_start:
        raise UnitError(f"Unit {name} has a bad unit file setting (no ExecStart=).", 1)
    if main_pid(name) is None:
        spawn_service(unit)


def process_group(pgid: int) -> list[int]:
    """The live processes of a process group (a service and everything it started)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields is not None and fields[2] == str(pgid):
                members.append(int(entry.name))
    return members


def stop_unit(name: str) -> None:
    """`systemctl stop`: TERM to the service's process group, KILL after a timeout, and waits
    until the group is gone."""
    pid = main_pid(name)
    if pid is not None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            if wait_gone(process_group(pid), PROCESS_STOP_TIMEOUT):
                break
        append_unit_log(name, "Stopped.")
    pid_file(name).unlink(missing_ok=True)


def enable_unit(name: str) -> None:
    """`systemctl enable`: links the unit into each WantedBy target, like systemd."""
    unit = load_unit(name)
    if not unit.wanted_by:
        print(
            f"The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\n"
            f"Alias= settings in the [Install] section) for {name}.",
            file=sys.stderr,
        )
    for target in unit.wanted_by:
        link = UNIT_DIR / f"{target}.wants" / name
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(unit.path)
            print(f"Created symlink {link} → {unit.path}.", file=sys.stderr)


def wants_links(name: str) -> list[Path]:
    """The `<target>.wants/<unit>` links that enable a unit."""
    return sorted(UNIT_DIR.glob(f"*.wants/{name}"))


def disable_unit(name: str) -> None:
    """`systemctl disable`: removes the unit's WantedBy links."""
    links = wants_links(name)
    if not links and not unit_path(name).exists():
        raise UnitError(f"Unit file {name} does not exist.", 1)
    for link in links:
        link.unlink()
        print(f"Removed {link}.", file=sys.stderr)


def mask_unit(name: str) -> None:
    """`systemctl mask`: links the unit to /dev/null, refusing over a real unit file."""
    path = unit_path(name)
    if is_masked(name):
        return
    if path.exists() or path.is_symlink():
        raise UnitError(f"File {path} already exists.", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/null")
    print(f"Created symlink {path} → /dev/null.", file=sys.stderr)


def unmask_unit(name: str) -> None:
    """`systemctl unmask`: removes the /dev/null link."""
    if is_masked(name):
        unit_path(name).unlink()
        print(f"Removed {unit_path(name)}.", file=sys.stderr)


def unit_file_state(name: str) -> str:
    """enabled, disabled, static or masked, as `systemctl is-enabled` prints it."""
    if is_masked(name):
        return "masked"
    if wants_links(name):
        return "enabled"
    return "disabled" if load_unit(name).wanted_by else "static"


@dataclass
class Invocation:
    """A parsed systemctl command line."""

    verb: str
    words: list[str]
    flags: set[str]
    types: list[str]

    @property
    def units(self) -> list[str]:
        return [unit_name(word) for word in self.words]


class UsageError(Exception):
    """A command line the stand-in does not understand; it says so rather than guess."""


SYSTEMCTL_FLAGS = {
    "--now",
    "--no-pager",
    "--quiet",
    "-q",
    "--no-legend",
    "--plain",
    "--system",
    "--no-block",
    "--full",
    "-l",
    "--no-reload",
    "--no-ask-password",
}


def parse_systemctl(args: list[str]) -> Invocation:
    """Splits a systemctl command line into verb, unit words, flags and `--type` values."""
    words: list[str] = []
    flags: set[str] = set()
    types: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg.startswith("--type="):
            types += arg.split("=", 1)[1].split(",")
        elif arg in ("--type", "-t"):
            types += next(rest, "").split(",")
        elif arg in SYSTEMCTL_FLAGS:
            flags.add(arg)
        elif arg.startswith("-"):
            raise UsageError(f"unrecognized option '{arg}' (lab stand-in)")
        else:
            words.append(arg)
    if not words:
        raise UsageError("no command given (lab stand-in)")
    return Invocation(verb=words[0], words=words[1:], flags=flags, types=types)


def for_each_unit(action: Callable[[str], None], verb: str) -> Callable[[Invocation], int]:
    """A systemctl verb that applies an action to each named unit, reporting failures the way
    systemctl does (`Failed to <verb> <unit>: <reason>`) with its exit code."""

    def handler(invocation: Invocation) -> int:
        if not invocation.units:
            raise UsageError(f"too few arguments for {verb}")
        code = 0
        for name in invocation.units:
            try:
                action(name)
            except UnitError as error:
                print(f"Failed to {verb} {name}: {error}", file=sys.stderr)
                code = error.code
        return code

    return handler


def restart_unit(name: str) -> None:
    """`systemctl restart`: stop (if running), then start."""
    load_unit(name)
    stop_unit(name)
    start_unit(name)


def systemctl_enable(invocation: Invocation) -> int:
    """`systemctl enable [--now]`."""
    code = for_each_unit(enable_unit, "enable")(invocation)
    if code == 0 and "--now" in invocation.flags:
        code = for_each_unit(start_unit, "start")(invocation)
    return code


def systemctl_disable(invocation: Invocation) -> int:
    """`systemctl disable [--now]`."""
    code = for_each_unit(disable_unit, "disable")(invocation)
    if "--now" in invocation.flags:
        code = for_each_unit(stop_unit, "stop")(invocation) or code
    return code


def systemctl_is_active(invocation: Invocation) -> int:
    """`systemctl is-active`: 0 when every unit runs, 3 otherwise."""
    states = ["active" if main_pid(name) else "inactive" for name in invocation.units]
    if "--quiet" not in invocation.flags and "-q" not in invocation.flags:
        print("\n".join(states))
    return 0 if states and all(state == "active" for state in states) else 3


def systemctl_is_enabled(invocation: Invocation) -> int:
    """`systemctl is-enabled`: 0 for enabled or static units."""
    code = 0
    for name in invocation.units:
        try:
            state = unit_file_state(name)
        except UnitError:
            print(f"Failed to get unit file state for {name}: No such file or directory")
            code = 1
            continue
        print(state)
        code = code or (0 if state in ("enabled", "static") else 1)
    return code


def systemctl_status(invocation: Invocation) -> int:
    """`systemctl status`: a short summary and the last log lines; 3 if not running, 4 if the
    unit does not exist."""
    code = 0
    for name in invocation.units:
        try:
            unit = load_unit(name)
        except UnitError:
            print(f"Unit {name} could not be found.", file=sys.stderr)
            code = 4
            continue
        pid = main_pid(name)
        print(f"● {name} - {unit.description or name}")
        print(f"     Loaded: loaded ({unit.path}; {unit_file_state(name)})")
        print(f"     Active: {'active (running)' if pid else 'inactive (dead)'}")
        if pid:
            print(f"   Main PID: {pid}")
        print("", *tail_lines(unit_log(name), 10), sep="\n")
        code = code or (0 if pid else 3)
    return code


def systemctl_list_unit_files(invocation: Invocation) -> int:
    """`systemctl list-unit-files [--type=T] [--no-legend]`: the node's unit files and their
    state; lab nodes have no swap units, so `--type=swap` lists nothing."""
    types = invocation.types or list(UNIT_TYPES)
    names = sorted(
        path.name
        for path in (UNIT_DIR.iterdir() if UNIT_DIR.is_dir() else [])
        if not path.is_dir() and path.suffix[1:] in types
    )
    rows = [f"{name} {unit_file_state(name)}" for name in names]
    if "--no-legend" not in invocation.flags:
        rows = ["UNIT FILE STATE", *rows, "", f"{len(rows)} unit files listed."]
    if rows:
        print(*rows, sep="\n")
    return 0


SYSTEMCTL_VERBS: dict[str, Callable[[Invocation], int]] = {
    "daemon-reload": lambda invocation: 0,
    "start": for_each_unit(start_unit, "start"),
    "stop": for_each_unit(stop_unit, "stop"),
    "restart": for_each_unit(restart_unit, "restart"),
    "enable": systemctl_enable,
    "disable": systemctl_disable,
    "mask": for_each_unit(mask_unit, "mask"),
    "unmask": for_each_unit(unmask_unit, "unmask"),
    "is-active": systemctl_is_active,
    "is-enabled": systemctl_is_enabled,
    "status": systemctl_status,
    "list-unit-files": systemctl_list_unit_files,
}


def systemctl(args: list[str]) -> int:
    """The node's systemctl: the verbs the program and the lab use, on the node's own units."""
    try:
        invocation = parse_systemctl(args)
        handler = SYSTEMCTL_VERBS.get(invocation.verb)
        if handler is None:
            raise UsageError(f"unknown command '{invocation.verb}' (lab stand-in)")
        return handler(invocation)
    except UsageError as error:
        print(f"systemctl: {error}", file=sys.stderr)
        return 1


def tail_lines(path: Path, count: int | None) -> list[str]:
    """The last lines of a log file (all when count is None); none if it does not exist."""
    if not path.exists():
        return []
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    return lines if count is None else lines[-count:] if count > 0 else []


def parse_journalctl(args: list[str]) -> tuple[list[str], int | None]:
    """The units (`-u`) and line count (`-n`) of a journalctl command line."""
    parser = argparse.ArgumentParser(prog="journalctl", add_help=False, exit_on_error=False)
    parser.add_argument("-u", "--unit", action="append", default=[])
    parser.add_argument("-n", "--lines", type=int)
    for flag in ("--no-pager", "-q", "--quiet", "-b", "--boot", "--no-hostname"):
        parser.add_argument(flag, action="store_true")
    options, unknown = parser.parse_known_args(args)
    if unknown:
        raise UsageError(f"unsupported arguments {unknown} (lab stand-in)")
    return [unit_name(unit) for unit in options.unit], options.lines


def journalctl(args: list[str]) -> int:
    """The node's journalctl: `-u <unit> [-n N]` prints the tail of the unit's output."""
    try:
        units, count = parse_journalctl(args)
    except (UsageError, argparse.ArgumentError) as error:
        print(f"journalctl: {error}", file=sys.stderr)
        return 1
    lines = [line for name in units for line in tail_lines(unit_log(name), count)]
    print("\n".join(lines) if lines else "-- No entries --")
    return 0


def swapoff(args: list[str]) -> int:
    """The node's swapoff: a logged no-op, because the real one would act on the host's swap."""
    return 0


def swapon(args: list[str]) -> int:
    """The node's swapon: `--show` lists nothing (lab nodes have no swap); enabling is refused
    harmlessly, for the same reason as swapoff."""
    if not any(arg in ("--show", "-s", "--summary") or arg.startswith("--show=") for arg in args):
        print("swapon: lab nodes have no swap (lab stand-in)", file=sys.stderr)
    return 0


STAND_INS: dict[str, Callable[[list[str]], int]] = {
    "systemctl": systemctl,
    "journalctl": journalctl,
    "swapoff": swapoff,
    "swapon": swapon,
}


# --- command line ---------------------------------------------------------------------------------


def print_nodes(state: dict[str, object], state_dir: Path) -> None:
    """Prints what a user needs to reach the nodes."""
    print(f"state: {state_file(state_dir)}")
    print(f"client key: {state['clientKey']}  known hosts: {state['knownHosts']}")
    for node in state["nodes"]:  # type: ignore[attr-defined]
        print(f"{node['name']} {node['address']}:{node['sshPort']} {node['hostKey']}")


def cli(args: list[str]) -> int:
    """`python -m lab.nodes up --count N [--state-dir DIR]` / `down [--state-dir DIR] [--purge]`."""
    parser = argparse.ArgumentParser(prog="python -m lab.nodes", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="create fresh lab nodes (removing old ones)")
    up_parser.add_argument("--count", type=int, default=3)
    down_parser = commands.add_parser("down", help="remove the lab nodes, leftovers included")
    down_parser.add_argument("--purge", action="store_true", help="also delete the state dir")
    for sub in (up_parser, down_parser):
        sub.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    options = parser.parse_args(args)
    try:
        if options.command == "up":
            print_nodes(up(options.count, options.state_dir), options.state_dir)
        else:
            down(options.state_dir, purge=options.purge)
    except LabError as error:
        print(f"lab nodes: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatches on the name this file runs under: a stand-in inside a node, else the CLI."""
    argv = sys.argv if argv is None else argv
    command = Path(argv[0]).name
    stand_in = STAND_INS.get(command)
    if stand_in is None:
        return cli(argv[1:])
    log_call([command, *argv[1:]])
    return stand_in(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
